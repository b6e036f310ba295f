"""The six A4C wall segments of HMC-QU (AHA 3, 9, 14 | 16, 12, 6) from the wall centre line.

The apex, the point of the centre line farthest from the midpoint of the two basal ends (the far end of
the LV long axis), is the boundary shared by the two apical segments. Each half of the centre line
(septal basal end -> apex, apex -> lateral basal end) is cut into basal, mid and apical thirds, either

- ``"long_axis"`` (default): thirds of the LV long axis (base midpoint -> apex), the AHA way of cutting
  the LV by planes perpendicular to its long axis; the apical segments are then longer along the
  curved wall than the others; or
- ``"arc_length"``: thirds of the half's length along the wall.

Every wall pixel takes the segment of its nearest centre-line point.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from echo_monai.regional.centerline import WallCenterline, clean_wall_mask, wall_centerline

__all__ = ["AHA_SEGMENTS", "SEGMENT_NAMES", "centerline_segments", "split_wall_segments"]

#: Label 1..6, in HMC-QU's order: septal base -> apex -> lateral base.
SEGMENT_NAMES = (
    "basal inferoseptal",
    "mid inferoseptal",
    "apical septal",
    "apical lateral",
    "mid anterolateral",
    "basal anterolateral",
)
#: AHA 17-segment numbers of labels 1..6.
AHA_SEGMENTS = (3, 9, 14, 16, 12, 6)


def centerline_segments(
    centerline: WallCenterline, method: str = "long_axis", level_edges: tuple[float, float] = (1 / 3, 2 / 3)
) -> np.ndarray:
    """Segment label (1..6) of every centre-line point, shape (N,) uint8.

    Args:
        centerline: the wall centre line.
        method: ``"arc_length"`` or ``"long_axis"`` (see the module docstring).
        level_edges: basal/mid and mid/apical boundaries as fractions from the base (0) to the apex (1).
    """
    if method not in ("arc_length", "long_axis"):
        raise ValueError(f"method must be 'arc_length' or 'long_axis', got {method!r}")
    lo, hi = level_edges
    if not 0.0 < lo < hi < 1.0:
        raise ValueError(f"level_edges must satisfy 0 < basal/mid < mid/apical < 1, got {level_edges}")
    arc, apex_i = centerline.arc_mm, centerline.apex_index
    septal = np.arange(arc.size) <= apex_i
    if method == "arc_length":
        apex = arc[apex_i]
        # Fraction of the way from the base to the apex along each half.
        frac = np.where(septal, arc / max(apex, 1e-9), (arc[-1] - arc) / max(arc[-1] - apex, 1e-9))
    else:
        pts = centerline.points_mm
        base_mid = 0.5 * (pts[0] + pts[-1])
        axis = pts[apex_i] - base_mid
        frac = (pts - base_mid) @ axis / max(float(axis @ axis), 1e-9)
    level = np.searchsorted(np.asarray(level_edges), np.clip(frac, 0.0, 1.0), side="right")  # 0 basal .. 2
    return np.where(septal, 1 + level, 6 - level).astype(np.uint8)


def split_wall_segments(
    mask: np.ndarray,
    spacing_mm: tuple[float, float] | float = (1.0, 1.0),
    centerline: WallCenterline | None = None,
    septum_side: str = "left",
    method: str = "long_axis",
) -> np.ndarray:
    """Label the wall pixels of an A4C frame by segment.

    Args:
        mask: (H, W) wall mask, non-zero = wall.
        spacing_mm: (row, column) pixel size in mm.
        centerline: reuse one already computed for this mask.
        septum_side: see :func:`wall_centerline`.
        method: ``"arc_length"`` or ``"long_axis"`` (see the module docstring).

    Returns:
        (H, W) uint8: 0 outside the (cleaned) wall, 1..6 the segments in :data:`SEGMENT_NAMES` order.
    """
    if centerline is None:
        centerline = wall_centerline(mask, spacing_mm, septum_side=septum_side)
    wall = clean_wall_mask(mask)
    rows, cols = np.nonzero(wall)
    pix_mm = np.stack([rows, cols], axis=1) * np.asarray(centerline.spacing_mm)
    _, nearest = cKDTree(centerline.points_mm).query(pix_mm)
    out = np.zeros(wall.shape, dtype=np.uint8)
    out[rows, cols] = centerline_segments(centerline, method)[nearest]
    return out
