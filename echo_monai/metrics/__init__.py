"""Segmentation metrics (Dice, IoU, confusion-matrix rates, HD95 in mm) per frame and per clip."""

from echo_monai.metrics.segmentation import METRIC_NAMES, clip_metrics, frame_metrics

__all__ = ["METRIC_NAMES", "clip_metrics", "frame_metrics"]
