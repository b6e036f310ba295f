"""Cardiac phase from the images alone: the fallback when a cine has no usable ECG.

Two per-frame signals, both high at end-diastole (ED) and low at end-systole (ES):

* ``"cavity"``: blood is dark, so the dark area inside the scan sector follows the chamber volumes. Each
  sector pixel gets a soft "dark" score per frame; the first principal component of those scores over
  time is the dominant dark-area oscillation. Ventricles and atria move in opposite phase, and PCA counts
  both coherently instead of letting them cancel as a plain dark-pixel count would.
* ``"motion"``: the first principal component of the smoothed intensities themselves (no darkness
  model), for images whose cavities are not clearly dark.

A principal component has no sign; it is chosen by a vote of three physiological cues (see
:func:`_orientation`), because any single one fails on some views (e.g. the total dark area rises in
systole where a dark exterior or the great vessels dominate).

The period comes from the signal's autocorrelation (heart rate limits ``min_hr_bpm``-``max_hr_bpm``). ED
is timed from each ejection down-stroke (its half-way crossing minus isovolumic contraction and early
ejection, a lead that grows with the period; see :func:`_ejection_ed_times`), ES from the start of each
flat bottom (:func:`_es_times`). Published ED/ES frame errors of such image-based methods are about
1 frame within one site and 3 across sites (REFERENCE.md section 3).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy import ndimage
from scipy.signal import find_peaks

from echo_monai.errors import ECGError, EchoDataError

__all__ = ["ImageCycles", "dominant_period_ms", "estimate_cycles_from_image", "image_phase_signal"]

_METHODS = ("cavity", "motion")
_WORK_SIZE = 128  # frames are block-averaged to about this many pixels on the long side
_MIN_PLATEAU_MS = 40.0  # shorter than isovolumic contraction / relaxation: not yet at the extreme
_VALVE_SWITCH_MS = 45.0  # a valve opens or closes between two frames; volume changes take >= 100 ms
_IVC_MS = 50.0  # isovolumic contraction: from ED (mitral closure) to aortic valve opening
_MAX_EJECTION_MS = 400.0  # the aortic valve is open for less than this at any heart rate
_PLATEAU_BAND = 0.02  # fraction of a cycle's excursion that counts as "at the extreme"
_ES_FRACTION = 0.1  # ES position within the flat bottom, from its start
# ED precedes the mid-point of the ejection down-stroke by isovolumic contraction plus about half of the
# ejection, and ejection lengthens with the RR interval (Weissler: LVET ~ 413 - 1.7 HR ms). Linear in the
# period, calibrated on generator cines (seed 2024 dev set; reported on another seed):
_ED_LEAD_MS = 155.0  # ED -> half-way down the ejection stroke, at a zero period
_ED_LEAD_PER_PERIOD = 0.067  # ... plus this fraction of the cardiac period
_MIN_DUTY = 0.05  # |time share above mid-range - 1/2| below which the duty-cycle cue abstains
_MIN_SKEW = 0.15  # |skewness| below which the skewness cue abstains
_DEFAULT_PERIOD_MS = 850.0  # when the clip's period cannot be measured (70 bpm)


class ImageCycles(NamedTuple):
    """Cardiac cycles found in the images.

    Attributes:
        ed_frames: (n_ed,) int64 frame indices of end-diastole (largest cavity).
        es_frames: (n_es,) int64 frame indices of end-systole (smallest cavity).
        signal: (T,) float64 phase signal (high at ED), zero mean, unit standard deviation.
        method: the signal used, ``"cavity"`` or ``"motion"``, or ``"valve"`` when the cavity signal was a
            valve's square wave and ED / ES were timed from its opening and closing.
    """

    ed_frames: np.ndarray
    es_frames: np.ndarray
    signal: np.ndarray
    method: str


# --------------------------------------------------------------------------------------------------------
# Frames, sector mask


def _grey_small(frames: np.ndarray, where: str | None) -> tuple[np.ndarray, np.ndarray, int]:
    """(T, h, w) float32 block-averaged greyscale, (h, w) bool "colour-free", and the block size."""
    f = np.asarray(frames)
    if f.ndim == 4 and f.shape[-1] == 3:
        grey = f.mean(axis=-1, dtype=np.float32)
        chroma = (f.max(axis=-1).astype(np.int16) - f.min(axis=-1)).max(axis=0) > 30
    elif f.ndim == 3:
        grey = f.astype(np.float32, copy=False)
        chroma = np.zeros(f.shape[1:], dtype=bool)
    else:
        raise EchoDataError(where, f"frames must have shape (T, H, W) or (T, H, W, 3), got {f.shape}")
    if not np.all(np.isfinite(grey)):
        raise EchoDataError(where, "frames contain NaN or infinite values")
    n, h, w = grey.shape
    k = max(1, int(np.ceil(max(h, w) / _WORK_SIZE)))
    hh, ww = h // k, w // k
    small = grey[:, : hh * k, : ww * k].reshape(n, hh, k, ww, k).mean(axis=(2, 4))
    colourless = ~chroma[: hh * k, : ww * k].reshape(hh, k, ww, k).any(axis=(1, 3))
    return small, colourless, k


def _own_sector_mask(small: np.ndarray) -> np.ndarray:
    """The largest region whose pixels change over time, closed and hole-filled: the scan sector without
    the static text and rulers (and without a burned-in trace, which is a separate thin strip)."""
    std = small.std(axis=0)
    changing = std > max(1.0, 0.1 * float(np.percentile(std, 99)))
    labels, n = ndimage.label(ndimage.binary_opening(changing, iterations=1))
    if n == 0:
        return np.zeros_like(changing)
    largest = labels == (np.argmax(np.bincount(labels.ravel())[1:]) + 1)
    closed = ndimage.binary_closing(largest, structure=np.ones((5, 5), bool), iterations=2)
    return ndimage.binary_fill_holes(closed)


def _sector_mask(
    frames: np.ndarray, small: np.ndarray, k: int, given: np.ndarray | None, where: str | None
) -> np.ndarray:
    if given is None:
        try:  # the io package's mask (convex fan, annotations and burned-in trace removed)
            from echo_monai.io.sector import scan_sector_mask
        except ImportError:
            return _own_sector_mask(small)
        try:
            given = scan_sector_mask(frames) if frames.dtype == np.uint8 else _own_sector_mask(small)
        except EchoDataError as err:
            raise EchoDataError(where, f"no moving scan sector found ({err.problem})") from err
        if given.shape != frames.shape[1:3]:
            raise EchoDataError(
                where, f"scan sector mask of shape {given.shape} for {frames.shape[1:3]} frames"
            )
        if given.shape[0] // k != small.shape[1] or given.shape[1] // k != small.shape[2]:
            return _own_sector_mask(small)
    m = np.asarray(given, dtype=bool)
    hh, ww = small.shape[1:]
    if m.shape[0] < hh * k or m.shape[1] < ww * k:
        raise EchoDataError(
            where, f"sector mask of shape {m.shape} does not match the {frames.shape[1:3]} frames"
        )
    # A block counts when most of it lies in the sector.
    return m[: hh * k, : ww * k].reshape(hh, k, ww, k).mean(axis=(1, 3)) > 0.5


# --------------------------------------------------------------------------------------------------------
# Signals


def _first_component(x: np.ndarray) -> np.ndarray:
    """Time course of the first principal component of x (T, P), via the small T x T Gram matrix."""
    xc = x - x.mean(axis=0, keepdims=True)
    gram = xc @ xc.T
    vals, vecs = np.linalg.eigh(gram)
    return vecs[:, -1] * np.sqrt(max(vals[-1], 0.0))


def _dark_scores(small: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(T, P) soft darkness in [0, 1] of the sector pixels, threshold by Otsu on the smoothed pixels."""
    smooth = ndimage.gaussian_filter(small, sigma=(0, 1.0, 1.0))
    px = smooth[:, mask]
    hist, edges = np.histogram(px, bins=64)
    centres = 0.5 * (edges[1:] + edges[:-1])
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres) / np.maximum(w0, 1)
    m1 = (np.sum(hist * centres) - np.cumsum(hist * centres)) / np.maximum(w1, 1)
    thr = float(centres[np.argmax(w0 * w1 * (m0 - m1) ** 2)])
    width = max(2.0, 0.25 * thr)
    return np.clip((thr + width - px) / (2.0 * width), 0.0, 1.0)


