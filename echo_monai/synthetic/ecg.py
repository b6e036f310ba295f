"""Synthetic single-lead ECG with known beat timing, for tests, benchmarks and synthetic cines.

Each beat is a sum of Gaussian waves placed in time relative to its R peak, in the spirit of McSharry et
al.'s ECGSYN (IEEE TBME 2003) but built directly in the time domain so that every fiducial point is
known exactly:

* P wave (sinus beats only), Q, R, S: fixed widths; the PR interval shortens slightly with heart rate.
* T wave: an asymmetric Gaussian whose end follows the QT interval from **Fridericia's** formula
  ``QT = QTc * RR ** (1/3)`` with ``QTc = 0.40 s`` (Bazett over-shortens QT at high rates). The T end
  is defined as the tangent-method end (where the tangent at the steepest point of the descending limb
  meets the baseline), i.e. the T peak plus twice the descending width.
* Premature ventricular contractions (``beat_types == "V"``): early (coupling 60 % of the RR, at least
  350 ms or 80 % of the RR at fast rates), wide (~140 ms) QRS of random polarity, no P wave, discordant
  T wave and a full compensatory pause (the next sinus beat falls two sinus RR intervals after the last
  sinus beat).

Timing convention: the clip starts ``start_offset_s`` seconds after an R peak, so the underlying rhythm
extends before t = 0. The beat arrays list every beat whose P-QRS-T complex overlaps the clip, so the
first R time (and its onsets) may be negative and the last beat's T end may lie after the clip end. All
times are in seconds from sample 0. Use :attr:`SyntheticECG.in_clip` to keep only R peaks inside the clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from echo_monai.errors import ECGError

__all__ = ["QTC_S", "SyntheticECG", "fridericia_qt_s", "synthetic_ecg"]

#: Rate-corrected QT interval used for every synthetic sinus beat (seconds).
QTC_S = 0.40


def _pvc_coupling_s(rr_s: float) -> float:
    """PVC R time after the preceding sinus R: 60 % of the RR, but not before 350 ms (R-on-T) unless
    the rate forces it (then 80 % of the RR)."""
    return max(0.6 * rr_s, min(0.8 * rr_s, 0.35))


_QRS_ONSET_BEFORE_R_S = 0.040  # sinus beat: Q wave starts 40 ms before the R apex
_PVC_QRS_ONSET_BEFORE_R_S = 0.075  # PVC: wide QRS, onset 75 ms before its apex


def fridericia_qt_s(rr_s: np.ndarray | float, qtc_s: float = QTC_S) -> np.ndarray:
    """QT interval (s) from the RR interval (s) by Fridericia's formula ``QT = QTc * RR ** (1/3)``."""
    return qtc_s * np.cbrt(np.asarray(rr_s, dtype=np.float64))


@dataclass
class SyntheticECG:
    """A synthetic single-lead ECG and its exact beat annotations.

    Attributes:
        signal: shape (n,), float32, millivolts.
        fs: sampling rate, Hz.
        r_times_s: (n_beats,) R apex times in s from sample 0 (may be < 0 or >= duration, see module doc).
        qrs_onset_s: (n_beats,) QRS onset times, s.
        t_end_s: (n_beats,) T-wave end times (tangent definition), s.
        p_onset_s: (n_beats,) P-wave onset times, s; NaN for beats without a P wave (PVCs).
        beat_types: (n_beats,) ``"N"`` (sinus) or ``"V"`` (PVC), MIT-BIH beat symbols.
        start_offset_s: time from the last R peak before the clip to sample 0, s.
        heart_rate_bpm: the requested mean sinus heart rate.
        qt_formula: the QT-rate relation used (``"fridericia"``).
        polarity: +1, or -1 for an inverted lead.
    """

    signal: np.ndarray
    fs: float
    r_times_s: np.ndarray
    qrs_onset_s: np.ndarray
    t_end_s: np.ndarray
    p_onset_s: np.ndarray
    beat_types: np.ndarray
    start_offset_s: float
    heart_rate_bpm: float
    qt_formula: str = "fridericia"
    polarity: int = 1

    @property
    def duration_s(self) -> float:
        return self.signal.shape[0] / self.fs

    @property
    def in_clip(self) -> np.ndarray:
        """(n_beats,) bool: R peak inside the clip, ``0 <= r < duration``."""
        return (self.r_times_s >= 0.0) & (self.r_times_s < self.duration_s)

    @property
    def r_indices(self) -> np.ndarray:
        """int64 sample index nearest to each R peak inside the clip."""
        r = self.r_times_s[self.in_clip]
        return np.minimum(np.round(r * self.fs).astype(np.int64), self.signal.shape[0] - 1)


