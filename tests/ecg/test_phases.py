"""Tests of cardiac phase extraction against synthetic ECG whose R, QRS onset and T end are known."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from echo_monai.ecg.phases import cardiac_phases, detect_qrs_onset, detect_t_wave_end, weissler_qs2_ms
from echo_monai.ecg.rpeaks import detect_r_peaks
from echo_monai.errors import ECGError, EchoDataError
from echo_monai.io.types import EcgSignal
from echo_monai.synthetic.ecg import synthetic_ecg

FPS = 30.0


def _nearest(times_ms: np.ndarray, frame_times: np.ndarray) -> np.ndarray:
    return np.abs(frame_times[None, :] - times_ms[:, None]).argmin(axis=1)


@pytest.mark.parametrize(("hr", "fs"), [(55.0, 250.0), (75.0, 500.0), (110.0, 1000.0)])
def test_ed_at_r_and_es_at_t_end_from_the_ecg(hr: float, fs: float) -> None:
    ecg = synthetic_ecg(5.0, fs, hr, noise_mv=0.02, rng=int(hr))
    t0 = -700.0  # the ECG starts 0.7 s before the first frame
    frames = np.arange(0.0, 4000.0, 1000.0 / FPS)
    p = cardiac_phases(None, frames, ecg=ecg.signal, fs=fs, t0_ms=t0, n_phases=5)
    r_true = ecg.r_times_s * 1000.0 + t0
    t_end_true = ecg.t_end_s * 1000.0 + t0
    # Detected R times within 2 samples of the truth, each mapped to its nearest frame.
    in_ecg = r_true[ecg.in_clip]  # R peaks before the ECG starts cannot be detected
    assert len(p.r_times_ms) == len(in_ecg) and np.max(np.abs(p.r_times_ms - in_ecg)) <= 2000.0 / fs
    ed_in = (p.r_times_ms > -0.5e3 / FPS) & (p.r_times_ms < frames[-1] + 0.5e3 / FPS)
    in_cine = (r_true > -0.5e3 / FPS) & (r_true < frames[-1] + 0.5e3 / FPS)
    np.testing.assert_array_equal(p.ed_frames, _nearest(p.r_times_ms[ed_in], frames))
    assert np.max(np.abs(p.ed_frames - _nearest(r_true[in_cine], frames))) <= 1
    assert p.es_method == "t_wave_end"
    # ES at the T-wave end (tangent) within 20 ms of the truth, mapped to its nearest frame.
    t_end_beats = t_end_true[ecg.in_clip]
    from_t = p.es_methods == "t_wave_end"
    assert from_t.sum() >= len(p.r_times_ms) - 2
    assert np.max(np.abs(p.es_times_ms[from_t] - t_end_beats[from_t])) <= 20.0
    half = 0.5e3 / FPS
    es_in = (p.es_times_ms > -half) & (p.es_times_ms < frames[-1] + half)
    np.testing.assert_array_equal(p.es_frames, _nearest(p.es_times_ms[es_in], frames))
    # Cycles chain ED frames; each holds its ES frame; phases start at ED and split the cycle evenly.
    assert [c[0] for c in p.cycles] == p.ed_frames[:-1].tolist()
    assert [c[1] for c in p.cycles] == p.ed_frames[1:].tolist()
    assert all(s < es < e for (s, e), es in zip(p.cycles, p.cycle_es_frames))
    assert p.phase_frames.shape == (len(p.cycles), 5)
    np.testing.assert_array_equal(p.phase_frames[:, 0], p.ed_frames[:-1])
    assert np.all(np.diff(p.phase_positions, axis=1) > 0)
    assert p.heart_rate_bpm == pytest.approx(hr, rel=0.05)


def test_frame_cycles_and_phases_including_partial_cycles() -> None:
    r = np.array([-300.0, 500.0, 1300.0, 2100.0])
    frames = np.arange(0.0, 2500.0, 40.0)
    p = cardiac_phases(r, frames)
    assert p.cycles == [(12, 32), (32, 52)] and p.ed_frames.tolist() == [12, 32, 52]
    assert p.frame_cycle[0] == 0 and p.frame_phase[0] == pytest.approx(300.0 / 800.0)
    assert p.frame_cycle[12] == 1 and p.frame_phase[12] == pytest.approx(0.0)
    assert p.frame_cycle[-1] == -1  # after the last R: partial cycle, phase extrapolated
    assert p.frame_phase[-1] == pytest.approx((frames[-1] - 2100.0) / 800.0)
    assert np.all((p.frame_phase >= 0) & (p.frame_phase < 1))


def test_irregular_frame_times_map_to_the_nearest_frame() -> None:
    # FrameTimeVector-style increments alternating 17.9 / 35.8 ms.
    frames = np.r_[0.0, np.cumsum(np.tile([17.9, 35.8], 40))]
    r = np.array([100.0, 1000.0, 1900.0])
    p = cardiac_phases(r, frames)
    expected = [int(np.argmin(np.abs(frames - t))) for t in r]
    assert p.ed_frames.tolist() == expected
    assert p.cycles == [(expected[0], expected[1]), (expected[1], expected[2])]


@pytest.mark.parametrize(("hr", "fraction"), [(60.0, 0.42), (100.0, 0.56)])
def test_without_ecg_es_follows_the_heart_rate_regression(hr: float, fraction: float) -> None:
    rr = 60000.0 / hr
    r = np.arange(5) * rr
    p = cardiac_phases(r, np.arange(0.0, 4 * rr, 20.0))
    assert p.es_method == "hr_regression" and set(p.es_methods) == {"hr_regression"}
    # Electromechanical systole from the QRS onset (40 ms before R without an ECG), as a fraction of RR.
    assert (p.es_times_ms[0] - (r[0] - 40.0)) / rr == pytest.approx(fraction, abs=0.015)
    assert weissler_qs2_ms(60.0) == pytest.approx(424.5)


def test_qrs_onset_reference_and_detectors() -> None:
    fs = 500.0
    ecg = synthetic_ecg(20.0, fs, 70.0, noise_mv=0.01, rng=4)
    r_idx = detect_r_peaks(ecg.signal, fs).indices
    truth = np.abs(ecg.r_times_s[:, None] * fs - r_idx[None, :]).argmin(axis=0)
    onset = detect_qrs_onset(ecg.signal, fs, r_idx)
    assert np.nanmedian(np.abs(onset / fs - ecg.qrs_onset_s[truth])) < 0.012
    t_end = detect_t_wave_end(ecg.signal, fs, r_idx)
    assert np.nanmedian(np.abs(t_end / fs - ecg.t_end_s[truth])) < 0.015
    p = cardiac_phases(
        None, np.arange(0.0, 19000.0, 20.0), ecg=EcgSignal(ecg.signal[None], fs), ed_reference="qrs_onset"
    )
    assert p.ed_reference == "qrs_onset"
    assert np.all((p.r_times_ms - p.ed_times_ms > 20.0) & (p.r_times_ms - p.ed_times_ms < 60.0))


def test_given_r_times_with_a_low_rate_trace_use_its_t_waves_and_bridge_dropouts() -> None:
    # A burned-in trace: R times from the trace reader, samples at 40 Hz (below the detector's range).
    fs = 40.0
    ecg = synthetic_ecg(6.0, 200.0, 65.0, noise_mv=0.0, baseline_wander_mv=0.0, rng=8)
    signal = ecg.signal[::5].copy()  # 200 Hz -> 40 Hz
    signal[100:103] = np.nan
    r = ecg.r_times_s[ecg.in_clip] * 1000.0
    p = cardiac_phases(r, np.arange(0.0, 5900.0, 40.0), ecg=signal, fs=fs)
    np.testing.assert_array_equal(p.r_times_ms, r)
    from_t = p.es_methods == "t_wave_end"
    assert from_t.sum() >= len(r) - 2
    t_end = ecg.t_end_s[ecg.in_clip] * 1000.0
    assert np.max(np.abs(p.es_times_ms[from_t] - t_end[from_t])) <= 2000.0 / fs


def test_r_times_from_an_ecg_signal_object_without_samples() -> None:
    signal = EcgSignal(
        np.zeros((0, 0), np.float32), 0.0, source="r_wave_time_vector", r_times_ms=np.array([100.0, 900.0])
    )
    p = cardiac_phases(None, np.arange(0.0, 1000.0, 50.0), ecg=signal)
    assert p.ed_frames.tolist() == [2, 18] and p.es_method == "hr_regression"


@pytest.mark.parametrize(
    ("r", "frames", "kwargs", "match"),
    [
        (np.array([100.0]), np.arange(0.0, 1000.0, 33.0), {}, "at least 2 R waves"),
        (np.array([100.0, 900.0]), np.array([0.0]), {}, "at least 2 frames"),
        (np.array([100.0, 900.0]), np.array([0.0, 33.0, 20.0, 60.0]), {}, "frame times must increase"),
        (np.array([900.0, 100.0]), np.arange(0.0, 1000.0, 33.0), {}, "R times must increase"),
        (
            np.array([100.0, 900.0]),
            np.arange(0.0, 1000.0, 33.0),
            {"ed_reference": "qrs_onset"},
            "needs the ECG",
        ),
        (np.array([100.0, 900.0]), np.arange(0.0, 1000.0, 33.0), {"ed_reference": "p_wave"}, "ed_reference"),
        (None, np.arange(0.0, 1000.0, 33.0), {}, "R times or an ECG"),
    ],
)
def test_bad_input_gives_clear_errors(r, frames, kwargs, match) -> None:
    with pytest.raises(ECGError, match=match):
        cardiac_phases(r, frames, **kwargs)


def test_ecg_shorter_than_the_cine_is_refused() -> None:
    ecg = synthetic_ecg(2.0, 500.0, 70.0, rng=1)
    with pytest.raises(EchoDataError, match="the ECG covers 0 to 2000 ms but the cine runs from 0 to 3967"):
        cardiac_phases(None, np.arange(0.0, 4000.0, 1000.0 / 30), ecg=ecg.signal, fs=500.0)
    with pytest.raises(ECGError, match="sampling rate"):
        cardiac_phases(None, np.arange(0.0, 1000.0, 33.0), ecg=ecg.signal)


def test_real_twelve_lead_ecg_gives_plausible_stable_qt() -> None:
    ds = pydicom.dcmread(get_testdata_file("waveform_ecg.dcm"))
    leads = ds.waveform_array(0).T  # (12, 10000), 1 kHz, about 61 bpm
    for k in (1, 10):  # lead II, V5
        r = detect_r_peaks(leads[k], 1000.0).indices
        qt = detect_t_wave_end(leads[k], 1000.0, r) - detect_qrs_onset(leads[k], 1000.0, r)
        qt = qt[np.isfinite(qt)]
        assert len(qt) >= 8
        assert 330.0 < np.median(qt) < 420.0 and np.ptp(qt) < 50.0  # ms; normal QT at 61 bpm
    p = cardiac_phases(None, np.arange(0.0, 9900.0, 1000.0 / 30), ecg=leads, fs=1000.0)
    assert p.es_method == "t_wave_end" and len(p.cycles) >= 8
    systole = p.es_times_ms - p.r_times_ms
    assert np.all((systole > 250.0) & (systole < 400.0))
