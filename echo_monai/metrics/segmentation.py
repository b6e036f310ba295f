"""Segmentation metrics for LV wall masks, per frame and per clip, built on MONAI's metrics.

Masks are (T, H, W) binary arrays (one clip; a single frame may be given as (H, W)). Per-frame values
come straight from MONAI (``DiceMetric``, ``MeanIoU``, ``ConfusionMatrixMetric``,
``HausdorffDistanceMetric(percentile=95)`` with the pixel spacing). Per clip:

- ``dice``, ``iou``, ``hd95_mm``: mean of the per-frame values (the usual way segmentation papers report
  them); ``hd95_mm`` over the frames where both masks are non-empty.
- ``accuracy``, ``precision``, ``sensitivity`` (recall), ``specificity``, ``f1``: from the confusion
  matrix pooled over every pixel of the clip, as HMC-QU reports wall segmentation (pooled F1 equals the
  pooled Dice).

Conventions: a frame where both masks are empty has Dice and IoU 1; ratios with a zero denominator
(precision with an empty prediction, for example) are NaN; HD95 is NaN when either mask is empty.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
from monai.metrics import ConfusionMatrixMetric, DiceMetric, HausdorffDistanceMetric, MeanIoU

from echo_monai.errors import EchoDataError

__all__ = ["METRIC_NAMES", "clip_metrics", "frame_metrics"]

METRIC_NAMES = ("dice", "iou", "accuracy", "precision", "sensitivity", "specificity", "f1", "hd95_mm")
# Our names -> ConfusionMatrixMetric's names.
_CM_NAMES = {
    "accuracy": "accuracy",
    "precision": "precision",
    "sensitivity": "sensitivity",
    "specificity": "specificity",
    "f1": "f1 score",
}


def _as_batch(pred: np.ndarray | torch.Tensor, label: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(T, H, W) or (H, W) masks -> two float64 tensors (T, 1, H, W) of 0/1."""
    p = torch.as_tensor(np.asarray(pred) if not isinstance(pred, torch.Tensor) else pred)
    y = torch.as_tensor(np.asarray(label) if not isinstance(label, torch.Tensor) else label)
    if p.shape != y.shape:
        raise EchoDataError(
            None, f"prediction shape {tuple(p.shape)} differs from label shape {tuple(y.shape)}"
        )
    if p.dim() == 2:
        p, y = p[None], y[None]
    if p.dim() != 3 or p.shape[0] == 0:
        raise EchoDataError(None, f"masks must be (T, H, W) or (H, W), got shape {tuple(p.shape)}")
    return (p > 0).double()[:, None], (y > 0).double()[:, None]


def _spacing(spacing_mm: float | Sequence[float] | None) -> list[float]:
    if spacing_mm is None:
        return [1.0, 1.0]
    s = [float(spacing_mm)] * 2 if np.isscalar(spacing_mm) else [float(v) for v in spacing_mm]
    if len(s) != 2 or not all(np.isfinite(v) and v > 0 for v in s):
        raise EchoDataError(None, f"pixel spacing must be one or two positive numbers (mm), got {spacing_mm}")
    return s


def _hd95(p: torch.Tensor, y: torch.Tensor, spacing: list[float]) -> np.ndarray:
    out = np.full(p.shape[0], np.nan)
    both = (p.flatten(1).amax(1) > 0) & (y.flatten(1).amax(1) > 0)
    if both.any():
        # Only frames with two non-empty masks: MONAI would warn and return inf/nan for the others.
        hd = HausdorffDistanceMetric(include_background=True, percentile=95, reduction="none")
        with warnings.catch_warnings():
            # MONAI 1.6 warns about its own internal use of a deprecated argument of get_mask_edges.
            warnings.filterwarnings("ignore", message=".*always_return_as_numpy.*", category=FutureWarning)
            out[both.numpy()] = hd(p[both], y[both], spacing=spacing).flatten().double().numpy()
    return out


def frame_metrics(
    pred: np.ndarray | torch.Tensor,
    label: np.ndarray | torch.Tensor,
    spacing_mm: float | Sequence[float] | None = None,
) -> dict[str, np.ndarray]:
    """Every metric of :data:`METRIC_NAMES` for each frame.

    Args:
        pred, label: (T, H, W) or (H, W) masks; non-zero is foreground (the wall).
        spacing_mm: (row, column) pixel size in mm, or one number; ``None`` gives HD95 in pixels.

    Returns:
        name -> float64 array of shape (T,).
    """
    p, y = _as_batch(pred, label)
    out: dict[str, np.ndarray] = {}
    out["dice"] = DiceMetric(include_background=True, reduction="none", ignore_empty=False)(p, y)
    out["iou"] = MeanIoU(include_background=True, reduction="none", ignore_empty=False)(p, y)
    cm = ConfusionMatrixMetric(
        include_background=True, metric_name=list(_CM_NAMES.values()), compute_sample=True, reduction="none"
    )
    cm(p, y)
    for name, value in zip(_CM_NAMES, cm.aggregate()):
        out[name] = value
    result = {k: torch.as_tensor(v).flatten().double().numpy() for k, v in out.items()}
    result["hd95_mm"] = _hd95(p, y, _spacing(spacing_mm))
    return {k: result[k] for k in METRIC_NAMES}


def clip_metrics(
    pred: np.ndarray | torch.Tensor,
    label: np.ndarray | torch.Tensor,
    spacing_mm: float | Sequence[float] | None = None,
) -> dict[str, float]:
    """All metrics for one clip (see the module docstring for how frames are combined).

    Args:
        pred, label: (T, H, W) masks; non-zero is the wall.
        spacing_mm: (row, column) pixel size in mm, or one number.

    Returns:
        name -> float, for every name in :data:`METRIC_NAMES`.
    """
    per_frame = frame_metrics(pred, label, spacing_mm)
    p, y = _as_batch(pred, label)
    cm = ConfusionMatrixMetric(
        include_background=True, metric_name=list(_CM_NAMES.values()), compute_sample=False, reduction="sum"
    )
    cm(p, y)
    pooled = {name: float(v) for name, v in zip(_CM_NAMES, cm.aggregate())}
    hd = per_frame["hd95_mm"]
    return {
        "dice": float(per_frame["dice"].mean()),
        "iou": float(per_frame["iou"].mean()),
        **pooled,
        "hd95_mm": float(np.nanmean(hd)) if np.isfinite(hd).any() else float("nan"),
    }
