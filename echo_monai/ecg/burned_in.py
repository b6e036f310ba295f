"""Read an ECG that is only burned into the pixels of a cine: trace, display kind, time axis and R waves.

Most routine echo exports carry the ECG only as a coloured trace drawn near the bottom of the image. This
module turns that trace back into a signal on the cine's clock:

1. **Find the trace**: a thin, wide line of one saturated colour (usually green; also yellow, cyan, ...;
   white as a last resort) that is not part of the grey scan sector; or take the bounds given by the
   caller / the DICOM trace region (``RegionDataType`` 10).
2. **Decide the display kind** from how the pixels change over time (REFERENCE.md section 3): in a
   *review* display the trace is pixel-identical in every frame and only a thin cursor moves; in a live
   *sweep* every frame has an empty erase gap that moves, with new data left of it.
3. **Locate the cursor** in every frame (the column that differs from the median frame over the whole
   trace height in review mode; the first column of the erase gap in sweep mode), unwrap it over sweeps
   and fit ``cursor = a + b * t_frame`` robustly, so a cursor parked at the trace ends in the first and
   last frames is ignored. ``1 / b`` is the time per pixel; it is checked against the trace region's
   ``PhysicalDeltaX`` when one is given.
4. **One value per pixel column** (the centre of a thin run, the extreme of a tall QRS run), placed in
   time by the fitted cursor line, collected over all frames (a sweep shows up to one sweep of data
   before the first frame), resampled to a uniform rate.
5. **R waves** from :func:`echo_monai.ecg.rpeaks.detect_r_peaks`, each moved to the centre of its flat top
   when the display clipped the R wave at the top of the trace region.

Times are in ms relative to the first frame; R waves before the first frame (seen in a sweep's old data
or a review trace's left margin) have negative times. The signal is in display pixels (positive up), not
mV: a burned-in trace has no calibrated amplitude.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.stats import theilslopes

from echo_monai.ecg.rpeaks import detect_r_peaks
from echo_monai.errors import ECGError, EchoDataError
from echo_monai.io.types import EcgSignal, UltrasoundRegion

__all__ = ["BurnedInECG", "read_burned_in_trace"]

_ECG_TRACE_DATA_TYPE = 10  # RegionDataType of an ECG trace
_UNITS_SECONDS = 4
_MAX_DETECTION_FRAMES = 16  # frames sampled to find the trace colour and bounds
_GAP_MIN_COLS = 3  # narrower empty runs are cursor occlusions, not a sweep's erase gap
_MAX_INTERP_GAP_MS = 60.0  # longer holes in the recovered trace are not bridged for R detection
_MIN_TRACE_S = 0.3  # shorter than the shortest RR interval: no cycle can be shown
_DETECT_MIN_S = 1.5  # shorter traces are padded with their baseline for the R-peak detector
_SPP_AGREEMENT = 0.03
_SPP_RANGE_S = (
    0.0005,
    0.06,
)  # time per pixel of real ECG displays (50 mm/s on a fine screen ... tiny images)
_MAX_STRIP_FRACTION = 0.3  # a trace strip is at most this fraction of the image height
_MIN_R_FRACTION = 0.25  # smallest R-wave height accepted, as a fraction of the trace strip's height  # relative difference tolerated between cursor-measured and declared s/px


@dataclass
class BurnedInECG:
    """An ECG read back from a burned-in trace.

    Attributes:
        signal: (n,) float32, trace height in display pixels above its baseline, sampled uniformly at ``fs``.
        fs: sampling rate of ``signal``, Hz.
        t0_ms: time of ``signal[0]`` relative to the first frame, ms (negative: before the first frame).
        r_times_ms: (n_beats,) R-wave times relative to the first frame, ms.
        kind: ``"sweep"`` (live display with erase gap) or ``"review"`` (static trace, moving cursor).
        seconds_per_pixel: time axis of the trace, s per pixel column.
        cursor_x: (T,) float64 image column of the cursor in every frame (NaN where none was found).
        cursor_inlier: (T,) bool, frames whose cursor fits the steady motion (parked cursors do not).
        region: ``(x0, y0, x1, y1)`` inclusive pixel bounds of the trace used.
        color: RGB colour of the trace.
        coverage: fraction of the trace's time span with real (not interpolated) data.
        confidence: 0 to 1, lower when the checks below raised warnings.
        warnings: what looked doubtful, in words.
    """

    signal: np.ndarray
    fs: float
    t0_ms: float
    r_times_ms: np.ndarray
    kind: str
    seconds_per_pixel: float
    cursor_x: np.ndarray
    cursor_inlier: np.ndarray
    region: tuple[int, int, int, int]
    color: tuple[int, int, int]
    coverage: float
    confidence: float
    warnings: list[str] = field(default_factory=list)

    @property
    def times_ms(self) -> np.ndarray:
        """(n,) time of every sample relative to the first frame, ms."""
        return self.t0_ms + np.arange(self.signal.shape[0]) * (1000.0 / self.fs)

    def to_ecg_signal(self) -> EcgSignal:
        """The trace as an :class:`EcgSignal` with ``source="burned_in"`` (amplitude in pixels)."""
        return EcgSignal(
            signal=self.signal[None, :].astype(np.float32),
            fs=float(self.fs),
            t0_ms=float(self.t0_ms),
            source="burned_in",
            channel_names=["burned_in_trace_px"],
            r_times_ms=self.r_times_ms.astype(np.float64),
        )


# --------------------------------------------------------------------------------------------------------
# Colour matching and finding the trace


def _is_white(color: np.ndarray) -> bool:
    return float(color.max() - color.min()) < 60.0


#: Frames processed at once by the per-pixel colour arithmetic: float32 temporaries of a whole long cine
#: would take several GB (1,000 frames of a 70x720 strip: ~600 MB per temporary).
_CHUNK_FRAMES = 64


def _color_strength(rgb: np.ndarray, color: np.ndarray) -> np.ndarray:
    """How much of ``color`` each pixel holds, in [0, 1]. ``rgb`` (..., 3) uint8, returns (...) float32.

    A stack of frames (T, h, w, 3) is processed in chunks of frames to bound the temporaries.
    """
    if rgb.ndim == 4 and rgb.shape[0] > _CHUNK_FRAMES:
        out = np.empty(rgb.shape[:-1], dtype=np.float32)
        for i in range(0, rgb.shape[0], _CHUNK_FRAMES):
            out[i:i + _CHUNK_FRAMES] = _color_strength(rgb[i:i + _CHUNK_FRAMES], color)
        return out
    return _color_strength_block(rgb, color)


def _color_strength_block(rgb: np.ndarray, color: np.ndarray) -> np.ndarray:
    """:func:`_color_strength` of one block of pixels.

    For a saturated colour only the chroma counts (the pixel minus its grey level), so grey tissue scores
    0 whatever its brightness, and an anti-aliased or JPEG-subsampled line ``a * color + (1 - a) * grey``
    scores ``a``. A white trace can only be told by brightness and lack of colour.
    """
    p = rgb.astype(np.float32)
    c = color.astype(np.float32)
    if _is_white(color):
        lack_of_colour = (p.max(axis=-1) - p.min(axis=-1)) <= 50.0
        return np.where(lack_of_colour, p.min(axis=-1) / 255.0, 0.0).astype(np.float32)
    q = p - p.mean(axis=-1, keepdims=True)
    qc = c - c.mean()
    qq = float(qc @ qc)
    a = (q @ qc) / qq
    resid = np.linalg.norm(q - a[..., None] * qc, axis=-1)
    # Tolerance grows with the amount of colour: JPEG chroma subsampling bleeds hue around thin lines.
    ok = resid <= 0.5 * np.abs(a) * np.sqrt(qq) + 15.0
    return np.where(ok, np.clip(a, 0.0, 1.0), 0.0).astype(np.float32)


def _candidate_colors(sample: np.ndarray) -> list[np.ndarray]:
    """Saturated colours present in the sampled frames (T, H, W, 3), most frequent first, then white."""
    mx = sample.max(axis=-1).astype(np.int16)
    mn = sample.min(axis=-1).astype(np.int16)
    sat = ((mx - mn) >= 60) & (mx >= 90)
    colours: list[np.ndarray] = []
    if np.count_nonzero(sat) >= 20:
        px = sample[sat].astype(np.float32)
        r, g, b = px[:, 0], px[:, 1], px[:, 2]
        hue = np.degrees(np.arctan2(np.sqrt(3.0) * (g - b), 2 * r - g - b)) % 360.0
        bins = (hue // 30).astype(np.int64)
        counts = np.bincount(bins, minlength=12)
        for k in np.argsort(counts)[::-1]:
            if counts[k] < 20:
                break
            med = np.median(px[bins == k], axis=0)
            colours.append(np.round(255.0 * med / max(med.max(), 1.0)))
    colours.append(np.array([255.0, 255.0, 255.0]))
    return colours


@dataclass
class _TraceCandidate:
    color: np.ndarray
    bounds: tuple[int, int, int, int]
    score: float


def _find_trace_components(sample: np.ndarray, color: np.ndarray, min_width: int) -> list[_TraceCandidate]:
    """Thin, wide components of ``color`` in the sampled frames, as candidate trace bounds."""
    thr = 0.5 if _is_white(color) else 0.3  # grey tissue matches white at its own brightness
    hit = _color_strength(sample, color) >= thr  # (S, H, W)
    persistent = hit.mean(axis=0) >= 0.25  # a moving cursor visits a pixel in few frames
    union = ndimage.binary_dilation(hit.any(axis=0), structure=np.ones((3, 3), bool))
    # Label a slightly dilated mask so that a line broken by compression still forms one component.
    labels, n = ndimage.label(ndimage.binary_dilation(persistent, structure=np.ones((3, 5), bool)))
    if n == 0:
        return []
    labels = np.where(persistent, labels, 0)
    union_labels, _ = ndimage.label(union, structure=np.ones((3, 3), bool))
    out: list[_TraceCandidate] = []
    sizes = np.bincount(labels.ravel())
    for lab in np.argsort(sizes[1:])[::-1][:20] + 1:
        if sizes[lab] < min_width:
            break
        ys, xs = np.nonzero(labels == lab)
        width = int(xs.max() - xs.min() + 1)
        if width < min_width:
            continue
        per_col = np.bincount(xs - xs.min(), minlength=width)
        coverage = np.count_nonzero(per_col) / width
        height = int(ys.max() - ys.min() + 1)
        thin = float(np.median(per_col[per_col > 0])) <= max(3.0, 0.35 * height)
        if coverage < 0.5 or not thin or height > _MAX_STRIP_FRACTION * sample.shape[1]:
            continue
        # Bounds of everything connected to it in any frame (R spikes, the sweep's newest data, cursor).
        ulab = np.bincount(union_labels[ys, xs]).argmax()
        uy, ux = np.nonzero((union_labels == ulab) & hit.any(axis=0))
        bounds = (int(ux.min()), int(uy.min()), int(ux.max()), int(uy.max()))
        if uy.max() - uy.min() + 1 > _MAX_STRIP_FRACTION * sample.shape[1]:
            continue
        if _is_white(color):
            # Only colour tells a coloured trace from tissue; a white one must at least be drawn on black,
            # not on speckle (a bright tissue edge inside the sector is thin and wide too).
            box = sample[:, bounds[1] : bounds[3] + 1, bounds[0] : bounds[2] + 1].max(axis=-1)
            if np.median(box[~hit[:, bounds[1] : bounds[3] + 1, bounds[0] : bounds[2] + 1]]) > 30:
                continue
        out.append(_TraceCandidate(color=color, bounds=bounds, score=width * coverage))
    return out


# --------------------------------------------------------------------------------------------------------
# Geometry: display kind, cursor, time axis


def _longest_circular_run(empty: np.ndarray) -> tuple[int, int]:
    """(start, length) of the longest run of True in a circular 1-D boolean array; (-1, 0) if none."""
    n = empty.shape[0]
    if empty.all():
        return 0, n
    if not empty.any():
        return -1, 0
    shift = int(np.argmin(empty))  # start the scan at a False so no run wraps
    e = np.roll(empty, -shift)
    d = np.diff(np.concatenate([[0], e.astype(np.int8), [0]]))
    starts, ends = np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]
    k = int(np.argmax(ends - starts))
    return int((starts[k] + shift) % n), int(ends[k] - starts[k])


def _robust_line(t: np.ndarray, y: np.ndarray, tol: float) -> tuple[float, float, np.ndarray]:
    """Fit ``y = a + b t`` ignoring outliers (Theil-Sen, then least squares on points within ``tol``)."""
    ok = np.isfinite(y)
    b, a, _, _ = theilslopes(y[ok], t[ok])
    inlier = ok & (np.abs(y - (a + b * t)) <= tol)
    if np.count_nonzero(inlier) >= 3:
        b, a = np.polyfit(t[inlier], y[inlier], 1)
        inlier = ok & (np.abs(y - (a + b * t)) <= tol)
    return float(a), float(b), inlier


def _column_values(strength: np.ndarray, thr: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per column of one (h, w) strength map: top row, bottom row, weighted centroid row, pixel count."""
    m = strength >= thr
    h = strength.shape[0]
    rows = np.arange(h, dtype=np.float64)[:, None]
    count = m.sum(axis=0)
    any_ = count > 0
    top = np.where(any_, np.argmax(m, axis=0), -1).astype(np.float64)
    bottom = np.where(any_, h - 1 - np.argmax(m[::-1], axis=0), -1).astype(np.float64)
    w = np.where(m, strength, 0.0)
    centroid = np.where(any_, (w * rows).sum(axis=0) / np.maximum(w.sum(axis=0), 1e-6), np.nan)
    return top, bottom, centroid, count


