"""The six A4C wall segments of HMC-QU (AHA 3, 9, 14 | 16, 12, 6) from the wall centre line.

Each half of the centre line (septal basal end -> apex, apex -> lateral basal end) is cut into thirds by
arc length: basal, mid, apical. The apex, the point of the centre line farthest from the midpoint of
the two basal ends (the far end of the LV long axis), is the boundary shared by the two apical
segments. Every wall pixel takes the
segment of its nearest centre-line point.
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


def centerline_segments(centerline: WallCenterline) -> np.ndarray:
    """Segment label (1..6) of every centre-line point, shape (N,) uint8."""
    arc = centerline.arc_mm
    apex = arc[centerline.apex_index]
    labels = np.empty(arc.size, dtype=np.uint8)
    septal = arc <= apex
    # Thirds of each half; clip so the end points fall in the basal / apical thirds.
    f_sep = np.clip(arc / max(apex, 1e-9), 0, 1)
    f_lat = np.clip((arc[-1] - arc) / max(arc[-1] - apex, 1e-9), 0, 1)
    third_sep = np.minimum((f_sep * 3).astype(int), 2)  # 0 basal, 1 mid, 2 apical
    third_lat = np.minimum((f_lat * 3).astype(int), 2)
    labels[septal] = 1 + third_sep[septal]
    labels[~septal] = 6 - third_lat[~septal]
    return labels


def split_wall_segments(
    mask: np.ndarray,
    spacing_mm: tuple[float, float] | float = (1.0, 1.0),
    centerline: WallCenterline | None = None,
    septum_side: str = "left",
) -> np.ndarray:
    """Label the wall pixels of an A4C frame by segment.

    Args:
        mask: (H, W) wall mask, non-zero = wall.
        spacing_mm: (row, column) pixel size in mm.
        centerline: reuse one already computed for this mask.
        septum_side: see :func:`wall_centerline`.

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
    out[rows, cols] = centerline_segments(centerline)[nearest]
    return out
