"""Burned-in ECG: draw a trace with ``draw_ecg_trace`` over a grey fan, read it back, compare with the truth."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from PIL import Image

from echo_monai.ecg.burned_in import BurnedInECG, read_burned_in_trace
from echo_monai.errors import ECGError, EchoDataError
from echo_monai.io.dicom_write import write_echo_dicom
from echo_monai.io.types import UltrasoundRegion
from echo_monai.synthetic.ecg import synthetic_ecg
from echo_monai.synthetic.ecg_overlay import draw_ecg_trace

PRE_S = 3.0  # ECG before the first frame, so a sweep screen is full from frame 0


def _fan_frames(n: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Grey speckled sector (apex at the top) on black, (n, h, w, 3) uint8."""
    yy, xx = np.mgrid[:h, :w]
    fan = ((xx - w / 2) ** 2 + yy**2 < (0.75 * h) ** 2) & (np.abs(xx - w / 2) < 0.9 * yy)
    frames = np.zeros((n, h, w, 3), np.uint8)
    frames[:, fan] = rng.integers(20, 200, (n, int(fan.sum()), 1), dtype=np.uint8)
    return frames


def _cine(
    kind: str,
    *,
    seed: int = 0,
    n: int = 45,
    fps: float = 30.0,
    hr: float = 80.0,
    irregular: bool = False,
    h: int = 160,
    w: int = 200,
    **draw_kw,
):
    """A drawn cine: (frames, frame_times_ms, trace region, true R times in ms from frame 0)."""
    rng = np.random.default_rng(seed)
    if irregular:  # alternating intervals, as in real FrameTimeVectors
        times = np.concatenate([[0.0], np.cumsum(np.where(np.arange(n - 1) % 2, 35.8, 17.9))])
    else:
        times = np.arange(n) * 1000.0 / fps
    ecg = synthetic_ecg(PRE_S + times[-1] / 1000.0 + 0.5, 500.0, hr, rng=seed)
    t0 = -1000.0 * PRE_S
    frames, region = draw_ecg_trace(
        _fan_frames(n, h, w, rng), times, ecg.signal, ecg.fs, t0, kind=kind, rng=rng, **draw_kw
    )
    return frames, times, region, ecg.r_times_s * 1000.0 + t0


def _errors_ms(res: BurnedInECG, true_r: np.ndarray) -> np.ndarray:
    """Signed error of the nearest detection for every true R inside the recovered span."""
    lo, hi = res.times_ms[0] + 60.0, res.times_ms[-1] - 60.0
    truth = true_r[(true_r > lo) & (true_r < hi)]
    assert truth.size >= 1
    return np.array([(res.r_times_ms - r)[np.argmin(np.abs(res.r_times_ms - r))] for r in truth])


def _jpeg(frames: np.ndarray, quality: int = 85) -> np.ndarray:
    """Round-trip every frame through 4:2:2 JPEG, which bleeds the thin trace's colour."""
    out = np.empty_like(frames)
    for i, f in enumerate(frames):
        buf = io.BytesIO()
        Image.fromarray(f).save(buf, "JPEG", quality=quality, subsampling=1)
        out[i] = np.asarray(Image.open(buf))
    return out


def test_sweep_round_trip_with_irregular_frame_times_and_jpeg():
    frames, times, region, true_r = _cine("sweep", seed=1, irregular=True, hr=95)
    res = read_burned_in_trace(_jpeg(frames), times)
    assert res.kind == "sweep"
    assert res.seconds_per_pixel == pytest.approx(region.delta_x, rel=0.01)
    err = _errors_ms(res, true_r)
    assert np.all(np.abs(err) <= 12.0), err
    # The sweep keeps up to one sweep of older data on screen: R waves before the first frame are found.
    assert res.t0_ms < -500.0 and np.any(res.r_times_ms < 0)
    # No spurious beats: every detection is near a true R.
    assert all(np.min(np.abs(true_r - r)) <= 12.0 for r in res.r_times_ms)
    assert res.confidence > 0.8 and not res.warnings


