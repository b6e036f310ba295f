"""Wall centre line: ordered septal base -> apex -> lateral base, and robust to holes and spurs."""

from __future__ import annotations

import numpy as np
import pytest

from echo_monai.errors import EchoDataError
from echo_monai.regional import clean_wall_mask, wall_centerline

SPACING = (0.6, 0.5)


def test_ordered_from_septal_base_through_apex(phantom) -> None:
    mask, _ = phantom(spacing_mm=SPACING)
    cl = wall_centerline(mask, SPACING)
    px = cl.points_px
    rows, cols = np.nonzero(mask)
    # Starts at the bottom-left (septal) end, ends at the bottom-right (lateral) end.
    assert px[0, 1] < cols.mean() < px[-1, 1]
    assert px[0, 0] > rows.max() - 10 and px[-1, 0] > rows.max() - 10
    # The apex is the top of the U, in the middle, and near half the arc length.
    apex = px[cl.apex_index]
    assert apex[0] < rows.min() + 10 and abs(apex[1] - cols.mean()) < 3
    assert abs(cl.arc_mm[cl.apex_index] / cl.length_mm - 0.5) < 0.03
    assert np.all(np.diff(cl.arc_mm) > 0)
    # Length of the true centre line (offset T/2 from the bullet): 2 * 40 + pi * (18 + 4) mm, less the
    # bits inside the basal caps that are trimmed.
    assert cl.length_mm == pytest.approx(2 * 40 + np.pi * 22, rel=0.04)
    # Normals point into the cavity: from the septum (left) to the right, at the apex downward.
    assert cl.normals[len(px) // 6, 1] > 0.9
    assert cl.normals[cl.apex_index, 0] > 0.9


def test_medial_position(phantom) -> None:
    mask, _ = phantom(spacing_mm=(0.5, 0.5), thickness_mm=8.0)
    cl = wall_centerline(mask, (0.5, 0.5))
    # The bullet is centred at column 28 mm with radius 18; the centre line of the septum lies T/2 = 4 mm
    # outside it, at 28 - 22 = 6 mm.
    septum = cl.points_mm[(cl.points_mm[:, 0] > 40) & (cl.points_mm[:, 1] < 28)]
    assert np.median(septum[:, 1]) == pytest.approx(6.0, abs=0.3)


def test_mirrored_display(phantom) -> None:
    mask, _ = phantom(spacing_mm=SPACING)
    left = wall_centerline(mask, SPACING)
    right = wall_centerline(mask, SPACING, septum_side="right")
    assert right.points_px[0, 1] > right.points_px[-1, 1]
    assert np.allclose(left.points_mm[::-1], right.points_mm, atol=0.5)


def test_robust_to_holes_and_spurs(phantom) -> None:
    mask, _ = phantom(spacing_mm=SPACING)
    clean = wall_centerline(mask, SPACING)
    damaged = mask.copy()
    rows, cols = np.nonzero(mask)
    rng = np.random.default_rng(0)
    for i in rng.choice(rows.size, 12, replace=False):  # pin holes inside the wall
        damaged[rows[i], cols[i]] = 0
    damaged[60:64, 10:12] = 0  # a 4x2 hole in the septum
    damaged[30, 85:105] = 1  # a thin spur sticking out of the lateral wall
    damaged[5:8, 5:8] = 1  # a speck away from the wall
    cl = wall_centerline(damaged, SPACING)
    assert cl.length_mm == pytest.approx(clean.length_mm, rel=0.03)
    assert np.linalg.norm(cl.points_mm[cl.apex_index] - clean.points_mm[clean.apex_index]) < 1.5
    assert np.linalg.norm(cl.points_mm[0] - clean.points_mm[0]) < 1.5
    assert np.linalg.norm(cl.points_mm[-1] - clean.points_mm[-1]) < 1.5
    filled = clean_wall_mask(damaged)
    assert filled[61, 10] and not filled[6, 6]


def test_bad_masks() -> None:
    with pytest.raises(EchoDataError, match="empty"):
        wall_centerline(np.zeros((32, 32), np.uint8))
    with pytest.raises(EchoDataError, match="spacing"):
        wall_centerline(np.ones((32, 32), np.uint8), spacing_mm=(0.0, 1.0))
    with pytest.raises(EchoDataError, match="too small"):
        wall_centerline(np.pad(np.ones((2, 2)), 5))


def test_broken_wall_joined_apex_up(phantom) -> None:
    mask, _ = phantom(spacing_mm=SPACING)
    rows = np.nonzero(mask)[0]
    # Remove the apical cap (as when the apex leaves the sector): two parallel arms, whose basal ends
    # are as close to each other as their apical ends.
    cut = mask.copy()
    cut[: rows.min() + 25] = 0
    cl = wall_centerline(cut, SPACING)
    px = cl.points_px
    assert px[0, 0] > rows.max() - 10 and px[-1, 0] > rows.max() - 10  # both ends at the base
    assert px[cl.apex_index, 0] < rows.min() + 30  # the apex at the top, by the gap
    bridged = px[~cl.in_wall]
    assert bridged.size and bridged[:, 0].max() < rows.min() + 30  # only the missing cap is bridged
    # A drop-out in one wall: the piece below the gap still belongs to the same wall.
    gap = mask.copy()
    gap[60:75, mask.shape[1] // 2 :] = 0
    assert wall_centerline(gap, SPACING).length_mm == pytest.approx(
        wall_centerline(mask, SPACING).length_mm, rel=0.03
    )
