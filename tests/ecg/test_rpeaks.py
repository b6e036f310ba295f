"""Tests of R-peak detection on real MIT-BIH and DICOM ECGs and on synthetic ECG with known R times."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from echo_monai.ecg.rpeaks import detect_r_peaks, match_beats
from echo_monai.ecg.wfdb_format import BEAT_SYMBOLS, read_wfdb_annotations, read_wfdb_record
from echo_monai.errors import ECGError
from echo_monai.synthetic.ecg import synthetic_ecg


@pytest.mark.parametrize("record", ["100", "104"])  # clean sinus; paced with muscle noise
def test_mitbih_records_meet_the_aami_targets(mitbih_dir: Path, record: str) -> None:
    signal, fs, _ = read_wfdb_record(mitbih_dir / record)
    samples, symbols = read_wfdb_annotations(mitbih_dir / record)
    reference = samples[np.isin(symbols, list(BEAT_SYMBOLS))]
    peaks = detect_r_peaks(signal[0], fs)
    m = match_beats(peaks.indices, reference, fs)
    assert m.sensitivity >= 0.995 and m.positive_predictivity >= 0.995
    assert np.median(np.abs(m.errors_ms)) <= 10.0
    assert peaks.indices.dtype == np.int64 and peaks.lead == 0
    assert 60.0 < peaks.heart_rate_bpm < 90.0


@pytest.mark.parametrize("fs", [100.0, 128.0, 250.0, 500.0, 1000.0])
def test_synthetic_ecg_with_noise_wander_and_pvcs_at_any_rate(fs: float) -> None:
    n_ref = tp = fp = 0
    errors = []
    for hr, seed in ((48.0, 1), (75.0, 2), (140.0, 3)):
        ecg = synthetic_ecg(40.0, fs, hr, noise_mv=0.05, baseline_wander_mv=0.4, ectopic_prob=0.1, rng=seed)
        reference = ecg.r_times_s[ecg.in_clip]
        peaks = detect_r_peaks(ecg.signal, fs)
        m = match_beats(peaks.times_s * 1000.0, reference * 1000.0, 1000.0)
        n_ref, tp, fp = n_ref + len(reference), tp + m.tp, fp + m.fp
        errors.append(m.errors_ms)
    err = np.concatenate(errors)
    assert tp / n_ref >= 0.99 and tp / (tp + fp) >= 0.99
    # The apex, not a delayed point: median error within a sample, no systematic lag.
    assert np.median(np.abs(err)) <= max(2.0, 1000.0 / fs)
    assert abs(np.median(err)) <= 1000.0 / fs


def test_inverted_lead_large_t_waves_and_amplitude_units() -> None:
    base = {"noise_mv": 0.02, "baseline_wander_mv": 0.1, "rng": 9}
    upright = synthetic_ecg(30.0, 500.0, 80.0, **base)
    ref = upright.r_indices
    inverted = detect_r_peaks(synthetic_ecg(30.0, 500.0, 80.0, invert=True, **base).signal, 500.0)
    up = detect_r_peaks(upright.signal, 500.0)
    assert up.polarity == 1 and inverted.polarity == -1 and np.all(up.quality > 0.9)
    assert len(up.indices) == len(ref) and np.max(np.abs(up.indices - ref)) <= 1  # noise: +-1 sample
    np.testing.assert_array_equal(inverted.indices, up.indices)
    # ADC counts instead of mV: same beats.
    np.testing.assert_array_equal(detect_r_peaks(upright.signal * 1000.0 + 2048.0, 500.0).indices, up.indices)
    tall_t = synthetic_ecg(30.0, 500.0, 80.0, t_wave_scale=4.0, **base)
    assert tall_t.signal.max() > tall_t.signal[tall_t.r_indices].max()  # T waves taller than R waves
    tall_peaks = detect_r_peaks(tall_t.signal, 500.0).indices
    assert len(tall_peaks) == len(tall_t.r_indices) and np.max(np.abs(tall_peaks - tall_t.r_indices)) <= 1


def test_twelve_lead_dicom_ecg_gives_the_same_beats_in_most_leads() -> None:
    ds = pydicom.dcmread(get_testdata_file("waveform_ecg.dcm"))
    fs = float(ds.WaveformSequence[0].SamplingFrequency)
    leads = ds.waveform_array(0).T  # (12, 10000), 1 kHz
    per_lead = [detect_r_peaks(lead, fs).indices for lead in leads]
    reference = per_lead[1]  # lead II
    assert 8 <= len(reference) <= 14  # 10 s of sinus rhythm
    agreeing = 0
    for peaks in per_lead:
        if len(peaks) == len(reference) and np.max(np.abs(peaks - reference)) <= 15:  # ms at 1 kHz
            agreeing += 1
    assert agreeing >= 10
    combined = detect_r_peaks(leads, fs)
    assert 0 <= combined.lead < 12
    assert np.max(np.abs(combined.indices - reference)) <= 15


def test_match_beats_is_one_to_one_within_tolerance() -> None:
    m = match_beats(np.array([100, 104, 300, 700]), np.array([102, 310, 500]), fs=1000.0, tolerance_ms=50.0)
    # 102 matches 100 or 104 (only one of them), 310 matches 300, 500 is missed, 700 is extra.
    assert (m.tp, m.fn, m.fp) == (2, 1, 2)
    np.testing.assert_allclose(np.sort(np.abs(m.errors_ms)), [2.0, 10.0])
    assert m.sensitivity == pytest.approx(2 / 3) and m.positive_predictivity == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("signal", "fs", "match"),
    [
        (np.zeros(5000), 20.0, "sampling rate"),
        (np.zeros(100), 500.0, "too short"),
        (np.zeros((2, 3, 1000)), 500.0, "shape"),
        (np.full(5000, np.nan), 500.0, "NaN"),
    ],
)
def test_bad_input_raises_ecg_error(signal: np.ndarray, fs: float, match: str) -> None:
    with pytest.raises(ECGError, match=match):
        detect_r_peaks(signal, fs)


def test_short_gaps_and_flat_lines_do_not_crash() -> None:
    ecg = synthetic_ecg(10.0, 250.0, 70.0, rng=4)
    x = ecg.signal.copy()
    x[1000:1010] = np.nan  # a short dropout is bridged
    np.testing.assert_array_equal(detect_r_peaks(x, 250.0).indices, detect_r_peaks(ecg.signal, 250.0).indices)
    assert len(detect_r_peaks(np.zeros(2500), 250.0).indices) == 0


@pytest.mark.parametrize("offset_s", [0.005, 0.02, 0.05, 0.25])
@pytest.mark.parametrize("invert", [False, True])
def test_a_clip_starting_just_after_an_r_peak_or_inside_a_t_wave_gives_no_false_first_beat(
    offset_s: float, invert: bool
) -> None:
    # The R before the clip is cut off: its S wave (5-50 ms) or tall T wave (250 ms) must not count.
    for fs in (128.0, 1000.0):
        ecg = synthetic_ecg(6.0, fs, 75.0, start_offset_s=offset_s, invert=invert, t_wave_scale=3.0, rng=1)
        peaks = detect_r_peaks(ecg.signal, fs)
        m = match_beats(peaks.times_s * 1000.0, ecg.r_times_s[ecg.in_clip] * 1000.0, 1000.0)
        assert (m.fn, m.fp) == (0, 0)