def test_review_round_trip_ignores_cursor_parked_at_trace_ends():
    frames, times, region, true_r = _cine("review", seed=2, n=60, hr=110, review_margins_ms=(300.0, 200.0))
    res = read_burned_in_trace(frames, times)
    assert res.kind == "review"
    assert res.seconds_per_pixel == pytest.approx(region.delta_x, rel=0.01)
    # First and last frames show the cursor at the trace ends, off the steady motion of the others.
    assert res.cursor_x[0] == region.x0 and res.cursor_x[-1] == region.x1
    assert not res.cursor_inlier[0] and not res.cursor_inlier[-1] and res.cursor_inlier[1:-1].all()
    err = _errors_ms(res, true_r)
    assert np.all(np.abs(err) <= 12.0), err
    assert res.confidence > 0.9


def test_review_trace_without_margins_fits_the_whole_clip():
    # Margins of zero used to give a time scale one pixel short of the clip (seen as a random generator
    # failure: "shows 1560 ms, less than the 1550 ms clip").
    frames, times, region, true_r = _cine("review", seed=5, n=40, hr=80, review_margins_ms=(0.0, 0.0))
    res = read_burned_in_trace(frames, times)
    assert res.kind == "review"
    assert region.x1 - region.x0 >= 31
    assert np.all(np.abs(_errors_ms(res, true_r)) <= 12.0)


@pytest.mark.parametrize("kind", ["sweep", "review"])
@pytest.mark.parametrize("color", [(255, 255, 0), (0, 255, 255), (255, 255, 255)])
def test_other_trace_colours_are_found(kind, color):
    frames, times, _region, true_r = _cine(kind, seed=3, color=color, hr=70, n=50)
    res = read_burned_in_trace(frames, times)
    assert res.kind == kind
    assert np.allclose(res.color, color, atol=40)
    assert np.all(np.abs(_errors_ms(res, true_r)) <= 12.0)


def test_clipped_r_waves_are_timed_at_the_plateau_centre():
    # Triple gain: every R wave is cut flat at the region top over several columns.
    frames, times, region, true_r = _cine("review", seed=4, n=60, hr=60, gain_px_per_mv=40.0, line_width=1.0)
    top = frames[:, region.y0, region.x0 : region.x1 + 1, 1]
    plateau_cols = np.count_nonzero(np.median(top, axis=0) > 128)
    # Timing within 3/4 of a column (one column is ~14 ms here); an edge of the flat top would be off by
    # half its width, which is more than that.
    tolerance_ms = 0.75 * region.delta_x * 1000.0
    assert plateau_cols * region.delta_x * 1000.0 / 2 > tolerance_ms
    res = read_burned_in_trace(frames, times)
    err = _errors_ms(res, true_r)
    assert np.all(np.abs(err) <= tolerance_ms), err


def test_declared_seconds_per_pixel_is_checked_against_cursor_motion():
    frames, times, region, _true_r = _cine("sweep", seed=5)
    good = read_burned_in_trace(frames, times, trace_regions=[region])
    assert good.region == (region.x0, region.y0, region.x1, region.y1)
    assert good.seconds_per_pixel == region.delta_x and not good.warnings
    wrong = UltrasoundRegion(**{**region.__dict__, "delta_x": region.delta_x * 1.25})
    res = read_burned_in_trace(frames, times, trace_regions=[wrong])
    assert any("declares" in w for w in res.warnings)
    assert res.seconds_per_pixel == pytest.approx(region.delta_x, rel=0.01)  # the cursor wins
    assert res.confidence < good.confidence