def image_phase_signal(
    frames: np.ndarray,
    *,
    sector_mask: np.ndarray | None = None,
    method: str = "cavity",
    frame_times_ms: Sequence[float] | np.ndarray | None = None,
    path: str | os.PathLike | None = None,
) -> np.ndarray:
    """Per-frame cardiac phase signal from the pixels, high at end-diastole, low at end-systole.

    Args:
        frames: (T, H, W) or (T, H, W, 3) cine (any numeric dtype; coloured overlay pixels are ignored).
        sector_mask: (H, W) bool scan sector; default :func:`echo_monai.io.sector.scan_sector_mask` when
            available, else the largest region of changing pixels.
        method: ``"cavity"`` (dark-area oscillation) or ``"motion"`` (dominant intensity change).
        frame_times_ms: (T,) frame times, used to compare rise and fall speeds (default: uniform).
        path: the file the frames came from, for error messages.

    Returns:
        (T,) float64, zero mean and unit standard deviation.

    Raises:
        EchoDataError: malformed frames or mask, fewer than 3 frames, or frames that do not change.
    """
    where = None if path is None else os.fspath(path)
    if method not in _METHODS:
        raise EchoDataError(where, f"image phase method must be one of {_METHODS}, got {method!r}")
    small, colourless, k = _grey_small(frames, where)
    if small.shape[0] < 3:
        raise EchoDataError(where, f"an image phase signal needs at least 3 frames, got {small.shape[0]}")
    mask = _sector_mask(np.asarray(frames), small, k, sector_mask, where) & colourless
    if np.count_nonzero(mask) < 16:
        raise EchoDataError(where, "no moving scan sector found: the frames (nearly) do not change")

    dark = _dark_scores(small, mask)
    total_dark = dark.sum(axis=1)
    if method == "cavity":
        pc = _first_component(dark)
    else:
        pc = _first_component(ndimage.gaussian_filter(small, sigma=(0, 1.0, 1.0))[:, mask])
    if not np.any(pc):
        raise EchoDataError(where, "the scan sector does not change over time; no cardiac motion to follow")
    times = np.arange(pc.shape[0], dtype=np.float64) if frame_times_ms is None else np.asarray(frame_times_ms)
    pc = pc.astype(np.float64) * _orientation(pc, total_dark, times)
    return (pc - pc.mean()) / (pc.std() + 1e-12)


