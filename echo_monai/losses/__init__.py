"""Losses: focal Tversky built on MONAI TverskyLoss."""

from echo_monai.losses.focal_tversky import FocalTverskyLoss

__all__ = ["FocalTverskyLoss"]