def test_trace_read_from_a_jpeg_ybr_dicom(tmp_path):
    frames, times, region, true_r = _cine("sweep", seed=6, irregular=True)
    path = write_echo_dicom(tmp_path / "burned.dcm", frames, times, extra_regions=[region], jpeg_quality=85)
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "YBR_FULL_422"
    item = next(r for r in ds.SequenceOfUltrasoundRegions if r.RegionDataType == 10)
    assert float(item.PhysicalDeltaX) == pytest.approx(region.delta_x, rel=1e-6)
    res = read_burned_in_trace(
        ds.pixel_array,  # pydicom converts YBR to RGB
        times,
        region=(
            item.RegionLocationMinX0,
            item.RegionLocationMinY0,
            item.RegionLocationMaxX1,
            item.RegionLocationMaxY1,
        ),
        color=(0, 255, 0),
        path=path,
    )
    assert np.all(np.abs(_errors_ms(res, true_r)) <= 12.0)


def test_to_ecg_signal():
    frames, times, _, _ = _cine("review", seed=7, n=50)
    res = read_burned_in_trace(frames, times)
    sig = res.to_ecg_signal()
    assert sig.source == "burned_in" and sig.signal.shape == (1, res.signal.shape[0])
    assert sig.fs == res.fs and sig.t0_ms == res.t0_ms
    np.testing.assert_allclose(sig.times_ms, res.times_ms)
    np.testing.assert_array_equal(sig.r_times_ms, res.r_times_ms)


# ---- bad input -------------------------------------------------------------------------------------------


def test_grey_only_frames_have_no_trace():
    rng = np.random.default_rng(0)
    frames = _fan_frames(20, 120, 160, rng)
    with pytest.raises(ECGError, match="no burned-in ECG trace"):
        read_burned_in_trace(frames, np.arange(20) * 33.0, path="grey.dcm")


def test_bright_tissue_line_in_a_grey_cine_is_not_a_trace():
    # A thin, wide, moving white structure inside the sector (e.g. the pericardium) on speckle.
    rng = np.random.default_rng(1)
    frames = _fan_frames(30, 160, 200, rng)
    for f in range(30):
        row = 100 + int(np.rint(3 * np.sin(2 * np.pi * f / 20)))
        frames[f, row : row + 2, 40:160] = 255
    with pytest.raises(ECGError, match="no burned-in ECG trace"):
        read_burned_in_trace(frames, np.arange(30) * 33.0)


def test_frozen_cursor_is_rejected():
    frames, times, _, _ = _cine("review", seed=8, n=30)
    still = np.repeat(frames[10:11], 30, axis=0)  # e.g. an export of one repeated frame
    with pytest.raises(ECGError, match="cursor"):
        read_burned_in_trace(still, times)


def test_absent_colour_and_bad_frames_or_times():
    frames, times, _, _ = _cine("sweep", seed=9, n=30)
    with pytest.raises(ECGError, match="no burned-in ECG trace"):
        read_burned_in_trace(frames, times, color=(255, 0, 255))
    with pytest.raises(ECGError, match="single frame"):
        read_burned_in_trace(frames[:1], times[:1])
    bad = times.copy()
    bad[5] = bad[4]
    with pytest.raises(EchoDataError, match="strictly increasing"):
        read_burned_in_trace(frames, bad)
    with pytest.raises(EchoDataError, match="frame times given"):
        read_burned_in_trace(frames, times[:-1])


# ---- the drawing itself ----------------------------------------------------------------------------------


def test_review_trace_is_pixel_identical_except_the_cursor():
    frames, _times, region, _ = _cine("review", seed=10, n=20)
    strip = frames[:, region.y0 : region.y1 + 1, region.x0 : region.x1 + 1].astype(int)
    differs = np.abs(strip - strip[5]).sum(axis=(1, 3)) > 0  # (T, w) columns that differ from frame 5
    assert np.all(differs.sum(axis=1) <= 4)  # the old and the new cursor position, 1-2 px each
    assert region.data_type == 10 and region.spatial_format == 4 and region.units_x == 4