def _trace_rows(
    top: np.ndarray, bottom: np.ndarray, centroid: np.ndarray, baseline: float, thick: float
) -> np.ndarray:
    """One row per column: the centre of a thin run, the extreme farther from the baseline of a tall one
    (a QRS column spans from the baseline to the apex, and the apex is what R detection needs)."""
    tall = (bottom - top) > thick
    extreme = np.where((baseline - top) >= (bottom - baseline), top, bottom)
    return np.where(tall, extreme, centroid)


def _refine_to_plateau(
    x: np.ndarray, idx: np.ndarray, signs: np.ndarray, half: int, tol: float
) -> np.ndarray:
    """Move each index to the centre of the flat top (within ``tol``) of its peak, within +-``half``; each
    peak points the way of its ``signs`` entry (+1 up, -1 down: an inverted ectopic beat)."""
    out = np.empty(idx.shape[0], dtype=np.float64)
    for j, i in enumerate(idx):
        lo, hi = max(0, int(i) - half), min(x.shape[0], int(i) + half + 1)
        seg = signs[j] * x[lo:hi]
        k = int(np.argmax(seg))
        top = seg >= seg[k] - tol
        left = k
        while left > 0 and top[left - 1]:
            left -= 1
        right = k
        while right < seg.shape[0] - 1 and top[right + 1]:
            right += 1
        out[j] = lo + 0.5 * (left + right)
    return out


