"""Tests of the synthetic ECG generator: its annotations must match the waveform it draws."""

from __future__ import annotations

import numpy as np
import pytest

from echo_monai.errors import ECGError
from echo_monai.synthetic.ecg import QTC_S, fridericia_qt_s, synthetic_ecg

CLEAN = {"noise_mv": 0.0, "baseline_wander_mv": 0.0}


@pytest.mark.parametrize("fs", [100.0, 128.0, 250.0, 500.0, 1000.0])
def test_r_times_are_the_apex_of_the_drawn_beats(fs: float) -> None:
    ecg = synthetic_ecg(20.0, fs, 75.0, rng=3, **CLEAN)
    x = ecg.signal
    half = int(0.05 * fs)
    for idx in ecg.r_indices:
        lo, hi = max(0, idx - half), min(len(x), idx + half + 1)
        apex = lo + int(np.argmax(x[lo:hi]))
        assert abs(apex - idx) <= 1
    assert x.dtype == np.float32 and x.shape == (round(20.0 * fs),)


def test_heart_rate_rr_variability_and_repeatability() -> None:
    a = synthetic_ecg(120.0, 250.0, 90.0, rr_std=0.03, rng=7)
    b = synthetic_ecg(120.0, 250.0, 90.0, rr_std=0.03, rng=7)
    np.testing.assert_array_equal(a.signal, b.signal)
    rr = np.diff(a.r_times_s)
    assert 60.0 / rr.mean() == pytest.approx(90.0, rel=0.02)
    assert 0.015 < rr.std() < 0.045
    c = synthetic_ecg(120.0, 250.0, 90.0, rr_std=0.03, rng=8)
    assert not np.array_equal(a.r_times_s, c.r_times_s)


@pytest.mark.parametrize("hr", [45.0, 60.0, 100.0, 150.0])
def test_qt_follows_fridericia_and_t_end_is_near_baseline(hr: float) -> None:
    ecg = synthetic_ecg(10.0, 500.0, hr, rr_std=0.0, start_offset_s=0.0, rng=0, **CLEAN)
    rr = 60.0 / hr
    qt = ecg.t_end_s - ecg.qrs_onset_s
    np.testing.assert_allclose(qt, QTC_S * rr ** (1 / 3), atol=1e-9)
    assert fridericia_qt_s(1.0) == pytest.approx(QTC_S)
    # ES fraction of the RR stays in the physiological range the phase code relies on.
    assert 0.3 < (ecg.t_end_s[0] - ecg.r_times_s[0]) / rr < 0.7
    # The T wave has returned close to the baseline at its (tangent) end and peaked before it.
    for r, te in zip(ecg.r_times_s[ecg.in_clip][:-1], ecg.t_end_s[ecg.in_clip][:-1]):
        seg = ecg.signal[int((r + 0.1) * ecg.fs) : int(te * ecg.fs)]
        t_amp = seg.max()
        assert 0.2 < t_amp < 0.4
        assert abs(ecg.signal[round(te * ecg.fs)]) < 0.2 * t_amp


def test_start_offset_puts_the_clip_after_an_r_peak() -> None:
    ecg = synthetic_ecg(5.0, 500.0, 60.0, rr_std=0.0, start_offset_s=0.3, rng=0, **CLEAN)
    assert ecg.r_times_s[ecg.in_clip][0] == pytest.approx(0.7)
    # The beat whose R is before the clip is still listed because its T wave reaches into the clip.
    assert ecg.r_times_s[0] == pytest.approx(-0.3)
    assert ecg.t_end_s[0] > 0
    random_offset = synthetic_ecg(5.0, 500.0, 60.0, rng=1)
    assert 0.0 <= random_offset.start_offset_s < 1.0


def test_pvcs_are_early_wide_without_p_and_followed_by_a_compensatory_pause() -> None:
    ecg = synthetic_ecg(120.0, 500.0, 70.0, rr_std=0.0, ectopic_prob=0.15, rng=11, **CLEAN)
    v = np.flatnonzero(ecg.beat_types == "V")
    assert len(v) >= 5
    rr = 60.0 / 70.0
    for i in v[(v > 0) & (v < len(ecg.beat_types) - 1)]:
        assert ecg.beat_types[i - 1] == "N" and ecg.beat_types[i + 1] == "N"
        assert ecg.r_times_s[i] - ecg.r_times_s[i - 1] == pytest.approx(0.6 * rr)
        assert ecg.r_times_s[i + 1] - ecg.r_times_s[i - 1] == pytest.approx(2 * rr)
        assert np.isnan(ecg.p_onset_s[i])
        assert ecg.r_times_s[i] - ecg.qrs_onset_s[i] > ecg.r_times_s[i - 1] - ecg.qrs_onset_s[i - 1]
    assert not np.isnan(ecg.p_onset_s[ecg.beat_types == "N"]).any()


def test_inverted_lead_and_tall_t_waves() -> None:
    up = synthetic_ecg(10.0, 500.0, 70.0, rng=5, **CLEAN)
    down = synthetic_ecg(10.0, 500.0, 70.0, invert=True, rng=5, **CLEAN)
    np.testing.assert_allclose(down.signal, -up.signal)
    assert down.polarity == -1 and down.signal[down.r_indices].max() < -0.9
    tall = synthetic_ecg(10.0, 500.0, 70.0, t_wave_scale=5.0, rng=5, **CLEAN)
    r_amp = tall.signal[tall.r_indices].min()
    assert tall.signal.max() > r_amp  # T waves taller than the R waves


def test_noise_wander_and_mains_are_added() -> None:
    clean = synthetic_ecg(10.0, 500.0, 70.0, rng=2, **CLEAN)
    noisy = synthetic_ecg(10.0, 500.0, 70.0, rng=2, noise_mv=0.1, baseline_wander_mv=0.0)
    np.testing.assert_array_equal(clean.r_times_s, noisy.r_times_s)
    assert np.std(noisy.signal - clean.signal) == pytest.approx(0.1, rel=0.1)
    mains = synthetic_ecg(10.0, 500.0, 70.0, rng=2, noise_mv=0.0, baseline_wander_mv=0.0, powerline_mv=0.2)
    spec = np.abs(np.fft.rfft(mains.signal - clean.signal))
    assert np.fft.rfftfreq(len(clean.signal), 1 / 500.0)[np.argmax(spec)] == pytest.approx(50.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"duration_s": 0.0},
        {"duration_s": 5.0, "fs": 10.0},
        {"duration_s": 5.0, "heart_rate_bpm": 400.0},
        {"duration_s": 5.0, "ectopic_prob": 0.9},
        {"duration_s": 5.0, "start_offset_s": -1.0},
        {"duration_s": 5.0, "rr_std": 0.5},
    ],
)
def test_bad_parameters_raise_ecg_error(kwargs: dict) -> None:
    with pytest.raises(ECGError):
        synthetic_ecg(**kwargs)
