"""Losses: focal Tversky built on MONAI TverskyLoss."""
