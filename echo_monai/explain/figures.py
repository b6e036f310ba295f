"""Pictures of explanations: heat-map overlays, clip strips and GIFs, kernel and feature-map grids.

Everything is drawn with Pillow on uint8 RGB arrays (no plotting backend needed) and written atomically
(temp file + ``os.replace``). Heat maps use matplotlib's perceptually uniform ``inferno`` lookup table and
show absolute attribution, scaled per figure to its 99.5th percentile so one hot pixel does not wash out
the rest.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from PIL import Image, ImageDraw, ImageFont

from echo_monai.utils.files import atomic_write_with as write_atomic

__all__ = [
    "clip_gif",
    "clip_strip",
    "feature_grid",
    "heat_overlay",
    "kernel_grid",
    "save_png",
    "write_atomic",
]

_LUT = (colormaps["inferno"](np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)
_MIN_TILE = 128  # pixels: small network inputs (64 px) are enlarged so the maps can be read


def save_png(path: str | os.PathLike, image: np.ndarray | Image.Image) -> Path:
    """Write an RGB uint8 image (H, W, 3) or a PIL image as PNG, atomically."""
    img = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, np.uint8))
    return write_atomic(path, lambda tmp: img.save(tmp, format="PNG"))


def _grey_rgb(frame: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 3) intensities of any range -> (H, W, 3) float in [0, 1] (min-max scaled)."""
    f = np.asarray(frame, np.float64)
    lo, hi = float(np.min(f)), float(np.max(f))
    f = (f - lo) / (hi - lo) if hi > lo else np.zeros_like(f)
    return np.repeat(f[..., None], 3, axis=-1) if f.ndim == 2 else f


def map_scale(maps: np.ndarray, percentile: float = 99.5) -> float:
    """The absolute value mapped to full heat: a high percentile of |maps| (1 for an all-zero map)."""
    vmax = float(np.percentile(np.abs(maps), percentile))
    if vmax <= 0:
        vmax = float(np.abs(maps).max())
    return vmax if vmax > 0 else 1.0


def heat_overlay(frame: np.ndarray, attribution: np.ndarray, vmax: float | None = None,
                 alpha: float = 0.7) -> np.ndarray:
    """Frame (H, W[, 3]) with |attribution| (H, W) blended in as inferno colours -> uint8 (H, W, 3).

    Opacity follows the heat, so pixels without attribution show the image unchanged.
    """
    a = np.abs(np.asarray(attribution, np.float64))
    vmax = map_scale(a) if vmax is None else vmax
    heat = np.clip(a / vmax, 0.0, 1.0)
    colour = _LUT[(heat * 255).astype(np.uint8)].astype(np.float64) / 255.0
    weight = alpha * heat[..., None]
    out = (1.0 - weight) * _grey_rgb(frame) + weight * colour
    return (np.clip(out, 0.0, 1.0) * 255).round().astype(np.uint8)


def _enlarge(img: np.ndarray, minimum: int = _MIN_TILE, resample: int = Image.Resampling.BILINEAR) -> Image.Image:
    pil = Image.fromarray(img)
    factor = max(1, -(-minimum // max(1, min(img.shape[:2]))))
    return pil.resize((pil.width * factor, pil.height * factor), resample) if factor > 1 else pil


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=13)
    except TypeError:  # Pillow without FreeType: the bitmap font has one size
        return ImageFont.load_default()


def _with_caption(img: Image.Image, lines: Sequence[str]) -> Image.Image:
    """Image with a black band above holding ``lines`` of white text."""
    font = _font()
    band = 6 + 17 * len(lines)
    out = Image.new("RGB", (max(img.width, 8 * max((len(s) for s in lines), default=0)), img.height + band))
    out.paste(img, (0, band))
    draw = ImageDraw.Draw(out)
    for i, text in enumerate(lines):
        draw.text((4, 3 + 17 * i), text, fill=(255, 255, 255), font=font)
    return out


def captioned_overlay(frame: np.ndarray, attribution: np.ndarray, caption: Sequence[str]) -> Image.Image:
    """One frame's overlay, enlarged for reading, with the caption lines above it."""
    return _with_caption(_enlarge(heat_overlay(frame, attribution)), caption)


def _strip_indices(t: int, max_frames: int) -> np.ndarray:
    return np.unique(np.linspace(0, t - 1, min(t, max_frames)).round().astype(int))


def clip_strip(frames: np.ndarray, maps: np.ndarray, caption: Sequence[str], importance: np.ndarray | None = None,
               max_frames: int = 8) -> Image.Image:
    """A row of overlays of evenly spaced frames over a bar chart of the per-frame importance.

    Args:
        frames: (T, H, W[, 3]); maps: (T, H, W); importance: (T,) shares (default from ``maps``).
        caption: text lines above the strip.
    """
    t = frames.shape[0]
    vmax = map_scale(maps)  # one scale for the whole clip, so frames can be compared
    idx = _strip_indices(t, max_frames)
    tiles = [_enlarge(heat_overlay(frames[i], maps[i], vmax)) for i in idx]
    tw, th = tiles[0].size
    chart_h = 60
    strip = Image.new("RGB", (tw * len(tiles), th + 16 + chart_h))
    draw = ImageDraw.Draw(strip)
    font = _font()
    for k, (i, tile) in enumerate(zip(idx, tiles, strict=True)):
        strip.paste(tile, (k * tw, 0))
        draw.text((k * tw + 3, th + 1), f"frame {i}", fill=(200, 200, 200), font=font)
    if importance is None:
        per = np.abs(maps).reshape(t, -1).sum(axis=1)
        importance = per / per.sum() if per.sum() > 0 else per
    importance = np.asarray(importance, np.float64)
    top = float(importance.max()) if importance.size and importance.max() > 0 else 1.0
    bar_w = strip.width / t
    base = strip.height - 2
    for i, v in enumerate(importance):
        h = (chart_h - 6) * v / top
        shown = i in set(idx.tolist())
        draw.rectangle([i * bar_w + 1, base - h, (i + 1) * bar_w - 1, base],
                       fill=(250, 160, 40) if shown else (140, 90, 30))
    return _with_caption(strip, [*caption, "bars: share of attribution per frame (temporal importance)"])


def clip_gif(path: str | os.PathLike, frames: np.ndarray, maps: np.ndarray, caption: Sequence[str],
             frame_ms: float = 40.0) -> Path:
    """Animated GIF of every frame's overlay (one heat scale for the clip), captioned; written atomically."""
    vmax = map_scale(maps)
    images = [
        _with_caption(_enlarge(heat_overlay(frames[i], maps[i], vmax)), [*caption, f"frame {i}"])
        for i in range(frames.shape[0])
    ]
    duration = max(20, round(frame_ms))
    return write_atomic(
        path,
        lambda tmp: images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                                   duration=duration, loop=0),
    )