def test_sweep_has_a_moving_erase_gap_and_new_data_left_of_it():
    frames, times, region, _ = _cine("sweep", seed=11, n=20, erase_gap_px=8)
    strip = frames[:, region.y0 : region.y1 + 1, region.x0 : region.x1 + 1, 1] > 60
    empty = ~strip.any(axis=1)  # (T, w)
    starts = [int(np.argmax(e & ~np.roll(e, 1))) for e in empty]
    assert all(e.sum() >= 8 for e in empty)
    advance = np.mod(np.diff(starts), strip.shape[2])
    expected = np.diff(times) / (1000.0 * region.delta_x)
    assert np.all(np.abs(advance - expected) <= 1.0)


def test_draw_rejects_bad_input():
    frames = np.zeros((3, 100, 120, 3), np.uint8)
    sig = np.zeros(1000)
    with pytest.raises(EchoDataError, match="does not fit"):
        draw_ecg_trace(frames, [0, 30, 60], sig, 500, 0.0, region=(0, 90, 130, 99))
    with pytest.raises(EchoDataError, match="strictly increasing"):
        draw_ecg_trace(frames, [0, 30, 30], sig, 500, 0.0)
    with pytest.raises(EchoDataError, match="'sweep' or 'review'"):
        draw_ecg_trace(frames, [0, 30, 60], sig, 500, 0.0, kind="scroll")
    with pytest.raises(EchoDataError, match="less than"):
        draw_ecg_trace(frames, [0, 3000, 6000], sig, 500, 0.0, kind="review", seconds_per_pixel=0.001)


def test_sweep_begun_during_the_clip_with_a_cursor_line():
    # ECG only from frame 0 on (e.g. the display was unfrozen at the start of the clip): the screen fills up
    # as the clip plays, so most frames have an empty stretch wider than the erase gap.
    rng = np.random.default_rng(12)
    times = np.arange(60) * 25.0
    ecg = synthetic_ecg(times[-1] / 1000.0 + 0.3, 500.0, 80.0, rng=12)
    frames, region = draw_ecg_trace(
        _fan_frames(60, 160, 200, rng), times, ecg.signal, ecg.fs, 0.0, kind="sweep", cursor_color=(0, 255, 0)
    )
    res = read_burned_in_trace(frames, times)
    assert res.kind == "sweep" and res.t0_ms >= -10.0
    assert res.seconds_per_pixel == pytest.approx(region.delta_x, rel=0.01)
    assert np.all(np.abs(_errors_ms(res, ecg.r_times_s * 1000.0)) <= 12.0)


def test_inverted_lead():
    rng = np.random.default_rng(13)
    times = np.arange(50) * 30.0
    ecg = synthetic_ecg(PRE_S + 2.0, 500.0, 75.0, invert=True, rng=13)
    frames, _ = draw_ecg_trace(_fan_frames(50, 160, 200, rng), times, ecg.signal, ecg.fs, -1000.0 * PRE_S)
    res = read_burned_in_trace(frames, times)
    assert np.all(np.abs(_errors_ms(res, ecg.r_times_s * 1000.0 - 1000.0 * PRE_S)) <= 12.0)


@pytest.mark.parametrize("kind", ["sweep", "review"])
def test_ectopic_beats_of_either_polarity_are_found(kind):
    rng = np.random.default_rng(14)
    times = np.arange(60) * 30.0
    ecg = synthetic_ecg(PRE_S + 2.3, 500.0, 80.0, ectopic_prob=0.4, rng=0 if kind == "sweep" else 7)
    assert "V" in ecg.beat_types
    frames, _ = draw_ecg_trace(
        _fan_frames(60, 160, 200, rng), times, ecg.signal, ecg.fs, -1000.0 * PRE_S, kind=kind, rng=rng
    )
    res = read_burned_in_trace(frames, times)
    assert np.all(np.abs(_errors_ms(res, ecg.r_times_s * 1000.0 - 1000.0 * PRE_S)) <= 15.0)