def _as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _gauss(t: np.ndarray, centre: float, sigma: float, amp: float) -> np.ndarray:
    return amp * np.exp(-0.5 * ((t - centre) / sigma) ** 2)


def _asym_gauss(t: np.ndarray, peak: float, sigma_up: float, sigma_down: float, amp: float) -> np.ndarray:
    sigma = np.where(t < peak, sigma_up, sigma_down)
    return amp * np.exp(-0.5 * ((t - peak) / sigma) ** 2)


def _validate(
    duration_s: float, fs: float, heart_rate_bpm: float, rr_std: float, ectopic_prob: float
) -> None:
    if not np.isfinite(duration_s) or duration_s <= 0:
        raise ECGError(None, f"synthetic ECG duration must be positive, got {duration_s} s")
    if not np.isfinite(fs) or not 50.0 <= fs <= 5000.0:
        raise ECGError(None, f"synthetic ECG sampling rate must be 50-5000 Hz, got {fs} Hz")
    if not np.isfinite(heart_rate_bpm) or not 30.0 <= heart_rate_bpm <= 220.0:
        raise ECGError(None, f"synthetic heart rate must be 30-220 bpm, got {heart_rate_bpm}")
    if not np.isfinite(rr_std) or rr_std < 0 or rr_std > 0.2 * 60.0 / heart_rate_bpm:
        raise ECGError(None, f"rr_std must be between 0 and 20 % of the mean RR, got {rr_std} s")
    if not 0.0 <= ectopic_prob <= 0.5:
        raise ECGError(None, f"ectopic_prob must be in [0, 0.5], got {ectopic_prob}")


