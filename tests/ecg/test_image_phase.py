"""Image-based cardiac phase: a speckled fan with a dark ventricle whose size follows a Wiggers-like volume
curve of known ED (R wave) and ES (end of T wave) times."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from echo_monai.ecg.image_phase import dominant_period_ms, estimate_cycles_from_image, image_phase_signal
from echo_monai.errors import ECGError, EchoDataError


def _smoothstep(x: np.ndarray) -> np.ndarray:
    return x * x * (3 - 2 * x)


def _volume(t_ms: np.ndarray, rr_ms: float, r0_ms: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LV volume fraction (1 at ED, 0 at ES) and the ED / ES times.

    ED at each R; isovolumic contraction 50 ms; ejection to ES at QT (Fridericia); isovolumic relaxation
    70 ms; rapid filling to 75 %; diastasis to 82 %; atrial kick to 100 % just before the next R.
    """
    qt = 400.0 * (rr_ms / 1000.0) ** (1 / 3)
    r = r0_ms + rr_ms * np.arange(-2, int((t_ms[-1] - r0_ms) / rr_ms) + 3)
    k = np.clip(np.searchsorted(r, t_ms, side="right") - 1, 0, r.size - 1)
    d = t_ms - r[k]
    eject = np.clip((d - 50.0) / (qt - 50.0), 0, 1)
    fill = np.clip((d - qt - 70.0) / 150.0, 0, 1)
    a_start = rr_ms - 140.0
    dias = np.clip((d - qt - 220.0) / max(a_start - qt - 220.0, 1.0), 0, 1)
    kick = np.clip((d - a_start) / 130.0, 0, 1)
    v = np.where(d < qt, 0.5 * (1 + np.cos(np.pi * eject)), 0.0)
    late = d >= qt
    v_dia = 0.75 * _smoothstep(fill) + 0.07 * dias + 0.18 * _smoothstep(kick)
    v = np.where(late, v_dia, v)
    return v, r, r + qt


