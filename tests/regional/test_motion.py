"""Displacement and thickening of phantom walls moved by known amounts."""

from __future__ import annotations

import numpy as np
import pytest

from echo_monai.errors import EchoDataError
from echo_monai.regional import segment_motion

SPACING = (0.6, 0.5)


def _clip(phantom, inward_es, thickness_es, n_frames: int = 5) -> np.ndarray:
    """ED (0 mm, 8 mm thick) to ES (``inward_es``, ``thickness_es``), linear in between."""
    frames = []
    for f in np.linspace(0.0, 1.0, n_frames):
        mask, _ = phantom(
            inward_mm=tuple(np.asarray(inward_es) * f),
            thickness_es_mm=tuple(8.0 + (np.asarray(thickness_es) - 8.0) * f),
            spacing_mm=SPACING,
        )
        frames.append(mask)
    return np.stack(frames)


@pytest.mark.parametrize("inward", [1.0, 3.0])
def test_uniform_contraction_measured_in_mm(phantom, inward: float) -> None:
    masks = _clip(phantom, [inward] * 6, [10.0] * 6, n_frames=2)
    m = segment_motion(masks, 0, 1, SPACING)
    assert m.displacement_mm.shape == (2, 6) and np.all(m.displacement_mm[0] == 0)
    assert m.displacement_mm[1] == pytest.approx(np.full(6, inward), abs=0.15)
    assert m.thickness_mm[0] == pytest.approx(np.full(6, 8.0), abs=0.25)
    assert m.thickness_mm[1] == pytest.approx(np.full(6, 10.0), abs=0.25)
    assert m.thickening_pct == pytest.approx(np.full(6, 25.0), abs=4.0)


def test_per_segment_motion_and_curves(phantom) -> None:
    inward = np.array([6.0, 6.0, 0.0, 4.0, 5.0, 5.0])  # apical septal frozen
    thick = np.array([10.0, 10.0, 8.0, 10.0, 10.0, 10.0])
    masks = _clip(phantom, inward, thick)
    m = segment_motion(masks, 0, 4, SPACING, method="arc_length")  # the phantom cuts by arc length
    assert m.frames.tolist() == [0, 1, 2, 3, 4]
    assert m.peak_displacement_mm == pytest.approx(inward, abs=0.4)
    assert m.thickening_pct[2] == pytest.approx(0.0, abs=3.0)
    assert np.all(m.thickening_pct[[0, 1, 4, 5]] > 20)
    # Apical lateral meets the frozen segment at a 4 mm step of the phantom (a real wall has no step),
    # where the normals cross the wall obliquely; still far above the frozen segment.
    assert m.thickening_pct[3] > 12
    # Displacement grows steadily for moving segments: the curves are monotone.
    assert np.all(np.diff(m.displacement_mm[:, [0, 1, 3, 4, 5]], axis=0) > 0)
    assert set(np.unique(m.ed_segments)) == set(range(7))


def test_window_inside_clip(phantom) -> None:
    masks = _clip(phantom, [3.0] * 6, [10.0] * 6, n_frames=4)
    m = segment_motion(masks, 1, 3, SPACING)
    assert m.frames.tolist() == [1, 2, 3]
    assert m.peak_displacement_mm == pytest.approx(np.full(6, 2.0), abs=0.2)  # 1/3 -> 3/3 of 3 mm


def test_es_before_ed_walks_backward(phantom) -> None:
    masks = _clip(phantom, [3.0] * 6, [10.0] * 6, n_frames=4)[::-1]  # frame 0 is ES, frame 3 is ED
    m = segment_motion(masks, 3, 0, SPACING)
    assert m.frames.tolist() == [3, 2, 1, 0]
    assert m.peak_displacement_mm == pytest.approx(np.full(6, 3.0), abs=0.15)


