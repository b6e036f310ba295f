"""Tests of the ECG quality gate: each failure mode gives its own reason, good ECG passes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from echo_monai.ecg.quality import ecg_quality
from echo_monai.ecg.wfdb_format import read_wfdb_record
from echo_monai.errors import ECGError
from echo_monai.synthetic.ecg import synthetic_ecg


@pytest.mark.parametrize("fs", [128.0, 500.0, 1000.0])
def test_good_ecg_is_usable(fs: float) -> None:
    ecg = synthetic_ecg(10.0, fs, 70.0, ectopic_prob=0.2, rng=1)
    q = ecg_quality(ecg.signal, fs)
    assert q.usable and q.reasons == []
    assert q.snr_db > 10.0 and q.n_beats >= 10
    assert q.heart_rate_bpm == pytest.approx(70.0, rel=0.1)
    q.raise_if_unusable()  # does not raise


def test_real_mitbih_minute_is_usable(mitbih_dir: Path) -> None:
    signal, fs, _ = read_wfdb_record(mitbih_dir / "100")
    q = ecg_quality(signal[0, : int(60 * fs)], fs)
    assert q.usable and q.snr_db > 10.0


def test_flat_line() -> None:
    q = ecg_quality(np.full(5000, 0.3), 500.0)
    assert not q.usable and q.reasons == ["flat line"]
    with pytest.raises(ECGError, match="flat line"):
        q.raise_if_unusable("ecg.dcm")


def test_lead_off_after_two_seconds_is_mostly_flat() -> None:
    x = synthetic_ecg(10.0, 250.0, 70.0, rng=2).signal
    x[500:] = x[499]
    q = ecg_quality(x, 250.0)
    assert not q.usable and q.flat_fraction == pytest.approx(0.8, abs=0.01)
    assert any(r.startswith("flat line over 80%") for r in q.reasons)


def test_clipped_ecg_reports_the_clipped_fraction() -> None:
    x = np.clip(synthetic_ecg(10.0, 250.0, 70.0, rng=3).signal, -0.1, 0.15)
    q = ecg_quality(x, 250.0)
    assert not q.usable and q.clipped_fraction > 0.1
    assert any(r.startswith("clipped") and "% of samples" in r for r in q.reasons)
    # Only the R tops clipped (as on a burned-in trace) is still usable.
    tops = np.clip(synthetic_ecg(10.0, 250.0, 70.0, rng=3).signal, None, 0.9)
    assert ecg_quality(tops, 250.0).usable


@pytest.mark.parametrize("kind", ["white", "brown"])
def test_pure_noise_is_too_noisy(kind: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(5000)
    if kind == "brown":
        x = np.cumsum(x)
    q = ecg_quality(x, 500.0)
    assert not q.usable and q.snr_db < 0.0
    assert any(r.startswith("too noisy (SNR") for r in q.reasons)


def test_very_noisy_ecg_is_flagged_but_moderate_noise_is_not() -> None:
    assert not ecg_quality(synthetic_ecg(10.0, 500.0, 70.0, noise_mv=0.4, rng=4).signal, 500.0).usable
    assert ecg_quality(synthetic_ecg(10.0, 500.0, 70.0, noise_mv=0.08, rng=4).signal, 500.0).usable


def test_too_short_and_missing_samples() -> None:
    q = ecg_quality(synthetic_ecg(0.8, 500.0, 70.0, rng=5).signal, 500.0)
    assert not q.usable and q.reasons[0].startswith("too short (0.80 s")
    x = synthetic_ecg(10.0, 500.0, 70.0, rng=5).signal
    x[: len(x) // 2] = np.nan
    q = ecg_quality(x, 500.0)
    assert not q.usable and "missing" in q.reasons[0]


def test_multi_lead_picks_the_usable_lead() -> None:
    good = synthetic_ecg(10.0, 500.0, 70.0, rng=6).signal
    leads = np.stack([np.zeros_like(good), good])
    q = ecg_quality(leads, 500.0)
    assert q.usable and q.lead == 1


def test_malformed_calls_raise() -> None:
    with pytest.raises(ECGError):
        ecg_quality(np.zeros((2, 2, 2)), 500.0)
    with pytest.raises(ECGError):
        ecg_quality(np.zeros(1000), 0.0)