def _phantom(
    n: int,
    fps: float,
    hr: float,
    *,
    seed: int = 0,
    r0_ms: float = 120.0,
    h: int = 96,
    w: int = 128,
    valve: bool = False,
):
    """(frames (n, h, w) uint8, times, true ED frames, true ES frames). With ``valve`` the cavity does not
    change; a dark aortic orifice is open from 50 ms after each R wave to end-systole instead."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) * 1000.0 / fps
    v, r, es = _volume(t, 60000.0 / hr, r0_ms)
    if valve:
        k = np.clip(np.searchsorted(r, t, side="right") - 1, 0, r.size - 1)
        v = np.where((t >= r[k] + 50.0) & (t < es[k]), -1.0, 0.0)  # -1: open orifice, cavity at rest
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    fan = ((xx - w / 2) ** 2 + yy**2 < (0.95 * h) ** 2) & (np.abs(xx - w / 2) < 0.9 * yy)
    tissue = ndimage.gaussian_filter(rng.rayleigh(1.0, (h, w)), (0.7, 1.5))
    frames = np.zeros((n, h, w), np.uint8)
    for i in range(n):
        a, b = 14 + 8 * max(v[i], 0.0), 22 + 10 * max(v[i], 0.0)  # cavity semi-axes (px): large at ED
        cavity = ((xx - w / 2) / a) ** 2 + ((yy - 0.55 * h) / b) ** 2 < 1.0
        if v[i] < 0:  # the valve's orifice, next to the (still) cavity
            cavity |= (xx - 0.25 * w) ** 2 + (yy - 0.75 * h) ** 2 < 8.0**2
        img = 110 * tissue + rng.normal(0, 6, (h, w))
        img[cavity] = 12 + rng.normal(0, 3, int(cavity.sum()))
        frames[i] = np.clip(np.where(fan, img, 0), 0, 255).astype(np.uint8)

    def nearest(ev):
        ev = ev[(ev >= t[0] - 500 / fps) & (ev <= t[-1] + 500 / fps)]
        return np.unique(np.abs(t[None] - ev[:, None]).argmin(axis=1))

    return frames, t, nearest(r), nearest(es)


def _all_within(found: np.ndarray, truth: np.ndarray, tol: int, n_frames: int | None = None) -> bool:
    """Every true event (except within 2 frames of the clip ends, where a still-rising or still-falling
    signal cannot show its extreme) has a detection within ``tol`` frames."""
    if n_frames is not None:
        truth = truth[(truth >= 2) & (truth <= n_frames - 3)]
    return truth.size > 0 and all(found.size and np.min(np.abs(found - f)) <= tol for f in truth)


@pytest.mark.parametrize("hr,fps", [(60, 30), (75, 50), (110, 40)])
def test_ed_es_frames_recovered_within_two_frames(hr, fps):
    frames, t, ed, es = _phantom(int(3.0 * fps), fps, hr, seed=hr)
    res = estimate_cycles_from_image(frames, t)
    assert res.method == "cavity"
    assert _all_within(res.ed_frames, ed, 2, len(t)), (res.ed_frames, ed)
    assert _all_within(res.es_frames, es, 2, len(t)), (res.es_frames, es)
    # No spurious cycles.
    assert len(res.ed_frames) <= len(ed) + 1 and len(res.es_frames) <= len(es) + 1


@pytest.mark.parametrize("r0_ms,edge_frame", [(0.0, 0), (566.0, 89)])
def test_ed_at_a_clip_end_is_found(r0_ms, edge_frame):
    # The last ED of a clip has no ejection stroke after it inside the clip (and the first may have its
    # stroke cut); it comes from the neighbouring beat's ED and the period.
    frames, t, ed, _ = _phantom(90, 30.0, 75.0, seed=3, r0_ms=r0_ms)
    assert edge_frame in ed
    res = estimate_cycles_from_image(frames, t)
    assert np.min(np.abs(res.ed_frames - edge_frame)) <= 1, (res.ed_frames, ed)
    assert all(np.min(np.abs(res.ed_frames - f)) <= 2 for f in ed), (res.ed_frames, ed)
    assert len(res.ed_frames) == len(ed)


def test_signal_is_high_at_ed_in_rgb_with_a_coloured_overlay():
    frames, t, ed, es = _phantom(90, 30.0, 70, seed=3)
    rgb = np.repeat(frames[..., None], 3, axis=-1)
    rgb[:, -6:-2, 10:-10] = (0, 255, 0)  # a static green strip, as a burned-in trace region would be
    sig = image_phase_signal(rgb, frame_times_ms=t)
    assert sig.shape == (90,) and abs(sig.mean()) < 1e-9 and sig.std() == pytest.approx(1.0)
    assert sig.dtype == np.float64
    assert sig[ed].mean() > 0.5 > -0.5 > sig[es].mean()


def test_irregular_frame_times_and_period():
    frames, t, ed, _ = _phantom(120, 50.0, 80, seed=4)
    keep = np.sort(np.concatenate([np.arange(0, 120, 3), np.arange(1, 120, 3)]))  # 20 / 40 ms alternating
    sig = image_phase_signal(frames[keep], frame_times_ms=t[keep])
    period, strength = dominant_period_ms(sig, t[keep])
    assert period == pytest.approx(750.0, rel=0.05) and strength > 0.5
    res = estimate_cycles_from_image(frames[keep], t[keep])
    truth_ed = np.unique(np.abs(t[keep][None] - t[ed][:, None]).argmin(axis=1))
    assert _all_within(res.ed_frames, truth_ed, 2, n_frames=keep.size)


def test_motion_method_agrees():
    frames, t, ed, es = _phantom(100, 40.0, 90, seed=5)
    res = estimate_cycles_from_image(frames, t, method="motion")
    assert res.method == "motion"
    assert _all_within(res.ed_frames, ed, 2, 100) and _all_within(res.es_frames, es, 2, 100)


def test_valve_dominated_view_is_timed_from_valve_opening_and_closing():
    frames, t, ed, es = _phantom(120, 40.0, 85, seed=9, valve=True)
    res = estimate_cycles_from_image(frames, t)
    assert res.method == "valve"
    assert _all_within(res.ed_frames, ed, 2, len(t)) and _all_within(res.es_frames, es, 2, len(t))
    # A ventricle's volume changes too slowly to be taken for a valve.
    frames, t, _, _ = _phantom(120, 40.0, 85, seed=9)
    assert estimate_cycles_from_image(frames, t).method == "cavity"


def test_valve_switch_spread_over_two_frames_is_still_a_valve():
    # Frames exposed over two sampling instants: the orifice is half open in the frame of each switch.
    fine, t_fine, _, _ = _phantom(240, 80.0, 85, seed=9, valve=True)
    frames = ((fine[0::2].astype(np.float32) + fine[1::2]) / 2).astype(np.uint8)
    t = 0.5 * (t_fine[0::2] + t_fine[1::2])
    _, _, ed, es = _phantom(120, 40.0, 85, seed=9, valve=True)
    assert np.any((frames != fine[0::2]).any(axis=(1, 2)) & (frames != fine[1::2]).any(axis=(1, 2)))
    res = estimate_cycles_from_image(frames, t)
    assert res.method == "valve"
    assert _all_within(res.ed_frames, ed, 2, len(t)) and _all_within(res.es_frames, es, 2, len(t))


def test_given_sector_mask_is_used():
    frames, t, ed, _ = _phantom(90, 30.0, 70, seed=6)
    mask = np.zeros(frames.shape[1:], bool)
    mask[20:90, 30:98] = True
    res = estimate_cycles_from_image(frames, t, sector_mask=mask)
    assert _all_within(res.ed_frames, ed, 2)
    with pytest.raises(EchoDataError, match="does not match"):
        image_phase_signal(frames, sector_mask=mask[:10])


# ---- bad input -------------------------------------------------------------------------------------------


def test_bad_input_gives_clear_errors():
    frames, t, _, _ = _phantom(40, 30.0, 70, seed=7)
    with pytest.raises(ECGError, match="shorter than one cardiac cycle"):
        estimate_cycles_from_image(frames[:1], t[:1])
    with pytest.raises(ECGError, match="shorter than one cardiac cycle"):
        estimate_cycles_from_image(frames[:8], t[:8])  # 233 ms
    bad = t.copy()
    bad[3] = bad[2]
    with pytest.raises(EchoDataError, match="strictly increasing"):
        estimate_cycles_from_image(frames, bad)
    with pytest.raises(EchoDataError, match="frame times given"):
        estimate_cycles_from_image(frames, t[:-1])
    still = np.repeat(frames[:1], 40, axis=0)
    with pytest.raises(EchoDataError, match="no moving scan sector"):
        estimate_cycles_from_image(still, t)
    with pytest.raises(EchoDataError, match="method"):
        estimate_cycles_from_image(frames, t, method="optical_flow")


def test_noise_is_not_a_heartbeat():
    frames, t, _, _ = _phantom(60, 30.0, 70, seed=8)
    rng = np.random.default_rng(8)
    noise = np.where(frames > 0, rng.integers(1, 255, frames.shape), 0).astype(np.uint8)  # a fan of noise
    with pytest.raises(ECGError, match="no cardiac motion"):
        estimate_cycles_from_image(noise, t)