def test_broken_wall_measured_where_it_exists(phantom) -> None:
    inward = [4.0, 4.0, 3.0, 3.0, 4.0, 4.0]
    masks = _clip(phantom, inward, [10.0] * 6, n_frames=3)
    whole = segment_motion(masks, 0, 2, SPACING, method="arc_length")
    # Drop-out across the mid lateral wall in every frame (columns 80+, rows 35 mm to 52 mm): about 60 %
    # of the mid anterolateral segment (rows 36 to 51 mm of its straight part and its piece of arc).
    broken = masks.copy()
    broken[:, 58:87, 80:] = 0
    m = segment_motion(broken, 0, 2, SPACING, method="arc_length")
    assert not m.ed_centerline.in_wall.all() and m.ed_centerline.in_wall.mean() > 0.8
    assert np.isnan(m.peak_displacement_mm[4]) and np.isnan(m.thickening_pct[4])  # mid anterolateral
    measured = [0, 1, 2, 3, 5]
    assert m.peak_displacement_mm[measured] == pytest.approx(whole.peak_displacement_mm[measured], abs=0.4)
    assert np.all(np.isfinite(m.thickening_pct[measured]))


def test_bad_input(phantom) -> None:
    masks = _clip(phantom, [3.0] * 6, [10.0] * 6, n_frames=3)
    with pytest.raises(EchoDataError, match="two different frames"):
        segment_motion(masks, 1, 1, SPACING)
    with pytest.raises(EchoDataError, match="two different frames"):
        segment_motion(masks, 0, 3, SPACING)
    empty_ed = masks.copy()
    empty_ed[0] = 0
    with pytest.raises(EchoDataError, match="ED frame 0: wall mask is empty"):
        segment_motion(empty_ed, 0, 2, SPACING)
    # An empty frame in the middle is skipped (NaN), the cycle is still measured.
    gap = masks.copy()
    gap[1] = 0
    m = segment_motion(gap, 0, 2, SPACING)
    assert np.isnan(m.displacement_mm[1]).all() and np.isfinite(m.peak_displacement_mm).all()
    gap[2] = 0
    with pytest.raises(EchoDataError, match="no frame after ED"):
        segment_motion(gap, 0, 2, SPACING)
    with pytest.raises(EchoDataError, match=r"\(T, H, W\)"):
        segment_motion(masks[0], 0, 1, SPACING)


def test_temporal_smoothing_removes_frame_jitter_bias(phantom) -> None:
    """A frozen segment whose traced border jitters from frame to frame (as a predicted mask's does) gets
    a spurious peak displacement and thickening from the noise; smoothing the curves over time removes
    most of it while the moving segments keep their peaks."""
    n = 21
    inward = np.array([5.0, 5.0, 0.0, 4.0, 5.0, 5.0])  # apical septal frozen
    thick_es = np.array([10.0, 10.0, 8.0, 10.0, 10.0, 10.0])
    jitter = 1.2 * np.where(np.arange(n) % 2 == 1, 1.0, -1.0)  # mm, alternating, none at ED
    jitter[0] = 0.0
    frames = []
    for i, f in enumerate(np.linspace(0.0, 1.0, n)):
        d = inward * f
        t = 8.0 + (thick_es - 8.0) * f
        d[2], t[2] = 0.5 * jitter[i], 8.0 + jitter[i]
        frames.append(phantom(inward_mm=tuple(d), thickness_es_mm=tuple(t), spacing_mm=SPACING)[0])
    masks = np.stack(frames)
    raw = segment_motion(masks, 0, n - 1, SPACING, method="arc_length", temporal_smoothing=0.0)
    smooth = segment_motion(masks, 0, n - 1, SPACING, method="arc_length", temporal_smoothing=0.1)
    # Without smoothing the jitter's +1.2 mm frames read as ~15 % thickening and ~0.6 mm inward motion.
    assert raw.thickening_pct[2] > 10.0 and raw.peak_displacement_mm[2] > 0.4
    assert abs(smooth.thickening_pct[2]) < 4.0 and smooth.peak_displacement_mm[2] < 0.25
    # Moving segments: peaks within 0.5 mm of the truth (a ramp loses a little at its end).
    moving = [0, 1, 3, 4, 5]
    assert smooth.peak_displacement_mm[moving] == pytest.approx(inward[moving], abs=0.5)
    assert np.all(smooth.thickening_pct[[0, 1, 4, 5]] > 18.0)
    # The per-frame curves are kept as measured; only the peaks use the smoothed curves.
    np.testing.assert_array_equal(smooth.displacement_mm, raw.displacement_mm)
    np.testing.assert_array_equal(smooth.thickness_mm, raw.thickness_mm)
    with pytest.raises(ValueError, match="temporal_smoothing"):
        segment_motion(masks, 0, n - 1, SPACING, temporal_smoothing=-0.1)