def _beat_times(
    duration_s: float,
    rr_mean: float,
    rr_std: float,
    ectopic_prob: float,
    start_offset_s: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R times (s, may be < 0), beat types and the sinus RR governing each beat's QT."""
    # Sinus RR: respiratory sinus arrhythmia (0.2-0.3 Hz) plus white jitter, together of std rr_std.
    n_max = int(np.ceil((duration_s + start_offset_s + 4.0) / (0.6 * rr_mean))) + 4
    resp_hz = rng.uniform(0.2, 0.3)
    resp_phase = rng.uniform(0.0, 2 * np.pi)
    k = np.arange(n_max)
    rsa = np.sqrt(2.0) * np.sin(2 * np.pi * resp_hz * k * rr_mean + resp_phase)  # unit std
    sinus_rr = rr_mean + rr_std * (np.sqrt(0.5) * rsa + np.sqrt(0.5) * rng.standard_normal(n_max))
    sinus_rr = np.clip(sinus_rr, 0.8 * rr_mean, 1.2 * rr_mean)

    # Start one sinus beat (the one 'start_offset_s' before the clip) plus one more for its P/T overlap.
    r_times: list[float] = [-start_offset_s - sinus_rr[0], -start_offset_s]
    types: list[str] = ["N", "N"]
    gov_rr: list[float] = [sinus_rr[0], sinus_rr[0]]
    i = 1
    t_end_limit = duration_s + 1.5 * rr_mean
    while r_times[-1] < t_end_limit:
        rr = sinus_rr[i % n_max]
        i += 1
        # PVCs only follow sinus beats inside the clip, so the R at -start_offset_s is always sinus and the
        # documented offset holds.
        if types[-1] == "N" and r_times[-1] >= 0 and rng.random() < ectopic_prob:
            last_sinus = r_times[-1]
            r_times.append(last_sinus + _pvc_coupling_s(rr))
            types.append("V")
            gov_rr.append(rr)
            r_times.append(last_sinus + 2.0 * rr)  # full compensatory pause
            types.append("N")
            gov_rr.append(rr)
        else:
            r_times.append(r_times[-1] + rr)
            types.append("N")
            gov_rr.append(rr)
    return np.asarray(r_times), np.asarray(types), np.asarray(gov_rr)


def synthetic_ecg(
    duration_s: float,
    fs: float = 500.0,
    heart_rate_bpm: float = 70.0,
    *,
    rr_std: float = 0.03,
    ectopic_prob: float = 0.0,
    noise_mv: float = 0.02,
    baseline_wander_mv: float = 0.1,
    powerline_mv: float = 0.0,
    t_wave_scale: float = 1.0,
    invert: bool = False,
    start_offset_s: float | None = None,
    rng: np.random.Generator | int | None = None,
    powerline_hz: float = 50.0,
) -> SyntheticECG:
    """Generate a single-lead ECG (lead II-like) with exactly known R, QRS onset, T end and P onset.

    Args:
        duration_s: clip length, s.
        fs: sampling rate, Hz (checked 100-1000 Hz; 50-5000 accepted).
        heart_rate_bpm: mean sinus rate (45-150 bpm is the intended range; 30-220 accepted).
        rr_std: standard deviation of the sinus RR intervals, s (respiratory arrhythmia + jitter).
        ectopic_prob: probability that a sinus beat is followed by a PVC.
        noise_mv: standard deviation of white measurement noise, mV.
        baseline_wander_mv: peak amplitude of the respiratory / motion baseline wander (0.05-0.5 Hz), mV.
        powerline_mv: amplitude of mains interference at ``powerline_hz``, mV.
        t_wave_scale: multiplies the T-wave amplitude (e.g. 3 for hyperacute T waves taller than R).
        invert: flip the lead's polarity (dominant deflection negative).
        start_offset_s: time from the last R peak before the clip to the first sample, s; ``None`` draws it
            uniformly in [0, RR). ``0`` puts an R peak exactly at t = 0.
        rng: a ``numpy.random.Generator`` or a seed.
        powerline_hz: mains frequency, Hz.

    Returns:
        :class:`SyntheticECG` with the signal (float32, mV) and the beat annotations.

    Raises:
        ECGError: for out-of-range parameters.
    """
    _validate(duration_s, fs, heart_rate_bpm, rr_std, ectopic_prob)
    gen = _as_rng(rng)
    rr_mean = 60.0 / heart_rate_bpm
    if start_offset_s is None:
        start_offset_s = float(gen.uniform(0.0, rr_mean))
    elif not np.isfinite(start_offset_s) or start_offset_s < 0:
        raise ECGError(None, f"start_offset_s must be >= 0, got {start_offset_s}")

    r_times, types, gov_rr = _beat_times(
        duration_s, rr_mean, rr_std, ectopic_prob, float(start_offset_s), gen
    )

    n = round(float(duration_s) * float(fs))
    if n < 2:
        raise ECGError(None, f"a {duration_s} s synthetic ECG at {fs} Hz has fewer than 2 samples")
    t = np.arange(n, dtype=np.float64) / fs
    x = np.zeros(n, dtype=np.float64)

    qt = fridericia_qt_s(gov_rr)
    qrs_onset = np.empty_like(r_times)
    t_end = np.empty_like(r_times)
    p_onset = np.full_like(r_times, np.nan)
    pvc_polarity = np.where(gen.random(len(r_times)) < 0.5, 1.0, -1.0)
    amp_mod = 1.0 + 0.05 * np.sin(2 * np.pi * 0.25 * r_times + gen.uniform(0, 2 * np.pi))  # respiration
    for b, (r, kind) in enumerate(zip(r_times, types)):
        a = amp_mod[b]
        if kind == "N":
            qrs_onset[b] = r - _QRS_ONSET_BEFORE_R_S
            # PR interval (P onset to QRS onset) 160 ms at 70 bpm, shorter at faster rates.
            pr = 0.16 * np.sqrt(min(gov_rr[b], 1.2) / 0.857)
            p_sigma = 0.022
            p_onset[b] = qrs_onset[b] - pr
            p_centre = p_onset[b] + 2.5 * p_sigma  # the Gaussian is < 5 % of its peak before the onset
            t_down = 0.04 * qt[b] / QTC_S
            t_up = 1.6 * t_down
            t_end[b] = qrs_onset[b] + qt[b]
            t_peak = t_end[b] - 2.0 * t_down
            waves = [
                (_gauss, (p_centre, p_sigma, 0.15 * a)),
                (_gauss, (r - 0.024, 0.007, -0.12 * a)),
                (_gauss, (r, 0.010, 1.2 * a)),
                (_gauss, (r + 0.026, 0.008, -0.28 * a)),
                (_asym_gauss, (t_peak, t_up, t_down, 0.30 * t_wave_scale * a)),
            ]
            lo, hi = p_onset[b] - 0.05, t_end[b] + 0.2
        else:
            s = pvc_polarity[b]
            qrs_onset[b] = r - _PVC_QRS_ONSET_BEFORE_R_S
            qt_v = qt[b] + 0.06  # wide QRS prolongs QT
            t_down = 0.05
            t_end[b] = qrs_onset[b] + qt_v
            t_peak = t_end[b] - 2.0 * t_down
            waves = [
                (_gauss, (r, 0.030, 1.5 * s * a)),
                (_gauss, (r + 0.065, 0.025, -0.35 * s * a)),
                (_asym_gauss, (t_peak, 0.08, t_down, -0.45 * s * t_wave_scale * a)),
            ]
            lo, hi = qrs_onset[b] - 0.1, t_end[b] + 0.2
        i0, i1 = max(0, int(np.floor(lo * fs))), min(n, int(np.ceil(hi * fs)) + 1)
        if i1 <= i0:
            continue
        tb = t[i0:i1]
        for fn, args in waves:
            x[i0:i1] += fn(tb, *args)

    # Keep the beats whose complex overlaps the clip (P onset / QRS onset before the end, T end after 0).
    first_wave = np.where(np.isnan(p_onset), qrs_onset, p_onset)
    keep = (t_end > 0.0) & (first_wave < duration_s)

    if baseline_wander_mv > 0:
        freqs = gen.uniform(0.05, 0.5, size=3)
        phases = gen.uniform(0, 2 * np.pi, size=3)
        wander = sum(np.sin(2 * np.pi * f * t + p) for f, p in zip(freqs, phases))
        x += baseline_wander_mv * wander / 3.0
    if powerline_mv > 0:
        x += powerline_mv * np.sin(2 * np.pi * powerline_hz * t + gen.uniform(0, 2 * np.pi))
    if noise_mv > 0:
        x += noise_mv * gen.standard_normal(n)
    polarity = -1 if invert else 1
    x *= polarity

    return SyntheticECG(
        signal=x.astype(np.float32),
        fs=float(fs),
        r_times_s=r_times[keep],
        qrs_onset_s=qrs_onset[keep],
        t_end_s=t_end[keep],
        p_onset_s=p_onset[keep],
        beat_types=types[keep],
        start_offset_s=float(start_offset_s),
        heart_rate_bpm=float(heart_rate_bpm),
        polarity=polarity,
    )