def _orientation(x: np.ndarray, total_dark: np.ndarray, times: np.ndarray) -> float:
    """+1 or -1 so that ``sign * x`` is high at end-diastole: the majority of three physiological cues.

    1. The total dark area rises with the ventricles' volume (their change dominates the dark area; fails
       where the exterior of the heart is dark or vessels dominate).
    2. The ventricle spends most of the cycle near its diastolic volume (diastasis, atrial kick,
       isovolumic contraction): more time above the middle of its range than below.
    3. For the same reason the volume curve is a long plateau with a brief systolic dip: negatively
       skewed. (An earlier cue, "the E wave rises faster than ejection falls", was right in only 80 % of
       generator clips against 97 % for this one.)
    """
    c = x - x.mean()
    votes = 0.0
    if total_dark.std() > 0:
        votes += np.sign(np.corrcoef(c, total_dark)[0, 1])
    p5, p95 = np.percentile(c, [5, 95])
    duty = float(np.mean(c > 0.5 * (p5 + p95))) - 0.5
    skew = -float(np.mean(c**3)) / (float(np.mean(c**2)) ** 1.5 + 1e-12)
    # At fast heart rates diastole is short and the curve nearly symmetric: the two shape cues then
    # abstain rather than vote on noise.
    votes += np.sign(duty) if abs(duty) >= _MIN_DUTY else 0.0
    votes += np.sign(skew) if abs(skew) >= _MIN_SKEW else 0.0
    return -1.0 if votes < 0 else 1.0


