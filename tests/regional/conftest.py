"""A4C wall phantom with exactly known geometry, for the regional-analysis tests.

The LV cavity is a bullet: a half-disc of radius R (the apex, at the top) on a rectangle of width 2R
reaching down to the base row. The wall is the band 0 < signed distance <= T outside the cavity, cut at
the base row: an inverted U. Because the cavity is convex, moving the endocardium inward by d along its
normal is the band -d < sd <= T' - d. Each segment (sixth of the centre line by arc length, septal base
first) gets its own d and T', so the true per-segment motion is known exactly.
"""

from __future__ import annotations

import numpy as np
import pytest


def a4c_wall_phantom(
    size: tuple[int, int] = (128, 112),
    radius_mm: float = 18.0,
    length_mm: float = 40.0,
    thickness_mm: float = 8.0,
    inward_mm: tuple[float, ...] = (0.0,) * 6,
    thickness_es_mm: tuple[float, ...] | None = None,
    spacing_mm: tuple[float, float] = (0.6, 0.5),
    apex_row_mm: float = 10.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Wall mask and true segment labels (H, W) for one frame.

    ``inward_mm[k]`` moves segment k+1's endocardium inward by that much; ``thickness_es_mm[k]`` is its
    wall thickness in that frame (default: ``thickness_mm``).
    """
    thick = np.full(6, thickness_mm) if thickness_es_mm is None else np.asarray(thickness_es_mm, float)
    d_in = np.asarray(inward_mm, float)
    h, w = size
    rr, cc = np.meshgrid(np.arange(h) * spacing_mm[0], np.arange(w) * spacing_mm[1], indexing="ij")
    c0 = 0.5 * w * spacing_mm[1]
    rc = apex_row_mm + thickness_mm + radius_mm  # centre of the apical half-disc, mm
    base = rc + length_mm
    dx, dy = cc - c0, rr - rc
    upper = dy < 0
    sd = np.where(upper, np.hypot(dx, dy) - radius_mm, np.abs(dx) - radius_mm)
    # Arc position along the ED centre line (offset T/2), septal (left) base = 0.
    rm = radius_mm + thickness_mm / 2
    theta = np.arctan2(-dy, dx)  # 0 right, pi/2 up, pi left
    s = np.where(
        upper,
        length_mm + (np.pi - np.clip(theta, 0, np.pi)) * rm,
        np.where(dx < 0, base - rr, length_mm + np.pi * rm + (rr - rc)),
    )
    total = 2 * length_mm + np.pi * rm
    seg = np.clip((s / total * 6).astype(int), 0, 5)
    wall = (sd > -d_in[seg]) & (sd <= thick[seg] - d_in[seg]) & (rr <= base)
    return wall.astype(np.uint8), np.where(wall, seg + 1, 0).astype(np.uint8)


@pytest.fixture()
def phantom():
    return a4c_wall_phantom