# --------------------------------------------------------------------------------------------------------
# Public entry point


def _validate(frames: np.ndarray, times: np.ndarray, where: str | None) -> np.ndarray:
    if frames.ndim == 3:
        frames = np.broadcast_to(frames[..., None], frames.shape + (3,))
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise EchoDataError(where, f"frames must have shape (T, H, W, 3) or (T, H, W), got {frames.shape}")
    if frames.dtype != np.uint8:
        raise EchoDataError(where, f"frames must be uint8 pixels, got {frames.dtype}")
    if frames.shape[0] < 2:
        raise ECGError(where, "a single frame cannot show a burned-in ECG's cursor moving; need >= 2 frames")
    if times.shape != (frames.shape[0],):
        raise EchoDataError(where, f"{times.shape[0]} frame times given for {frames.shape[0]} frames")
    if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
        raise EchoDataError(where, "frame times must be finite and strictly increasing")
    return frames


def _given_bounds(
    region: tuple[int, int, int, int] | None,
    trace_regions: Sequence[UltrasoundRegion] | None,
    shape: tuple[int, int],
    where: str | None,
) -> tuple[tuple[int, int, int, int] | None, float | None]:
    """Trace bounds and declared seconds per pixel from the caller's region or the DICOM regions."""
    declared = None
    if region is None and trace_regions:
        for reg in trace_regions:
            if reg.data_type == _ECG_TRACE_DATA_TYPE:
                region = (reg.x0, reg.y0, reg.x1, reg.y1)
                if reg.units_x == _UNITS_SECONDS and reg.delta_x > 0:
                    declared = float(reg.delta_x)
                break
    if region is None:
        return None, declared
    x0, y0, x1, y1 = (int(v) for v in region)
    h, w = shape
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w - 1, x1), min(h - 1, y1)
    if x1 - x0 < 16 or y1 - y0 < 4:
        raise ECGError(where, f"ECG trace region {tuple(region)} is too small or outside the {h}x{w} image")
    return (x0, y0, x1, y1), declared


