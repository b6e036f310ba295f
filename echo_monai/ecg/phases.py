"""Cardiac phases of a cine from its ECG: end-diastolic (ED) and end-systolic (ES) frames, R-R cycles.

* ED is the R peak (default) or the QRS onset (``ed_reference="qrs_onset"``, needs the ECG signal).
* ES is the end of the T wave when the ECG allows it (tangent method: the tangent at the steepest point
  of the T wave's descending limb meets the isoelectric level, taken from the PR segment), otherwise it
  comes from the heart rate with Weissler's regression of electromechanical systole,
  ``QS2 [ms] = 548 - 2.05 HR [bpm]`` measured from the QRS onset (mean of the published male and
  female regressions, Weissler et al., Circulation 1968). That gives ES at 0.42 RR after the QRS onset
  at 60 bpm and 0.56 RR at 100 bpm; a fixed fraction of the RR interval would not.
* Cycles run from one ED frame to the next; every frame gets the index of the R-R interval it lies in
  and its fractional position (phase) in it.

All times are in ms on the cine's clock (the same clock as ``frame_times_ms``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import signal as sps
from scipy.ndimage import uniform_filter1d

from echo_monai.ecg.rpeaks import detect_r_peaks
from echo_monai.errors import ECGError
from echo_monai.io.types import EcgSignal

__all__ = ["CardiacPhases", "cardiac_phases", "detect_qrs_onset", "detect_t_wave_end", "weissler_qs2_ms"]

_DEFAULT_QRS_ONSET_BEFORE_R_MS = 40.0  # used when only R times are known (typical Q onset to R apex)


def weissler_qs2_ms(heart_rate_bpm: np.ndarray | float) -> np.ndarray:
    """Electromechanical systole (QRS onset to aortic valve closure), ms, from the heart rate (bpm).

    Mean of Weissler's male (546 - 2.1 HR) and female (549 - 2.0 HR) regressions.
    """
    return 547.5 - 2.05 * np.asarray(heart_rate_bpm, dtype=np.float64)


@dataclass
class CardiacPhases:
    """ED/ES timing of a cine.

    Attributes:
        r_times_ms: (n_beats,) R times on the cine clock, including beats just outside the cine.
        ed_times_ms: (n_beats,) ED times (R peak or QRS onset).
        es_times_ms: (n_beats,) ES times (NaN where no estimate exists).
        es_methods: (n_beats,) ``"t_wave_end"`` or ``"hr_regression"`` per beat.
        ed_frames: int64 frame indices of the ED times inside the cine, increasing.
        es_frames: int64 frame indices of the ES times inside the cine, increasing.
        cycles: ``(start, end)`` frame ranges, ``start`` = an ED frame and ``end`` = the next ED frame
            (exclusive), for each R-R interval fully inside the cine.
        cycle_es_frames: (n_cycles,) ES frame of each cycle (-1 when its ES is not inside it).
        frame_cycle: (n_frames,) index of the R-R interval (``ed_times_ms[i]`` to ``[i + 1]``) holding
            each frame; -1 for frames before the first or after the last known ED (partial cycles).
        frame_phase: (n_frames,) position in the cycle, in [0, 1); for partial cycles it is estimated
            from the nearest R-R interval (``frame_cycle == -1`` marks them).
        phase_frames: (n_cycles, n_phases) nearest frame of each of ``n_phases`` evenly spaced phases
            of each cycle (empty when ``n_phases`` is None).
        phase_positions: (n_cycles, n_phases) the same as fractional frame indices (for interpolation).
        es_method: ``"t_wave_end"``, ``"hr_regression"``, or ``"mixed"`` when beats differ.
        ed_reference: ``"r_peak"`` or ``"qrs_onset"``.
        heart_rate_bpm: median heart rate.
    """

    r_times_ms: np.ndarray
    ed_times_ms: np.ndarray
    es_times_ms: np.ndarray
    es_methods: np.ndarray
    ed_frames: np.ndarray
    es_frames: np.ndarray
    cycles: list[tuple[int, int]]
    cycle_es_frames: np.ndarray
    frame_cycle: np.ndarray
    frame_phase: np.ndarray
    phase_frames: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    phase_positions: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    es_method: str = "hr_regression"
    ed_reference: str = "r_peak"
    heart_rate_bpm: float = float("nan")


def _bandpass(x: np.ndarray, fs: float, lo: float, hi: float) -> np.ndarray:
    sos = sps.butter(2, [lo, min(hi, 0.45 * fs)], btype="bandpass", fs=fs, output="sos")
    # 1 s of mirror padding (the default is a few samples) keeps the 0.5 Hz high-pass from ringing.
    return sps.sosfiltfilt(sos, x, padtype="even", padlen=min(len(x) - 1, round(fs)))


def detect_t_wave_end(signal: np.ndarray, fs: float, r_indices: np.ndarray) -> np.ndarray:
    """T-wave end of each beat by the tangent method, in (fractional) samples; NaN where not found.

    Args:
        signal: (n,) one ECG lead; fs: Hz; r_indices: (n_beats,) R apex samples, increasing.
    """
    x = _bandpass(np.asarray(signal, dtype=np.float64), fs, 0.5, 15.0)
    r = np.asarray(r_indices, dtype=np.int64)
    out = np.full(len(r), np.nan)
    if len(r) == 0:
        return out
    rr = np.diff(r)
    median_rr = float(np.median(rr)) if len(rr) else fs
    n = len(x)
    for i, ri in enumerate(r):
        beat_rr = float(rr[i]) if i < len(rr) else median_rr
        p0, p1 = ri - round(0.10 * fs), ri - round(0.05 * fs)  # PR segment: isoelectric level
        if p0 < 0:
            continue
        base = float(np.median(x[p0:p1]))
        # T peak: largest deviation from the isoelectric level after the QRS, before the next P wave.
        s0 = ri + round(0.12 * fs)
        s1 = ri + round(min(0.7 * beat_rr, 0.6 * fs))
        if s1 >= n or s1 - s0 < 3:
            continue
        dev = x[s0:s1] - base
        k_peak = s0 + int(np.argmax(np.abs(dev)))
        pol = np.sign(x[k_peak] - base)
        r_amp = abs(x[ri] - base)
        if pol == 0 or abs(x[k_peak] - base) < 0.05 * r_amp:
            continue  # no discernible T wave
        # Steepest return towards the baseline after the peak (within 200 ms, before the next QRS).
        e1 = min(k_peak + round(0.2 * fs), ri + round(0.75 * beat_rr), n - 1)
        if e1 - k_peak < 3:
            continue
        slope = np.gradient(x[k_peak : e1 + 1])
        k_steep = int(np.argmax(-pol * slope))
        d = slope[k_steep]
        if -pol * d <= 0:
            continue
        k_steep += k_peak
        t_end = k_steep + (base - x[k_steep]) / d
        if not (k_peak < t_end < ri + 0.9 * beat_rr and 0.15 * fs <= t_end - ri <= 0.7 * fs):
            continue
        out[i] = t_end
    # A flat or notched T wave gives erratic ends: drop beats whose rate-corrected QT-like interval
    # (R to T end, Fridericia-corrected) is more than 15 % from the median of the lead's beats.
    found = np.flatnonzero(np.isfinite(out))
    if len(found) >= 3:
        beat_rr_s = np.r_[rr, median_rr][found] / fs
        corrected = (out[found] - r[found]) / fs / np.cbrt(beat_rr_s)
        typical = np.median(corrected)
        out[found[np.abs(corrected - typical) > 0.15 * typical]] = np.nan
    return out


def detect_qrs_onset(signal: np.ndarray, fs: float, r_indices: np.ndarray) -> np.ndarray:
    """QRS onset of each beat (samples, fractional); NaN where not found.

    Walking back from the steepest slope before the R apex, the onset is where the slope (averaged over
    10 ms so that the zero slope at a Q-wave nadir does not stop the walk) first drops below 5 % of the
    QRS's maximum slope, within 120 ms before the apex. A small Q wave has under a tenth of the R
    wave's slope, hence the low threshold.
    """
    x = _bandpass(np.asarray(signal, dtype=np.float64), fs, 0.5, 40.0)
    smooth = max(1, round(0.01 * fs))
    slope = uniform_filter1d(np.abs(np.gradient(x)), smooth)
    out = np.full(len(r_indices), np.nan)
    w = round(0.12 * fs)
    after = round(0.06 * fs)
    for i, ri in enumerate(np.asarray(r_indices, dtype=np.int64)):
        if ri - w < 0 or ri + after >= len(x):
            continue
        seg = slope[ri - w : ri + 1]
        peak = int(np.argmax(seg))
        thr = 0.05 * max(seg[peak], slope[ri : ri + after].max())
        below = np.flatnonzero(seg[: peak + 1] < thr)
        if len(below) == 0:
            continue
        onset = ri - w + below[-1] + 0.5 * smooth  # the average spreads the onset half a window early
        if 0.01 * fs <= ri - onset <= 0.12 * fs:
            out[i] = onset
    return out


def _nearest_frame(times_ms: np.ndarray, frame_times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest frame index of each time, and whether the time lies within the cine (+- half a frame)."""
    j = np.clip(np.searchsorted(frame_times, times_ms), 1, len(frame_times) - 1)
    left, right = frame_times[j - 1], frame_times[j]
    idx = np.where(times_ms - left <= right - times_ms, j - 1, j).astype(np.int64)
    half_first = 0.5 * (frame_times[1] - frame_times[0])
    half_last = 0.5 * (frame_times[-1] - frame_times[-2])
    inside = (times_ms >= frame_times[0] - half_first) & (times_ms < frame_times[-1] + half_last)
    return idx, inside & np.isfinite(times_ms)