# --------------------------------------------------------------------------------------------------------
# Period and cycles


def dominant_period_ms(
    signal: np.ndarray,
    frame_times_ms: np.ndarray,
    *,
    min_hr_bpm: float = 40.0,
    max_hr_bpm: float = 180.0,
) -> tuple[float, float]:
    """Dominant period (ms) of a per-frame signal and its strength (normalised autocorrelation, -1..1).

    The signal is resampled to a uniform grid at the median frame interval (frame times may be irregular);
    periods longer than 3/4 of the clip cannot be confirmed and are not considered. Returns ``(nan, 0)``
    when no period in the heart-rate range fits into the clip.
    """
    t = np.asarray(frame_times_ms, dtype=np.float64)
    dt = float(np.median(np.diff(t)))
    grid = np.arange(t[0], t[-1] + 1e-9, dt)
    x = np.interp(grid, t, signal)
    x = x - np.polyval(np.polyfit(grid, x, 1), grid)  # drift (probe motion) is not a heartbeat
    lo = int(np.floor(60000.0 / max_hr_bpm / dt))
    hi = min(int(np.ceil(60000.0 / min_hr_bpm / dt)), int(0.75 * grid.shape[0]))
    if hi <= max(lo, 2):
        return float("nan"), 0.0
    n = x.shape[0]
    ac = np.array([np.dot(x[: n - lag], x[lag:]) / (n - lag) for lag in range(hi + 2)])
    ac = ac / (ac[0] + 1e-12)
    lags = np.arange(max(lo, 2), hi + 1)
    peaks, _ = find_peaks(ac[: hi + 2])
    peaks = peaks[(peaks >= lags[0]) & (peaks <= lags[-1])]
    if peaks.size == 0:
        return float("nan"), 0.0
    best = int(peaks[np.argmax(ac[peaks])])
    # Parabolic interpolation of the autocorrelation peak for a sub-frame period.
    y0, y1, y2 = ac[best - 1], ac[best], ac[best + 1]
    denom = y0 - 2 * y1 + y2
    shift = 0.5 * (y0 - y2) / denom if denom < 0 else 0.0
    return (best + shift) * dt, float(ac[best])


def _crossing(t: np.ndarray, x: np.ndarray, i: int, j: int, level: float) -> float:
    """Time at which x crosses ``level`` between frames i and j (linear interpolation)."""
    if x[j] == x[i]:
        return 0.5 * (t[i] + t[j])
    return float(t[i] + (level - x[i]) * (t[j] - t[i]) / (x[j] - x[i]))


def _hysteresis_runs(x: np.ndarray, lo: float, hi: float) -> list[tuple[int, int, int]]:
    """(state, first, last) runs of a two-state labelling of x: +1 after reaching ``hi``, -1 after ``lo``."""
    state = 1 if x[0] >= 0.5 * (lo + hi) else -1
    labels = np.empty(x.shape[0], dtype=np.int8)
    for i, v in enumerate(x):
        if state < 0 and v >= hi:
            state = 1
        elif state > 0 and v <= lo:
            state = -1
        labels[i] = state
    edges = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges - 1, [x.shape[0] - 1]])
    return [(int(labels[a]), int(a), int(b)) for a, b in zip(starts, ends)]


def _flat_window(x: np.ndarray, centre: int, inside: np.ndarray) -> tuple[int, int]:
    """First and last frame of the contiguous run of ``inside`` around ``centre``."""
    a = centre
    while a > 0 and inside[a - 1]:
        a -= 1
    b = centre
    while b < x.shape[0] - 1 and inside[b + 1]:
        b += 1
    return a, b