def read_burned_in_trace(
    frames: np.ndarray,
    frame_times_ms: Sequence[float] | np.ndarray,
    *,
    region: tuple[int, int, int, int] | None = None,
    trace_regions: Sequence[UltrasoundRegion] | None = None,
    color: tuple[int, int, int] | None = None,
    fs_out: float = 250.0,
    path: str | os.PathLike | None = None,
) -> BurnedInECG:
    """Recover the ECG and its R-wave times from a trace burned into the frames.

    Args:
        frames: (T, H, W, 3) uint8 RGB (or (T, H, W) greyscale, where only a white trace can be found).
        frame_times_ms: (T,) strictly increasing frame times, ms.
        region: trace bounds ``(x0, y0, x1, y1)`` (inclusive pixels) if known; otherwise searched for.
        trace_regions: the file's ultrasound regions; an ECG-trace item (``RegionDataType`` 10) gives the
            bounds and, in seconds, the declared time per pixel that the cursor motion is checked against.
        color: RGB trace colour if known; otherwise the saturated colour forming a thin wide line is used.
        fs_out: sampling rate of the returned signal, Hz.
        path: the file the frames came from, for error messages.

    Returns:
        :class:`BurnedInECG`.

    Raises:
        ECGError: no trace found, no cursor motion, a time axis that does not fit the frame times, or fewer
            than two R waves; the caller should fall back (e.g. to
            :func:`echo_monai.ecg.image_phase.estimate_cycles_from_image`).
        EchoDataError: frames or frame times that are malformed.
    """
    where = None if path is None else os.fspath(path)
    times = np.asarray(frame_times_ms, dtype=np.float64).reshape(-1)
    frames = _validate(np.asarray(frames), times, where)
    n_frames, height, width = frames.shape[:3]
    bounds, declared_spp = _given_bounds(region, trace_regions, (height, width), where)

    pick = np.unique(np.linspace(0, n_frames - 1, min(n_frames, _MAX_DETECTION_FRAMES)).round().astype(int))
    if bounds is not None:
        x0, y0, x1, y1 = bounds
        sample = frames[pick, y0 : y1 + 1, x0 : x1 + 1]
    else:
        sample = frames[pick]
    colours = [np.asarray(color, dtype=np.float64)] if color is not None else _candidate_colors(sample)

    candidates: list[_TraceCandidate] = []
    for c in colours:
        if np.linalg.norm(c) < 60:
            raise ECGError(where, f"trace colour {tuple(c)} is too dark to tell from the background")
        if bounds is not None:
            strength = _color_strength(sample, c) >= (0.5 if _is_white(c) else 0.3)
            if strength.mean(axis=0).max() > 0 and np.count_nonzero(strength.any(axis=0)) >= 16:
                candidates.append(_TraceCandidate(c, bounds, float(np.count_nonzero(strength))))
        else:
            candidates.extend(_find_trace_components(sample, c, max(32, width // 4)))
    if not candidates:
        what = "in the given region" if bounds is not None else "(no thin coloured line spanning the image)"
        raise ECGError(where, f"no burned-in ECG trace found {what}")
    # Prefer the widest, best covered line; similar hues often find the same line twice.
    candidates.sort(key=lambda cand: -cand.score)
    seen: set[tuple[int, int, int, int]] = set()
    candidates = [c for c in candidates if not (c.bounds in seen or seen.add(c.bounds))]

    failures: list[str] = []
    for cand in candidates[:4]:
        try:
            return _read_trace(frames, times, cand, declared_spp, fs_out, where)
        except ECGError as err:
            failures.append(f"{tuple(int(v) for v in cand.color)} at {cand.bounds}: {err.problem}")
    raise ECGError(where, "burned-in ECG trace unusable: " + "; ".join(failures))


def _read_trace(
    frames: np.ndarray,
    times: np.ndarray,
    cand: _TraceCandidate,
    declared_spp: float | None,
    fs_out: float,
    where: str | None,
) -> BurnedInECG:
    x0, y0, x1, y1 = cand.bounds
    color = cand.color
    thr = 0.5 if _is_white(color) else 0.3
    reg = np.ascontiguousarray(frames[:, y0 : y1 + 1, x0 : x1 + 1])  # (T, h, w, 3)
    n_frames, h, w = reg.shape[:3]
    strength = _color_strength(reg, color)  # (T, h, w)
    hit = strength >= thr
    warnings: list[str] = []

    occupied = hit.any(axis=1)  # (T, w)
    cursor_like = hit.sum(axis=1) >= max(4, int(0.85 * h))  # a cursor drawn in the trace colour
    empty = ~occupied | cursor_like
    # A review trace occupies the same columns in every frame (a cursor hides at most a couple); a sweep's
    # erase gap empties several columns that the other frames show, and a sweep begun during the clip
    # fills new columns.
    median_occupied = np.median(~empty, axis=0) > 0.5  # (w,)
    changed_cols = (~empty != median_occupied[None, :]).sum(axis=1)
    kind = "sweep" if np.median(changed_cols) >= _GAP_MIN_COLS else "review"

    # Cursor column (region-relative) per frame.
    cursor = np.full(n_frames, np.nan)
    if kind == "review":
        med_rgb = np.median(reg, axis=0)
        changed = np.concatenate([  # (T, h, w), in chunks of frames to bound the float32 temporaries
            np.abs(reg[i:i + _CHUNK_FRAMES].astype(np.float32) - med_rgb[None]).sum(axis=-1) > 60.0
            for i in range(0, reg.shape[0], _CHUNK_FRAMES)])
        full = changed.sum(axis=1) >= 0.5 * h  # (T, w)
        for f in range(n_frames):
            cols = np.nonzero(full[f])[0]
            if cols.size and cols[-1] - cols[0] <= 4:
                cursor[f] = cols[0]
    else:
        for f in range(n_frames):
            start, length = _longest_circular_run(empty[f])
            if length >= _GAP_MIN_COLS and length < w:
                cursor[f] = start
    valid = np.isfinite(cursor)
    if np.count_nonzero(valid) < 3:
        raise ECGError(
            where,
            f"no {kind} cursor found in the burned-in ECG (found in {np.count_nonzero(valid)}"
            f" of {n_frames} frames)",
        )

    t_rel = times - times[0]
    if kind == "sweep":
        # Unwrap over sweeps with the median advance per ms as the predictor, so one bad frame cannot add
        # a whole sweep to all later frames.
        vf = np.nonzero(valid)[0]
        adv = np.mod(np.diff(cursor[vf]), w) / np.diff(t_rel[vf])
        speed = float(np.median(adv))
        u = np.full(n_frames, np.nan)
        last_f = vf[0]
        u[last_f] = cursor[last_f]
        for f in vf[1:]:
            pred = u[last_f] + speed * (t_rel[f] - t_rel[last_f])
            u[f] = pred + (np.mod(cursor[f] - pred + w / 2.0, w) - w / 2.0)
            last_f = f
    else:
        u = cursor.copy()
    a, b, inlier = _robust_line(t_rel, u, tol=2.5)
    motion_px = b * (t_rel[-1] - t_rel[0])
    if not np.isfinite(b) or motion_px < 2.0:
        raise ECGError(where, f"the burned-in ECG cursor does not move ({motion_px:.1f} px over the clip)")
    if np.count_nonzero(inlier) < max(3, 0.6 * np.count_nonzero(valid)):
        raise ECGError(
            where,
            f"the {kind} cursor does not move steadily with the frame times "
            f"({np.count_nonzero(inlier)} of {np.count_nonzero(valid)} frames fit)",
        )
    spp_ms = 1.0 / b
    if declared_spp is not None:
        rel = abs(spp_ms / (1000.0 * declared_spp) - 1.0)
        if rel <= _SPP_AGREEMENT:
            spp_ms = 1000.0 * declared_spp
            a = float(np.median(u[inlier] - t_rel[inlier] / spp_ms))
            b = 1.0 / spp_ms
        else:
            warnings.append(
                f"cursor motion gives {spp_ms / 1000.0:.5f} s/px but the trace region declares "
                f"{declared_spp:.5f} s/px ({100 * rel:.0f} % apart); using the cursor motion"
            )
    if not _SPP_RANGE_S[0] <= spp_ms / 1000.0 <= _SPP_RANGE_S[1]:
        raise ECGError(
            where,
            f"the cursor motion gives {spp_ms / 1000.0:.4f} s per pixel, outside the "
            f"{_SPP_RANGE_S[0]}-{_SPP_RANGE_S[1]} s/px of ECG displays: not an ECG trace",
        )

    # One row per column, in absolute (sweep-unwrapped) column units k; a column k is centred at time
    # (k - a) / b after the first frame.
    top, bottom, centroid, count = (np.stack(v) for v in zip(*(_column_values(s, thr) for s in strength)))
    thin_runs = (bottom - top)[(count > 0) & ~cursor_like]
    thick = float(np.median(thin_runs)) + 2.0 if thin_runs.size else 3.0
    baseline = float(np.nanmedian(np.where(count > 0, centroid, np.nan)))
    rows = _trace_rows(top, bottom, centroid, baseline, thick)  # (T, w)
    rows[empty] = np.nan

    cols = np.arange(w)
    if kind == "review":
        med = np.median(strength, axis=0)
        mt, mb, mc, mn = _column_values(med, thr)
        values = _trace_rows(mt, mb, mc, baseline, thick)
        values[mn == 0] = np.nan
        k_abs = cols.astype(np.float64)
    else:
        fit_u = a + b * t_rel
        use_u = np.where(inlier, u, fit_u)
        k_first = int(np.floor(np.nanmin(use_u))) - w
        k_last = int(np.ceil(np.nanmax(use_u)))
        values = np.full(k_last - k_first + 1, np.nan)
        for f in range(n_frames):
            uc = int(np.rint(use_u[f]))  # first erased column, unwrapped
            k = uc - 1 - np.mod(uc - 1 - cols, w)  # newest data shown in each column
            ok = np.isfinite(rows[f])
            values[k[ok] - k_first] = rows[f, ok]  # later frames overwrite: their columns are complete
        k_abs = np.arange(k_first, k_last + 1, dtype=np.float64)
    have = np.isfinite(values)
    if np.count_nonzero(have) < 16:
        raise ECGError(where, "the burned-in ECG trace has almost no drawn columns")
    col_t = (k_abs - a) / b  # ms after the first frame
    col_t, vals = col_t[have], baseline - values[have]  # pixels above the baseline

    # Uniform resampling; holes longer than _MAX_INTERP_GAP_MS are bridged but flagged.
    t_grid = np.arange(col_t[0], col_t[-1], 1000.0 / fs_out)
    if t_grid.shape[0] < 2:
        raise ECGError(where, "the burned-in ECG trace is too short to resample")
    sig = np.interp(t_grid, col_t, vals)
    nearest = np.abs(col_t[np.clip(np.searchsorted(col_t, t_grid), 0, col_t.shape[0] - 1)] - t_grid)
    nearest = np.minimum(
        nearest, np.abs(col_t[np.clip(np.searchsorted(col_t, t_grid) - 1, 0, None)] - t_grid)
    )
    real = nearest <= max(_MAX_INTERP_GAP_MS / 2.0, 1.5 * spp_ms)
    coverage = float(np.mean(real))
    duration_s = (t_grid[-1] - t_grid[0]) / 1000.0
    if duration_s < _MIN_TRACE_S:
        raise ECGError(
            where, f"the burned-in ECG covers only {duration_s:.2f} s, less than one cardiac cycle"
        )

    # A review trace of a short clip can be shorter than the detector's analysis window: pad it with its
    # baseline (a flat line holds no beats) and drop anything found in the padding.
    pad = max(0, int(np.ceil((_DETECT_MIN_S - duration_s) / 2.0 * fs_out)))
    padded = np.pad(sig, pad, mode="constant", constant_values=float(np.median(sig)))
    peaks = detect_r_peaks(padded, fs_out)
    idx = peaks.indices - pad
    idx = idx[(idx >= 0) & (idx < sig.shape[0])]
    idx = idx[real[idx]]
    # A QRS fills a good part of the strip; a detector run on a beat-free stretch (a compensatory pause
    # in a short review trace) returns T or P waves, which are much smaller.
    deflection = sig[idx] - float(np.median(sig))  # per beat: an ectopic beat may point the other way
    big = np.abs(deflection) >= _MIN_R_FRACTION * h
    idx, deflection = idx[big], deflection[big]
    if idx.size == 0:
        raise ECGError(where, "no R wave found in the burned-in ECG")
    if idx.size == 1:
        warnings.append("only one R wave in the trace: less than one cardiac cycle is shown")
    # A clipped R wave is a plateau at the region top: its centre is the R time, not its first sample.
    refined = _refine_to_plateau(sig, idx, np.sign(deflection), half=int(0.05 * fs_out), tol=0.5)
    r_times = t_grid[0] + refined * (1000.0 / fs_out)

    # Confidence: steady cursor, full coverage, plausible rhythm.
    # A cursor parked at the trace ends in the first / last frame is normal, not a fault.
    parked = np.zeros(n_frames, dtype=bool)
    parked[[0, -1]] = kind == "review"
    n_valid = np.count_nonzero(valid & ~(parked & ~inlier))
    conf = np.count_nonzero(inlier) / max(1, n_valid)
    if idx.size == 1:
        conf *= 0.7
    if coverage < 0.9:
        warnings.append(f"only {100 * coverage:.0f} % of the trace's time span has drawn data")
        conf *= coverage
    rr = np.diff(r_times)
    if rr.size >= 2 and np.std(rr) / np.mean(rr) > 0.25:
        warnings.append("RR intervals vary by more than 25 %: ectopic beats or missed R waves")
        conf *= 0.7
    hr = 60000.0 / float(np.median(rr)) if rr.size else float("nan")
    if rr.size and not 30.0 <= hr <= 220.0:
        warnings.append(f"implausible heart rate {hr:.0f} bpm from the burned-in trace")
        conf *= 0.5
    if any("declares" in m for m in warnings):
        conf *= 0.7

    return BurnedInECG(
        signal=sig.astype(np.float32),
        fs=float(fs_out),
        t0_ms=float(t_grid[0] + times[0]),
        r_times_ms=r_times + times[0],
        kind=kind,
        seconds_per_pixel=spp_ms / 1000.0,
        cursor_x=np.where(valid, cursor + x0, np.nan),
        cursor_inlier=inlier,
        region=(x0, y0, x1, y1),
        color=tuple(int(v) for v in color),
        coverage=coverage,
        confidence=float(np.clip(conf, 0.0, 1.0)),
        warnings=warnings,
    )
