"""Is this ECG good enough to gate a cine on? Checks that let callers fall back instead of guessing.

The checks are deliberately simple and each yields a reason a user can act on:

* too short (under ``min_duration_s``), non-finite samples;
* flat line (no variation at all, or constant stretches of at least 1 s covering half the record,
  e.g. a lead-off);
* clipped (the fraction of samples sitting on the minimum or maximum value, in runs of 2 or more);
* too noisy: the beat-synchronous SNR, ``10 log10(var(template) / median residual power)`` over
  +-250 ms around each detected R peak (QRS and most of the T wave), where the template is the median
  beat; the median over beats keeps occasional ectopic beats from counting as noise;
* no usable rhythm: fewer than two beats, or a median heart rate outside 25-250 bpm.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from echo_monai.ecg.rpeaks import detect_r_peaks
from echo_monai.errors import ECGError

__all__ = ["ECGQuality", "ecg_quality"]


@dataclass
class ECGQuality:
    """Verdict on one ECG lead.

    Attributes:
        usable: True when no check failed.
        reasons: one phrase per failed check (empty when usable).
        duration_s: length, s.
        snr_db: beat-synchronous signal-to-noise ratio, dB (NaN when fewer than 3 beats were found).
        clipped_fraction: fraction of samples on the minimum or maximum value (runs of >= 2 samples).
        flat_fraction: fraction of samples in constant stretches of at least 1 s.
        heart_rate_bpm: median heart rate of the detected beats (NaN with fewer than 2 beats).
        n_beats: number of detected beats.
        lead: the lead assessed (for multi-lead input: the best one).
    """

    usable: bool
    reasons: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    snr_db: float = float("nan")
    clipped_fraction: float = 0.0
    flat_fraction: float = 0.0
    heart_rate_bpm: float = float("nan")
    n_beats: int = 0
    lead: int = 0

    def raise_if_unusable(self, path: str | None = None) -> None:
        """Raise :class:`ECGError` listing the reasons when the ECG is not usable."""
        if not self.usable:
            raise ECGError(path, "ECG unusable for gating: " + "; ".join(self.reasons))


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start indices and lengths of the runs of True in a 1-D boolean mask."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    starts = np.flatnonzero(edges == 1)
    return starts, np.flatnonzero(edges == -1) - starts


def _clipped_fraction(x: np.ndarray) -> float:
    lo, hi = x.min(), x.max()
    tol = 1e-6 * (hi - lo)
    total = 0
    for rail in (np.abs(x - hi) <= tol, np.abs(x - lo) <= tol):
        _, lengths = _runs(rail)
        total += int(lengths[lengths >= 2].sum())
    return total / len(x)


def _flat_fraction(x: np.ndarray, fs: float) -> float:
    _, steps = _runs(np.diff(x) == 0)
    constant = steps + 1  # n equal steps join n + 1 equal samples
    return float(constant[constant >= fs].sum()) / len(x)


def _snr_db(x: np.ndarray, peaks: np.ndarray, fs: float) -> float:
    half = round(0.25 * fs)
    peaks = peaks[(peaks >= half) & (peaks < len(x) - half)]
    if len(peaks) < 3:
        return float("nan")
    beats = x[peaks[:, None] + np.arange(-half, half + 1)[None, :]]
    beats = beats - np.median(beats, axis=1, keepdims=True)  # remove each beat's baseline offset
    template = np.median(beats, axis=0)
    residual = np.median(np.mean((beats - template) ** 2, axis=1))
    power = np.var(template)
    if power <= 0:
        return float("-inf")
    return float(10 * np.log10(power / max(residual, 1e-12 * power)))


def _assess(x: np.ndarray, fs: float, min_duration_s: float, min_snr_db: float, lead: int) -> ECGQuality:
    q = ECGQuality(usable=True, duration_s=len(x) / fs, lead=lead)
    bad = ~np.isfinite(x)
    if bad.mean() > 0.05:
        q.reasons.append(f"{100 * bad.mean():.0f}% of samples missing (NaN)")
        q.usable = False
        return q
    if bad.any():
        good = np.flatnonzero(~bad)
        x = x.copy()
        x[bad] = np.interp(np.flatnonzero(bad), good, x[good])
    if q.duration_s < min_duration_s:
        q.reasons.append(f"too short ({q.duration_s:.2f} s, need {min_duration_s:g} s)")
    if np.ptp(x) == 0:
        q.reasons.append("flat line")
        q.flat_fraction = 1.0
        q.usable = False
        return q
    q.clipped_fraction = _clipped_fraction(x)
    q.flat_fraction = _flat_fraction(x, fs)
    if q.clipped_fraction > 0.10:
        q.reasons.append(f"clipped {100 * q.clipped_fraction:.0f}% of samples")
    if q.flat_fraction > 0.5:
        q.reasons.append(f"flat line over {100 * q.flat_fraction:.0f}% of the recording")
    if not 50.0 <= fs <= 5000.0:
        q.reasons.append(f"sampling rate {fs:g} Hz unsupported (50-5000 Hz)")
    elif q.duration_s >= 1.0:
        peaks = detect_r_peaks(x, fs)
        q.n_beats = len(peaks.indices)
        q.heart_rate_bpm = peaks.heart_rate_bpm
        q.snr_db = _snr_db(x - np.median(x), peaks.indices, fs)
        if q.n_beats < 2:
            q.reasons.append(f"no regular beats found ({q.n_beats} R peaks)")
        elif not 25.0 <= q.heart_rate_bpm <= 250.0:
            q.reasons.append(f"implausible heart rate ({q.heart_rate_bpm:.0f} bpm)")
        if np.isfinite(q.snr_db) and q.snr_db < min_snr_db:
            q.reasons.append(f"too noisy (SNR {q.snr_db:.1f} dB)")
    q.usable = not q.reasons
    return q


def ecg_quality(
    signal: np.ndarray, fs: float, *, min_duration_s: float = 1.0, min_snr_db: float = 3.0
) -> ECGQuality:
    """Assess whether an ECG can be used to find R peaks and cardiac phases.

    Args:
        signal: shape (n,) or (n_leads, n), any amplitude unit.
        fs: sampling rate, Hz.
        min_duration_s: shorter recordings are "too short".
        min_snr_db: lower beat-synchronous SNR is "too noisy".

    Returns:
        :class:`ECGQuality`; for multi-lead input, the verdict on the best lead (usable first, then the
        highest SNR).

    Raises:
        ECGError: only for a malformed call (not an array of samples, or a non-positive sampling rate);
            a bad recording is reported in the result instead.
    """
    x = np.asarray(signal)
    if x.ndim not in (1, 2) or x.size == 0 or not np.issubdtype(x.dtype, np.number):
        raise ECGError(
            None, f"ECG must be a numeric array of shape (n,) or (n_leads, n), got {x.shape} {x.dtype}"
        )
    if not np.isfinite(fs) or fs <= 0:
        raise ECGError(None, f"invalid ECG sampling rate {fs} Hz")
    leads = x.astype(np.float64)[None, :] if x.ndim == 1 else x.astype(np.float64)
    results = [_assess(lead, float(fs), min_duration_s, min_snr_db, k) for k, lead in enumerate(leads)]
    return max(results, key=lambda q: (q.usable, np.nan_to_num(q.snr_db, nan=-np.inf)))