def _es_times(
    t: np.ndarray,
    x: np.ndarray,
    band: float = _PLATEAU_BAND,
    es_fraction: float = _ES_FRACTION,
) -> list[float]:
    """ES times (ms) from a phase signal that is high at ED and low at ES (Wiggers timing).

    The LV volume reaches its minimum with zero slope and stays flat for a while: the flat bottom starts
    at aortic valve closure (ES) and lasts through isovolumic relaxation. A flat bottom is the run of
    frames within ``band`` of the cycle's excursion from the minimum; ES lies ``es_fraction`` of the way
    into it (near its start; calibrated on the Wiggers-timed synthetic cines, it absorbs the early entry of
    a zero-slope approach). A bottom still falling at a clip edge gives no event; one cut by the clip end
    gives its start. ED comes from the ejection stroke instead (:func:`_ejection_ed_times`).
    """
    p5, p95 = np.percentile(x, [5, 95])
    amp = p95 - p5
    runs = _hysteresis_runs(x, p5 + 0.35 * amp, p5 + 0.65 * amp)
    n = x.shape[0]
    es: list[float] = []
    for k, (state, a, b) in enumerate(runs):
        if state > 0:
            continue
        seg = x[a : b + 1]
        neighbours = [x[na : nb + 1] for _, na, nb in (runs[j] for j in (k - 1, k + 1) if 0 <= j < len(runs))]
        i = a + int(np.argmin(seg))
        excursion = (max(float(v.max()) for v in neighbours) if neighbours else p95) - x[i]
        level = x[i] + band * excursion
        w0, w1 = _flat_window(x, i, x <= level)
        if (w0 == 0 or w1 == n - 1) and t[w1] - t[w0] < _MIN_PLATEAU_MS:
            continue  # still falling or rising at the clip edge: the minimum lies outside the clip
        t_in = _crossing(t, x, w0 - 1, w0, level) if w0 > 0 else None
        t_out = _crossing(t, x, w1, w1 + 1, level) if w1 < n - 1 else None
        if t_in is not None and t_out is not None:
            es.append(t_in + es_fraction * (t_out - t_in))
        elif t_in is not None:
            es.append(t_in)
    return es


def _ejection_ed_times(t: np.ndarray, x: np.ndarray, period_ms: float) -> list[float]:
    """ED times (ms) from the ejection down-strokes of a phase signal that is high at ED.

    A flat top is a poor clock (its start and end are where noise and the atrial kick blur it), but the
    ejection stroke is the largest, steepest change of the cycle. Its half-way crossing between the top
    before it and the bottom after it is found to within a fraction of a frame; ED is that time minus
    :data:`_ED_LEAD_MS` + :data:`_ED_LEAD_PER_PERIOD` x period (isovolumic contraction and early ejection,
    longer at slower heart rates). A stroke whose top or bottom lies outside the clip gives no ED; the
    period then adds one ED after the last (before the first) found one when the signal there is still
    (already) in its high state, so that an ED in the last or first beat of the clip is not lost.
    """
    if not np.isfinite(period_ms):
        period_ms = _DEFAULT_PERIOD_MS
    lead = _ED_LEAD_MS + _ED_LEAD_PER_PERIOD * period_ms
    p5, p95 = np.percentile(x, [5, 95])
    amp = p95 - p5
    mid = p5 + 0.5 * amp
    runs = _hysteresis_runs(x, p5 + 0.35 * amp, p5 + 0.65 * amp)
    ed: list[float] = []
    for (s1, a1, b1), (_, a2, b2) in itertools.pairwise(runs):
        if s1 < 0:
            continue
        top = float(x[a1 : b1 + 1].max())
        ib = a2 + int(np.argmin(x[a2 : b2 + 1]))
        level = 0.5 * (top + float(x[ib]))
        j = ib
        while j > 0 and x[j] < level:
            j -= 1
        ed.append(_crossing(t, x, j, j + 1, level) - lead)
    if ed:
        # An extrapolated ED up to one frame interval outside the clip is reported at the end frame:
        # that frame is then within a frame of end-diastole, and the extrapolation is no more precise.
        step = float(np.median(np.diff(t)))
        nxt, prev = ed[-1] + period_ms, ed[0] - period_ms
        if nxt <= t[-1] + step and x[int(np.abs(t - nxt).argmin()) :].max() >= mid:
            ed.append(min(nxt, float(t[-1])))
        if prev >= t[0] - step and x[: int(np.abs(t - prev).argmin()) + 1].max() >= mid:
            ed.insert(0, max(prev, float(t[0])))
    return ed


