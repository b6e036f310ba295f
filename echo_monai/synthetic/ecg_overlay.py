"""Burn an ECG trace into cine frames the way echo scanners display it.

Two display kinds are drawn (both occur in exported clips, see REFERENCE.md section 3):

* ``"sweep"`` (live display): the trace is redrawn left to right; at each frame the columns left of the
  cursor hold the current sweep, an erase gap of a few pixels follows the cursor, and the columns right of
  the gap still show the data of one sweep earlier.
* ``"review"`` (cine review): the ECG of the whole clip (plus a margin before the first and after the last
  frame, so the clip looks as if it began mid-beat) is drawn once, pixel-identical in every frame, and a
  thin position cursor marks the time of the current frame. The cursor is parked at the trace ends in the
  first and last frames, as several scanners do.

Geometry conventions, shared with :mod:`echo_monai.ecg.burned_in` (the reader):

* pixel column ``c`` of the trace shows the samples with times in ``[t(c), t(c) + spp)``, where ``spp`` is
  the true seconds per pixel (returned as the region's ``delta_x``);
* the review cursor of a frame at time ``t_f`` is drawn in the column whose interval contains ``t_f``;
* in a sweep, a column is drawn once its interval has fully elapsed, so the first erased column (the
  cursor) is again the column whose interval contains ``t_f``.

The drawing is an anti-aliased vertical-run raster (each column covers the min..max of its samples,
joined to the previous column, with fractional edge coverage), so QRS complexes render as the tall thin
spikes of a real display. Tall R waves are clipped flat at the region top when ``clip_top`` is set.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from echo_monai.errors import EchoDataError
from echo_monai.io.types import UltrasoundRegion

__all__ = [
    "DISPLAY_PIXEL_MM",
    "TRACE_COLORS",
    "default_trace_region",
    "draw_ecg_trace",
    "seconds_per_pixel_for_speed",
]

#: Physical pitch of one display pixel assumed when a sweep speed is given (mm); 50 mm/s -> 0.00675 s/px.
DISPLAY_PIXEL_MM = 0.3375

#: Trace colours seen on scanners, with the probability used when the colour is drawn at random.
TRACE_COLORS: dict[str, tuple[tuple[int, int, int], float]] = {
    "green": ((0, 255, 0), 0.70),
    "yellow": ((255, 255, 0), 0.10),
    "cyan": ((0, 255, 255), 0.10),
    "white": ((255, 255, 255), 0.10),
}

# DICOM SequenceOfUltrasoundRegions codes for a trace region.
_REGION_ECG_TRACE = 10  # RegionDataType: ECG trace
_SPATIAL_WAVEFORM = 4  # RegionSpatialFormat: waveform
_UNITS_NONE = 0
_UNITS_SECONDS = 4


def seconds_per_pixel_for_speed(sweep_speed_mm_s: float) -> float:
    """Seconds per pixel of a trace displayed at ``sweep_speed_mm_s`` on a :data:`DISPLAY_PIXEL_MM` screen."""
    if not np.isfinite(sweep_speed_mm_s) or sweep_speed_mm_s <= 0:
        raise EchoDataError(None, f"sweep speed must be a positive number of mm/s, got {sweep_speed_mm_s}")
    return DISPLAY_PIXEL_MM / float(sweep_speed_mm_s)


def default_trace_region(height: int, width: int) -> tuple[int, int, int, int]:
    """A bottom strip ``(x0, y0, x1, y1)`` (inclusive pixels) for a trace on a ``height x width`` frame."""
    h = max(16, round(0.12 * height))
    y1 = height - 1 - max(2, height // 50)
    x0 = max(1, width // 12)
    return x0, max(0, y1 - h + 1), width - 1 - x0, y1


def _as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _pick_color(rng: np.random.Generator) -> tuple[int, int, int]:
    names = list(TRACE_COLORS)
    p = np.array([TRACE_COLORS[n][1] for n in names])
    return TRACE_COLORS[names[int(rng.choice(len(names), p=p / p.sum()))]][0]


def _column_runs(
    signal: np.ndarray, fs: float, t0_ms: float, col_t0_ms: float, spp_ms: float, n_cols: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column: min and max of the signal (mV) over the column's time interval, joined to the previous
    column's last value, and whether the signal covers the column at all. Shapes (n_cols,)."""
    # Oversample so that every column holds at least four samples, whatever fs is.
    step_ms = min(1000.0 / fs, spp_ms / 4.0)
    sig_t = t0_ms + np.arange(signal.shape[0]) * (1000.0 / fs)
    t = np.arange(col_t0_ms, col_t0_ms + n_cols * spp_ms, step_ms)
    inside = (t >= sig_t[0]) & (t <= sig_t[-1])
    v = np.interp(t, sig_t, signal)
    col = np.minimum(((t - col_t0_ms) // spp_ms).astype(np.int64), n_cols - 1)

    lo = np.full(n_cols, np.inf)
    hi = np.full(n_cols, -np.inf)
    np.minimum.at(lo, col[inside], v[inside])
    np.maximum.at(hi, col[inside], v[inside])
    covered = np.isfinite(lo)
    # Join each column to the last sample of the previous one, as a polyline would.
    last = np.full(n_cols, np.nan)
    last[col[inside]] = v[inside]  # later samples overwrite: the last value in each column
    prev_last = np.concatenate([[np.nan], last[:-1]])
    join = covered & np.isfinite(prev_last)
    lo[join] = np.minimum(lo[join], prev_last[join])
    hi[join] = np.maximum(hi[join], prev_last[join])
    return lo, hi, covered


def _rasterise(
    lo_row: np.ndarray, hi_row: np.ndarray, covered: np.ndarray, height: int, line_width: float
) -> np.ndarray:
    """Coverage (alpha in [0, 1]) of vertical runs ``[lo_row, hi_row]`` (float rows, region-relative, 0 at
    the top) widened by ``line_width``, shape (height, n_cols)."""
    r = np.arange(height, dtype=np.float64)[:, None]
    half = line_width / 2.0
    top = np.clip(lo_row, half - 0.5, height - 0.5 - half)[None, :] - half
    bottom = np.clip(hi_row, half - 0.5, height - 0.5 - half)[None, :] + half
    alpha = np.clip(np.minimum(r + 0.5, bottom) - np.maximum(r - 0.5, top), 0.0, 1.0)
    alpha[:, ~covered] = 0.0
    return alpha


def _blend(region_rgb: np.ndarray, alpha: np.ndarray, color: np.ndarray) -> np.ndarray:
    """Alpha-blend ``color`` over a (h, w, 3) uint8 region with (h, w) coverage."""
    a = alpha[..., None]
    return np.round(region_rgb.astype(np.float32) * (1.0 - a) + color[None, None, :] * a).astype(np.uint8)


def _validate(
    frames: np.ndarray, times: np.ndarray, signal: np.ndarray, fs: float, t0_ms: float, kind: str
) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
        raise EchoDataError(None, f"frames must have shape (T, H, W, 3) or (T, H, W), got {frames.shape}")
    if times.shape != (frames.shape[0],):
        raise EchoDataError(None, f"{times.shape[0]} frame times given for {frames.shape[0]} frames")
    if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
        raise EchoDataError(None, "frame times must be finite and strictly increasing")
    if signal.ndim != 1 or signal.shape[0] < 2 or not np.all(np.isfinite(signal)):
        raise EchoDataError(None, "the ECG signal must be a finite 1-D array of at least 2 samples")
    if not np.isfinite(fs) or fs <= 0:
        raise EchoDataError(None, f"ECG sampling rate must be positive, got {fs} Hz")
    if not np.isfinite(t0_ms):
        raise EchoDataError(None, f"ECG start time t0_ms must be finite, got {t0_ms}")
    if kind not in ("sweep", "review"):
        raise EchoDataError(None, f"trace kind must be 'sweep' or 'review', got {kind!r}")


def draw_ecg_trace(
    frames_rgb: np.ndarray,
    frame_times_ms: Sequence[float] | np.ndarray,
    signal: np.ndarray,
    fs: float,
    t0_ms: float,
    *,
    kind: str = "sweep",
    region: tuple[int, int, int, int] | None = None,
    color: tuple[int, int, int] | None = (0, 255, 0),
    sweep_speed_mm_s: float | None = None,
    seconds_per_pixel: float | None = None,
    clip_top: bool = True,
    cursor_color: tuple[int, int, int] | None = None,
    line_width: float = 1.5,
    erase_gap_px: int | None = None,
    gain_px_per_mv: float | None = None,
    baseline_fraction: float | None = None,
    review_margins_ms: tuple[float, float] | None = None,
    sweep_phase_px: float | None = None,
    park_cursor: bool = True,
    rng: np.random.Generator | int | None = None,
) -> tuple[np.ndarray, UltrasoundRegion]:
    """Draw a burned-in ECG trace into every frame of a cine.

    Args:
        frames_rgb: (T, H, W, 3) uint8 RGB (or (T, H, W) greyscale, converted to RGB). Not modified.
        frame_times_ms: (T,) strictly increasing frame times, ms (usually 0 first).
        signal: (n,) ECG in mV (a (1, n) array is accepted).
        fs: ECG sampling rate, Hz.
        t0_ms: time of ECG sample 0 relative to frame 0, ms (negative: the ECG starts before the clip; a
            sweep needs about one sweep of ECG before frame 0 to fill the screen in the first frame).
        kind: ``"sweep"`` (live display with erase gap) or ``"review"`` (whole clip drawn once, moving cursor).
        region: trace bounds ``(x0, y0, x1, y1)``, inclusive pixels; default: a strip at the bottom.
        color: RGB trace colour; ``None`` draws one from :data:`TRACE_COLORS` (mostly green) with ``rng``
            (green without one).
        sweep_speed_mm_s: display speed (e.g. 25 or 50 mm/s), converted with :data:`DISPLAY_PIXEL_MM`.
        seconds_per_pixel: the time axis directly (wins over ``sweep_speed_mm_s``). Default: sweep -> 50 mm/s,
            slowed so that one sweep lasts at least 2 s on narrow frames; review -> whatever fits the clip
            and its margins into the region width.
        clip_top: clip waves taller than the region flat at its top row (as scanners do); otherwise the gain
            is reduced so that the tallest wave fits.
        cursor_color: RGB of the position cursor; default white (yellow for a white trace) in review mode and
            no cursor line (only the erase gap) in sweep mode.
        line_width: trace thickness in pixels (1 to 2 look like scanners).
        erase_gap_px: sweep erase-gap width; default 2.5 % of the region width, at least 5 px.
        gain_px_per_mv: vertical scale; default 45 % of the region height per mV (so ~1.3 mV R waves clip),
            times 0.85-1.3 drawn from ``rng`` when one is given.
        baseline_fraction: baseline (0 mV) position from the region top as a fraction of its height;
            default 0.62.
        review_margins_ms: ECG shown before the first and after the last frame in review mode; default
            drawn from ``rng`` in [0, 400] ms each (limited by the available ECG), or 150 ms each without rng.
        sweep_phase_px: cursor column at frame 0 in sweep mode; default drawn from ``rng`` (W/3 without one).
        park_cursor: review mode: park the cursor at the left trace end in the first frame and the right
            end in the last frame.
        rng: generator or seed for the random choices above; ``None`` makes them fixed defaults.

    Returns:
        ``(frames, region)``: new (T, H, W, 3) uint8 frames and the :class:`UltrasoundRegion` describing the
        trace (data type 10 ECG trace, spatial format 4 waveform, x in seconds with the true seconds per
        pixel in ``delta_x``, ``delta_y`` in mV per pixel, ``reference_pixel_y0`` the baseline row and, in
        review mode, ``reference_pixel_x0`` the column of frame 0's time; both relative to the region).

    Raises:
        EchoDataError: inconsistent frames, times, signal, region or time axis.
    """
    frames = np.asarray(frames_rgb)
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    times = np.asarray(frame_times_ms, dtype=np.float64).reshape(-1)
    sig = np.asarray(signal, dtype=np.float64)
    if sig.ndim == 2 and sig.shape[0] == 1:
        sig = sig[0]
    _validate(frames, times, sig, float(fs), float(t0_ms), kind)
    if frames.dtype != np.uint8:
        raise EchoDataError(None, f"frames must be uint8, got {frames.dtype}")
    gen = _as_rng(rng)
    n_frames, height, width = frames.shape[:3]

    x0, y0, x1, y1 = default_trace_region(height, width) if region is None else (int(v) for v in region)
    if not (0 <= x0 < x1 < width and 0 <= y0 < y1 < height):
        raise EchoDataError(None, f"trace region {(x0, y0, x1, y1)} does not fit a {height}x{width} frame")
    reg_w, reg_h = x1 - x0 + 1, y1 - y0 + 1
    if reg_w < 32 or reg_h < 8:
        raise EchoDataError(None, f"trace region of {reg_w}x{reg_h} px is too small (need >= 32x8)")

    if color is None:
        color = _pick_color(gen) if rng is not None else TRACE_COLORS["green"][0]
    rgb = np.array(color, dtype=np.float32)
    if cursor_color is None and kind == "review":
        cursor_color = (255, 255, 0) if np.all(rgb > 200) else (255, 255, 255)
    if not 0.5 <= line_width <= 4:
        raise EchoDataError(None, f"line width must be 0.5-4 px, got {line_width}")

    # Time axis.
    sig_start, sig_end = float(t0_ms), float(t0_ms) + (sig.shape[0] - 1) * 1000.0 / fs
    if seconds_per_pixel is None and sweep_speed_mm_s is not None:
        seconds_per_pixel = seconds_per_pixel_for_speed(sweep_speed_mm_s)
    if kind == "review":
        if review_margins_ms is None:
            review_margins_ms = (
                (float(gen.uniform(0, 400)), float(gen.uniform(0, 400)))
                if rng is not None
                else (150.0, 150.0)
            )
        pre = min(max(0.0, review_margins_ms[0]), max(0.0, times[0] - sig_start))
        post = min(max(0.0, review_margins_ms[1]), max(0.0, sig_end - times[-1]))
        if seconds_per_pixel is None:
            # reg_w - 1 intervals: the last frame's time must land on a pixel column even with no margins
            seconds_per_pixel = (times[-1] - times[0] + pre + post) / 1000.0 / (reg_w - 1)
        spp_ms = 1000.0 * float(seconds_per_pixel)
        span_ms = reg_w * spp_ms
        if span_ms < times[-1] - times[0] + spp_ms:
            raise EchoDataError(
                None,
                f"a review trace of {reg_w} px at {seconds_per_pixel:.5f} s/px shows {span_ms:.0f} ms, less "
                f"than the {times[-1] - times[0]:.0f} ms clip",
            )
        # Centre the spare time around the clip in proportion to the requested margins.
        spare = span_ms - (times[-1] - times[0])
        col_t0 = times[0] - (spare * pre / (pre + post) if pre + post > 0 else spare / 2.0)
    else:
        if seconds_per_pixel is None:
            seconds_per_pixel = max(seconds_per_pixel_for_speed(50.0), 2.0 / reg_w)
        spp_ms = 1000.0 * float(seconds_per_pixel)
        if sweep_phase_px is not None:
            phase = float(sweep_phase_px) % reg_w
        else:
            phase = float(gen.uniform(0, reg_w)) if rng is not None else reg_w / 3.0
    if not np.isfinite(spp_ms) or spp_ms <= 0:
        raise EchoDataError(None, f"seconds per pixel must be positive, got {seconds_per_pixel}")

    # Vertical scale.
    base_frac = 0.62 if baseline_fraction is None else float(baseline_fraction)
    if not 0.2 <= base_frac <= 0.9:
        raise EchoDataError(None, f"baseline fraction must be in [0.2, 0.9], got {base_frac}")
    if gain_px_per_mv is None:
        # Scanners let the user set the gain: with an rng, vary it so that tall R waves clip now and then.
        gain = 0.45 * reg_h * (float(gen.uniform(0.85, 1.3)) if rng is not None else 1.0)
    else:
        gain = float(gain_px_per_mv)
    base_row = base_frac * (reg_h - 1)
    if not clip_top and np.max(sig) > 0:
        gain = min(gain, (base_row - line_width) / float(np.max(sig)))
    if not np.isfinite(gain) or gain <= 0:
        raise EchoDataError(None, f"trace gain must be positive, got {gain} px/mV")

    out = frames.copy()
    if kind == "review":
        lo, hi, covered = _column_runs(sig, fs, t0_ms, col_t0, spp_ms, reg_w)
        # Rows grow downwards: the top of a run is the highest voltage.
        alpha = _rasterise(base_row - hi * gain, base_row - lo * gain, covered, reg_h, line_width)
        cur = np.array(cursor_color, dtype=np.float32)
        cursor_cols = np.floor((times - col_t0) / spp_ms).astype(np.int64)
        if park_cursor and n_frames >= 3:
            cursor_cols[0], cursor_cols[-1] = 0, reg_w - 1
        cursor_cols = np.clip(cursor_cols, 0, reg_w - 1)
        cursor_w = 2 if line_width > 1.5 else 1
        for f in range(n_frames):
            reg = _blend(out[f, y0 : y1 + 1, x0 : x1 + 1], alpha, rgb)
            c = cursor_cols[f]
            reg[:, c : min(reg_w, c + cursor_w)] = cur.astype(np.uint8)
            out[f, y0 : y1 + 1, x0 : x1 + 1] = reg
        ref_x0 = int(np.floor((times[0] - col_t0) / spp_ms))
    else:
        gap = max(5, round(0.025 * reg_w)) if erase_gap_px is None else int(erase_gap_px)
        if not 1 <= gap < reg_w // 2:
            raise EchoDataError(None, f"erase gap must be 1 to {reg_w // 2 - 1} px, got {gap}")
        # Absolute columns k (unwrapped over sweeps): k covers [t_abs0 + k*spp, t_abs0 + (k+1)*spp), and the
        # frame at time t_f has its cursor (first erased column) at floor(u_f), u_f = phase + (t_f - t_0)/spp.
        u = phase + (times - times[0]) / spp_ms
        k_first = int(np.floor(u[0])) - reg_w
        k_last = int(np.floor(u[-1]))
        n_abs = k_last - k_first + 1
        t_abs0 = times[0] - phase * spp_ms + k_first * spp_ms
        lo, hi, covered = _column_runs(sig, fs, t0_ms, t_abs0, spp_ms, n_abs)
        alpha_abs = _rasterise(base_row - hi * gain, base_row - lo * gain, covered, reg_h, line_width)
        cols = np.arange(reg_w)
        for f in range(n_frames):
            kc = int(np.floor(u[f]))
            # Newest absolute column shown in each screen column (strictly before the cursor), then erase
            # the gap that follows the cursor.
            k_shown = kc - 1 - np.mod(kc - 1 - cols, reg_w)
            a = alpha_abs[:, k_shown - k_first]
            dist_after_cursor = np.mod(cols - kc, reg_w)
            a[:, dist_after_cursor < gap] = 0.0
            reg = _blend(out[f, y0 : y1 + 1, x0 : x1 + 1], a, rgb)
            if cursor_color is not None:
                reg[:, kc % reg_w] = np.array(cursor_color, dtype=np.uint8)
            out[f, y0 : y1 + 1, x0 : x1 + 1] = reg
        ref_x0 = None

    region_out = UltrasoundRegion(
        x0=x0,
        y0=y0,
        x1=x1,
        y1=y1,
        spatial_format=_SPATIAL_WAVEFORM,
        data_type=_REGION_ECG_TRACE,
        units_x=_UNITS_SECONDS,
        units_y=_UNITS_NONE,
        delta_x=spp_ms / 1000.0,
        delta_y=1.0 / gain,
        reference_pixel_x0=ref_x0,
        reference_pixel_y0=round(base_row),
    )
    return out, region_out
