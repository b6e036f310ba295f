"""The six segments partition the wall and match the phantom's arc-length split."""

from __future__ import annotations

import numpy as np
import pytest

from echo_monai.regional import AHA_SEGMENTS, SEGMENT_NAMES, clean_wall_mask, split_wall_segments

SPACING = (0.6, 0.5)


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


def test_partition_and_agreement(phantom) -> None:
    mask, truth = phantom(spacing_mm=SPACING)  # truth: sixths of the centre line by arc length
    seg = split_wall_segments(mask, SPACING, method="arc_length")
    assert seg.dtype == np.uint8
    assert np.array_equal(seg > 0, clean_wall_mask(mask))  # every wall pixel labelled, nothing else
    assert set(np.unique(seg)) == {0, 1, 2, 3, 4, 5, 6}
    for k in range(1, 7):
        assert _dice(seg == k, truth == k) > 0.95, SEGMENT_NAMES[k - 1]
    # Order: septal segments on the left, basal segments at the bottom.
    col = {k: np.nonzero(seg == k)[1].mean() for k in range(1, 7)}
    row = {k: np.nonzero(seg == k)[0].mean() for k in range(1, 7)}
    assert max(col[1], col[2]) < min(col[5], col[6])
    assert row[1] > row[2] > row[3] and row[6] > row[5] > row[4]
    assert AHA_SEGMENTS == (3, 9, 14, 16, 12, 6)


def test_long_axis_thirds(phantom) -> None:
    mask, _ = phantom(spacing_mm=SPACING, apex_row_mm=10.0, thickness_mm=8.0, radius_mm=18.0, length_mm=40.0)
    seg = split_wall_segments(mask, SPACING)  # default: thirds of the long axis
    assert np.array_equal(seg > 0, clean_wall_mask(mask))
    # Long axis: from the base row (76 mm) to the apex of the centre line (10 + 8 / 2 = 14 mm).
    base, apex = 76.0, 14.0
    rows_mm = np.arange(mask.shape[0])[:, None] * SPACING[0] * np.ones(mask.shape)
    for k, (lo, hi) in {2: (1 / 3, 2 / 3), 5: (1 / 3, 2 / 3)}.items():
        r = rows_mm[seg == k]
        assert r.max() == pytest.approx(base - lo * (base - apex), abs=1.0)
        assert r.min() == pytest.approx(base - hi * (base - apex), abs=1.0)
    # The apical segments cover the curved top: more wall than a basal segment.
    assert (seg == 3).sum() > 1.2 * (seg == 1).sum()
    with pytest.raises(ValueError):
        split_wall_segments(mask, SPACING, method="radial")


def test_asymmetric_wall(phantom) -> None:
    """A longer lateral wall: the apex still splits the wall, each half in thirds of its own length."""
    mask, _ = phantom(spacing_mm=SPACING)
    longer = mask.copy()
    rows, cols = np.nonzero(mask)
    right = cols > mask.shape[1] // 2
    bottom = rows.max()
    # extend the lateral wall 30 rows (18 mm) further down
    ext_cols = np.unique(cols[right & (rows == bottom)])
    longer = np.pad(longer, ((0, 30), (0, 0)))
    longer[bottom + 1 : bottom + 31, ext_cols] = 1
    seg = split_wall_segments(longer, SPACING, method="arc_length")
    septal = [(seg == k).sum() for k in (1, 2, 3)]
    lateral = [(seg == k).sum() for k in (6, 5, 4)]
    assert sum(lateral) > sum(septal) * 1.15
    for part in (septal, lateral):  # thirds of each half have about equal area
        assert max(part) / min(part) < 1.2