def _valve_times(t: np.ndarray, x: np.ndarray) -> tuple[list[float], list[float]] | None:
    """ED and ES times when the signal is a valve's open / closed square wave, else ``None``.

    In views without a ventricle (e.g. the great-vessel short axis) the aortic valve dominates: its
    orifice opens within a frame at the end of isovolumic contraction and closes at end-systole. Every
    transition between the two states is then abrupt (25 % to 75 % of the range within two frames and
    2 x :data:`_VALVE_SWITCH_MS`), unlike the ejection stroke of a volume curve. The shorter state is ejection
    (with a single switch: the state seen for longer than :data:`_MAX_EJECTION_MS` is the closed one):
    ES is its end, ED its start minus :data:`_IVC_MS`.
    """
    p5, p95 = np.percentile(x, [5, 95])
    amp = p95 - p5
    lo, hi = p5 + 0.25 * amp, p5 + 0.75 * amp
    runs = _hysteresis_runs(x, lo, hi)
    if len(runs) < 2:
        return None
    switches = [(a, runs[k - 1][0]) for k, (_, a, _) in enumerate(runs) if k > 0]
    for a, previous in switches:
        # Within two frames: a valve that opens between frames still shows a part-open orifice in one.
        b = max(a - 2, 0)
        jumped = x[b] <= lo if previous < 0 else x[b] >= hi
        if not jumped or t[a] - t[b] > 2 * _VALVE_SWITCH_MS:
            return None
    durations = {
        -1: [t[b] - t[a] for st, a, b in runs[1:-1] if st < 0],
        1: [t[b] - t[a] for st, a, b in runs[1:-1] if st > 0],
    }
    if durations[-1] or durations[1]:
        full_lo = float(np.median(durations[-1])) if durations[-1] else np.inf
        full_hi = float(np.median(durations[1])) if durations[1] else np.inf
        open_state = -1 if full_lo <= full_hi else 1
    else:  # one switch: a state seen for longer than any ejection lasts is the closed one
        (first, a0, b0), (_, a1, b1) = runs
        if t[b0] - t[a0] > _MAX_EJECTION_MS:
            open_state = -first
        elif t[b1] - t[a1] > _MAX_EJECTION_MS:
            open_state = first
        else:
            return None
    ed: list[float] = []
    es: list[float] = []
    for a, previous in switches:
        mid = 0.5 * (t[a - 1] + t[a])
        if previous != open_state:  # the valve opens
            ed.append(mid - _IVC_MS)
        else:
            es.append(mid)
    return ed, es


def _to_frames(t: np.ndarray, events: list[float]) -> np.ndarray:
    """Nearest frame of each event within half a frame interval of the clip, unique and sorted."""
    if not events:
        return np.zeros(0, dtype=np.int64)
    ev = np.asarray(events)
    half = 0.5 * float(np.median(np.diff(t)))
    ev = ev[(ev >= t[0] - half) & (ev <= t[-1] + half)]
    return np.unique(np.abs(t[None, :] - ev[:, None]).argmin(axis=1)).astype(np.int64)


def _smoothness(x: np.ndarray) -> float:
    """Lag-1 autocorrelation: near 1 for a cardiac signal sampled at echo frame rates, ~0 for noise."""
    xc = x - x.mean()
    return float(np.dot(xc[:-1], xc[1:]) / (np.dot(xc, xc) + 1e-12))