def _tile_grid(tiles: Sequence[np.ndarray], columns: int, gap: int = 2) -> np.ndarray:
    """Equal-size (h, w, 3) uint8 tiles on a grey grid."""
    h, w = tiles[0].shape[:2]
    rows = -(-len(tiles) // columns)
    out = np.full((rows * (h + gap) + gap, columns * (w + gap) + gap, 3), 64, np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        out[gap + r * (h + gap): gap + r * (h + gap) + h, gap + c * (w + gap): gap + c * (w + gap) + w] = tile
    return out


def _diverging(x: np.ndarray, scale: float) -> np.ndarray:
    """Signed values -> grey around mid-grey (positive brighter), (..., 3) uint8."""
    v = np.clip(0.5 + 0.5 * x / scale, 0.0, 1.0)
    return (np.repeat(v[..., None], 3, axis=-1) * 255).round().astype(np.uint8)


def kernel_grid(weight: np.ndarray, zoom: int = 12) -> np.ndarray:
    """Convolution kernels as a picture, (H, W, 3) uint8.

    ``weight`` is (O, I, k, k) or (O, I, kt, k, k). Each output channel is one tile: RGB when I = 3,
    else the mean over input channels in grey (mid-grey = 0, symmetric scale over all kernels); 3D kernels
    show their kt time slices side by side.
    """
    w = np.asarray(weight, np.float64)
    if w.ndim == 4:
        w = w[:, :, None]
    if w.ndim != 5:
        raise ValueError(f"expected conv weights (O, I, k, k) or (O, I, kt, k, k), got {w.shape}")
    scale = float(np.abs(w).max()) or 1.0
    tiles = []
    for kernel in w:  # (I, kt, k, k)
        slices = []
        for s in range(kernel.shape[1]):
            if kernel.shape[0] == 3:
                img = np.clip(0.5 + 0.5 * np.moveaxis(kernel[:, s], 0, -1) / scale, 0, 1)
                img = (img * 255).round().astype(np.uint8)
            else:
                img = _diverging(kernel[:, s].mean(axis=0), scale / max(1.0, np.sqrt(kernel.shape[0])))
            slices.append(np.kron(img, np.ones((zoom, zoom, 1), np.uint8)))
        tiles.append(np.concatenate(slices, axis=1) if len(slices) > 1 else slices[0])
    columns = max(1, min(len(tiles), int(np.ceil(np.sqrt(len(tiles))))))
    return _tile_grid(tiles, columns)


def feature_grid(activation: np.ndarray, max_maps: int = 16) -> tuple[np.ndarray, list[int]]:
    """The ``max_maps`` most active channels of one sample's feature maps (C, h, w) as an inferno grid.

    Channels are ranked by mean absolute activation and each is scaled to its own maximum. Returns the
    picture and the channel indices shown, in order.
    """
    a = np.asarray(activation, np.float64)
    if a.ndim != 3:
        raise ValueError(f"expected one sample's feature maps (C, h, w), got {a.shape}")
    order = np.argsort(-np.abs(a).mean(axis=(1, 2)), kind="stable")[:max_maps]
    tiles = []
    for c in order:
        m = np.abs(a[c])
        m = m / m.max() if m.max() > 0 else m
        tiles.append(np.asarray(_enlarge(_LUT[(m * 255).astype(np.uint8)], 96, Image.Resampling.NEAREST)))
    columns = int(np.ceil(np.sqrt(len(tiles))))
    return _tile_grid(tiles, columns), [int(c) for c in order]