def _fractional_frame(times_ms: np.ndarray, frame_times: np.ndarray) -> np.ndarray:
    return np.interp(times_ms, frame_times, np.arange(len(frame_times), dtype=np.float64))


def _check_frames(frame_times_ms: np.ndarray) -> np.ndarray:
    ft = np.asarray(frame_times_ms, dtype=np.float64).ravel()
    if ft.size < 2:
        raise ECGError(None, f"cardiac phases need at least 2 frames, the cine has {ft.size}")
    if not np.all(np.isfinite(ft)):
        raise ECGError(None, "frame times contain NaN or infinite values")
    if np.any(np.diff(ft) <= 0):
        k = int(np.flatnonzero(np.diff(ft) <= 0)[0])
        raise ECGError(
            None,
            f"frame times must increase, but frame {k + 1} ({ft[k + 1]:g} ms) is not after frame {k} ({ft[k]:g} ms)",
        )
    return ft


def cardiac_phases(
    r_times_ms: np.ndarray | None,
    frame_times_ms: np.ndarray,
    *,
    ecg: np.ndarray | EcgSignal | None = None,
    fs: float | None = None,
    t0_ms: float = 0.0,
    ed_reference: str = "r_peak",
    n_phases: int | None = None,
) -> CardiacPhases:
    """ED/ES frames, R-R cycles and per-frame cardiac phase of a cine.

    Args:
        r_times_ms: (n_beats,) R times on the cine clock (ms), or ``None`` to detect them in ``ecg``.
        frame_times_ms: (n_frames,) time of each frame (ms), strictly increasing.
        ecg: the ECG, shape (n,) or (n_leads, n), or an :class:`EcgSignal` (then ``fs`` and ``t0_ms``
            come from it). Enables T-wave-end ES and QRS-onset ED.
        fs: ECG sampling rate, Hz.
        t0_ms: time of ECG sample 0 on the cine clock (negative: the ECG starts before the cine).
        ed_reference: ``"r_peak"`` or ``"qrs_onset"``.
        n_phases: if given, also return ``n_phases`` evenly spaced phases per complete cycle.

    Raises:
        ECGError: fewer than 2 R waves, fewer than 2 frames, non-increasing frame or R times, an ECG that
            does not cover the cine, or invalid arguments.
    """
    ft = _check_frames(frame_times_ms)
    if ed_reference not in ("r_peak", "qrs_onset"):
        raise ECGError(None, f"ed_reference must be 'r_peak' or 'qrs_onset', got {ed_reference!r}")
    if n_phases is not None and (int(n_phases) != n_phases or n_phases < 1):
        raise ECGError(None, f"n_phases must be a positive integer, got {n_phases}")

    lead: np.ndarray | None = None
    if isinstance(ecg, EcgSignal):
        fs, t0_ms = ecg.fs, ecg.t0_ms
        if r_times_ms is None and ecg.r_times_ms is not None and ecg.signal.size == 0:
            r_times_ms = ecg.r_times_ms
        ecg = ecg.signal if ecg.signal.size else None
    if ecg is not None:
        if fs is None or not np.isfinite(fs) or fs <= 0:
            raise ECGError(None, "an ECG signal needs its sampling rate fs (Hz)")
        sig = np.asarray(ecg, dtype=np.float64)
        if sig.ndim not in (1, 2) or sig.shape[-1] == 0:
            raise ECGError(None, f"ECG must have shape (n,) or (n_leads, n), got {sig.shape}")
        ecg_end_ms = t0_ms + sig.shape[-1] * 1000.0 / fs
        frame_dt = float(np.median(np.diff(ft)))
        if t0_ms > ft[0] + frame_dt or ecg_end_ms < ft[-1] - frame_dt:
            raise ECGError(
                None,
                f"the ECG covers {t0_ms:.0f} to {ecg_end_ms:.0f} ms but the cine runs from {ft[0]:.0f} to "
                f"{ft[-1]:.0f} ms; phases outside the ECG would be guesses",
            )
        if r_times_ms is None or (sig.ndim == 2 and sig.shape[0] > 1):
            # Detect R peaks, or (R times given) just pick the lead whose beats are most consistent.
            peaks = detect_r_peaks(sig, float(fs))
            lead = sig if sig.ndim == 1 else sig[peaks.lead]
            if r_times_ms is None:
                r_times_ms = t0_ms + peaks.indices * 1000.0 / fs
        else:
            lead = sig.reshape(-1)
        bad = ~np.isfinite(lead)
        if bad.any():  # short dropouts: bridge them so the filters do not spread NaN over the lead
            if bad.mean() > 0.05:
                raise ECGError(None, f"{100 * bad.mean():.0f}% of the ECG samples are NaN or infinite")
            good = np.flatnonzero(~bad)
            lead = lead.copy()
            lead[bad] = np.interp(np.flatnonzero(bad), good, lead[good])
    elif r_times_ms is None:
        raise ECGError(None, "cardiac phases need R times or an ECG signal")
    if ed_reference == "qrs_onset" and lead is None:
        raise ECGError(None, "ed_reference='qrs_onset' needs the ECG signal, not only R times")

    r = np.asarray(r_times_ms, dtype=np.float64).ravel()
    if not np.all(np.isfinite(r)):
        raise ECGError(None, "R times contain NaN or infinite values")
    if len(r) < 2:
        raise ECGError(None, f"cardiac phases need at least 2 R waves, found {len(r)}")
    if np.any(np.diff(r) <= 0):
        raise ECGError(None, "R times must increase")
    rr = np.diff(r)
    hr_beat = 60000.0 / np.r_[rr, np.median(rr)]  # the last beat borrows the median RR

    # QRS onset (for ED and as the start of electromechanical systole).
    qrs_onset = r - _DEFAULT_QRS_ONSET_BEFORE_R_MS
    t_end = np.full(len(r), np.nan)
    if lead is not None:
        r_samples = np.round((r - t0_ms) * fs / 1000.0).astype(np.int64)
        valid = (r_samples >= 0) & (r_samples < lead.shape[-1])
        if valid.any():
            onset = np.full(len(r), np.nan)
            tend = np.full(len(r), np.nan)
            onset[valid] = detect_qrs_onset(lead, fs, r_samples[valid])
            tend[valid] = detect_t_wave_end(lead, fs, r_samples[valid])
            found = np.isfinite(onset)
            qrs_onset[found] = t0_ms + onset[found] * 1000.0 / fs
            t_end = t0_ms + tend * 1000.0 / fs
    if ed_reference == "qrs_onset":
        ed = qrs_onset
    else:
        ed = r

    es_reg = qrs_onset + weissler_qs2_ms(hr_beat)
    use_t = np.isfinite(t_end)
    es = np.where(use_t, t_end, es_reg)
    methods = np.where(use_t, "t_wave_end", "hr_regression")
    ed_idx, ed_in = _nearest_frame(ed, ft)
    es_idx, es_in = _nearest_frame(es, ft)
    # Summarise the method of the ES frames actually reported (beats outside the ECG fall back).
    shown = methods[es_in] if es_in.any() else methods
    es_method = shown[0] if np.all(shown == shown[0]) else "mixed"

    # Cycles: consecutive ED times both inside the cine.
    cycles: list[tuple[int, int]] = []
    cycle_beats: list[int] = []
    for i in range(len(ed) - 1):
        if ed_in[i] and ed_in[i + 1] and ed_idx[i + 1] > ed_idx[i]:
            cycles.append((int(ed_idx[i]), int(ed_idx[i + 1])))
            cycle_beats.append(i)
    cycle_es = np.array(
        [es_idx[i] if es_in[i] and s <= es_idx[i] < e else -1 for (s, e), i in zip(cycles, cycle_beats)],
        dtype=np.int64,
    )

    # Per-frame R-R interval and phase. Interval boundaries are the ED *frames* (so the frame ranges agree
    # with `cycles`); an ED frame may lie up to half a frame before its ED time, hence the clip at 0.
    n_frames = len(ft)
    boundary = np.where(ed_in, ed_idx, np.where(ed < ft[0], -1, n_frames))
    frame_no = np.arange(n_frames)
    k = np.searchsorted(boundary, frame_no, side="right") - 1
    inner = (k >= 0) & (k < len(ed) - 1)
    ed_rr = np.diff(ed)
    frame_cycle = np.where(inner, k, -1).astype(np.int64)
    kk = np.clip(k, 0, len(ed) - 2)
    phase = (ft - ed[kk]) / ed_rr[kk]
    before, after = k < 0, k >= len(ed) - 1
    phase[before] = 1.0 - (ed[0] - ft[before]) / ed_rr[0]  # partial cycles: the nearest R-R interval
    phase[after] = (ft[after] - ed[-1]) / ed_rr[-1]
    phase = np.where(inner, np.clip(phase, 0.0, np.nextafter(1.0, 0.0)), np.mod(phase, 1.0))

    result = CardiacPhases(
        r_times_ms=r,
        ed_times_ms=ed,
        es_times_ms=es,
        es_methods=methods,
        ed_frames=np.unique(ed_idx[ed_in]),
        es_frames=np.unique(es_idx[es_in]),
        cycles=cycles,
        cycle_es_frames=cycle_es,
        frame_cycle=frame_cycle,
        frame_phase=phase,
        es_method=str(es_method),
        ed_reference=ed_reference,
        heart_rate_bpm=float(60000.0 / np.median(rr)),
    )
    if n_phases is not None and cycles:
        frac = np.arange(int(n_phases)) / int(n_phases)
        times = ed[cycle_beats][:, None] + frac[None, :] * ed_rr[cycle_beats][:, None]
        result.phase_positions = _fractional_frame(times, ft)
        result.phase_frames = _nearest_frame(times.ravel(), ft)[0].reshape(times.shape)
    elif n_phases is not None:
        result.phase_frames = np.zeros((0, int(n_phases)), dtype=np.int64)
        result.phase_positions = np.zeros((0, int(n_phases)))
    return result