def estimate_cycles_from_image(
    frames: np.ndarray,
    frame_times_ms: Sequence[float] | np.ndarray,
    *,
    sector_mask: np.ndarray | None = None,
    method: str = "auto",
    min_hr_bpm: float = 40.0,
    max_hr_bpm: float = 180.0,
    path: str | os.PathLike | None = None,
) -> ImageCycles:
    """End-diastolic and end-systolic frames from the images alone.

    Args:
        frames: (T, H, W) or (T, H, W, 3) cine.
        frame_times_ms: (T,) strictly increasing frame times, ms.
        sector_mask: (H, W) bool scan sector (see :func:`image_phase_signal`).
        method: ``"cavity"``, ``"motion"`` or ``"auto"`` (cavity unless its signal is not smooth and
            periodic while the motion signal is).
        min_hr_bpm, max_hr_bpm: heart rates considered plausible.
        path: the file the frames came from, for error messages.

    Returns:
        :class:`ImageCycles` ``(ed_frames, es_frames, signal, method)``. A clip shorter than a cycle may
        have an ED but no ES frame or the reverse.

    Raises:
        ECGError: clip shorter than one cycle at ``max_hr_bpm``, no cardiac motion (the signal is noise),
            or no systole or diastole inside the clip.
        EchoDataError: malformed frames or frame times, fewer than 3 frames.
    """
    where = None if path is None else os.fspath(path)
    arr = np.asarray(frames)
    times = np.asarray(frame_times_ms, dtype=np.float64).reshape(-1)
    n = int(arr.shape[0]) if arr.ndim >= 3 else 0
    if times.shape != (n,):
        raise EchoDataError(where, f"{times.shape[0]} frame times given for {n} frames")
    if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
        raise EchoDataError(where, "frame times must be finite and strictly increasing")
    if not 20.0 <= min_hr_bpm < max_hr_bpm <= 300.0:
        raise EchoDataError(where, f"heart-rate limits {min_hr_bpm}-{max_hr_bpm} bpm are not plausible")
    if method not in (*_METHODS, "auto"):
        raise EchoDataError(where, f"method must be 'auto' or one of {_METHODS}, got {method!r}")
    duration = float(times[-1] - times[0]) if n else 0.0
    if n < 3 or duration < 60000.0 / max_hr_bpm:
        raise ECGError(where, f"a {n}-frame clip of {duration:.0f} ms is shorter than one cardiac cycle")

    def score(sig: np.ndarray) -> float:
        _, strength = dominant_period_ms(sig, times, min_hr_bpm=min_hr_bpm, max_hr_bpm=max_hr_bpm)
        return _smoothness(sig) + max(strength, 0.0)

    used = "cavity" if method == "auto" else method
    sig = image_phase_signal(arr, sector_mask=sector_mask, method=used, frame_times_ms=times, path=path)
    if method == "auto" and _smoothness(sig) < 0.7:
        other = image_phase_signal(
            arr, sector_mask=sector_mask, method="motion", frame_times_ms=times, path=path
        )
        if score(other) > score(sig) + 0.1:
            used, sig = "motion", other
    if _smoothness(sig) < 0.5:
        raise ECGError(where, f"no cardiac motion found in the images (the {used} signal is noise-like)")

    valve = _valve_times(times, sig)
    if valve is not None:
        used = "valve"
    if valve is not None:
        ed_t, es_t = valve
    else:
        # ES from the flat bottom, ED from the ejection stroke (it replaced a flat-top ED: dev set 70.8 % ->
        # 78.5 % of EDs within 2 frames, see benchmarks/results/gating_pixels.md).
        es_t = _es_times(times, sig)
        period, _ = dominant_period_ms(sig, times, min_hr_bpm=min_hr_bpm, max_hr_bpm=max_hr_bpm)
        ed_t = _ejection_ed_times(times, sig, period)
    ed, es = _to_frames(times, ed_t), _to_frames(times, es_t)
    if ed.size == 0 and es.size == 0:
        raise ECGError(where, "no end-diastole or end-systole inside the clip: less than one cardiac cycle")
    return ImageCycles(ed_frames=ed, es_frames=es, signal=sig, method=used)
