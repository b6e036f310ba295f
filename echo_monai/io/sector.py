"""The scan sector of an echo cine: the fan of pixels that carry ultrasound, without the annotations.

Inside the fan the speckle changes from frame to frame; text, rulers and the depth scale do not. The
burned-in ECG does change (sweep or cursor), but it is coloured and drawn in thin lines, so it is removed
by ignoring coloured pixels and by a morphological opening wider than a trace. What remains is cleaned
(opening, closing, largest component, holes filled) and replaced by its convex hull: a B-mode sector
(or a linear probe's rectangle) is convex, and the hull also restores dark, still regions deep in the fan.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from echo_monai.errors import EchoDataError
from echo_monai.io.types import UltrasoundRegion

__all__ = ["apply_sector_mask", "scan_sector_mask"]


def _disk(radius: int) -> np.ndarray:
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return x * x + y * y <= radius * radius


def _hull_mask(mask: np.ndarray) -> np.ndarray:
    """Filled convex hull of the pixel centres of ``mask``."""
    ys, xs = np.nonzero(mask)
    points = np.stack([xs, ys], axis=1)
    try:
        hull = ConvexHull(points)
    except QhullError:  # degenerate (a line): keep the component as it is
        return mask
    canvas = Image.new("1", (mask.shape[1], mask.shape[0]), 0)
    ImageDraw.Draw(canvas).polygon([(int(x), int(y)) for x, y in points[hull.vertices]], fill=1, outline=1)
    return np.asarray(canvas, dtype=bool) | mask


def scan_sector_mask(
    frames: np.ndarray,
    *,
    scan_region: tuple[int, int, int, int] | UltrasoundRegion | None = None,
    threshold: float = 2.0,
    colour_tolerance: int = 30,
    convex: bool = True,
) -> np.ndarray:
    """The (H, W) bool mask of the scan sector.

    Args:
        frames: (T, H, W) or (T, H, W, 3) uint8. With T = 1 the sector is the bright region instead of
            the changing one (less reliable: still annotations are kept if they touch it).
        scan_region: the tissue region's (x0, y0, x1, y1) inclusive bounds (or an ``UltrasoundRegion``)
            when the file gives one: nothing outside it can be sector.
        threshold: grey levels of change (max - min over frames) that count as "moving". Raised to three
            times the image's noise floor (the 30th percentile of the change, ~0 for a static black
            background) so that a flickering, noisy background does not turn into "sector". Low by
            default because the lateral edges of a real fan are dim and change by only a few levels;
            the price is a band of a few (black) pixels of compression ringing outside the fan.
        colour_tolerance: a pixel whose channels differ by more than this in any frame is coloured
            (ECG trace, coloured text) and is not sector. Colour Doppler inside the fan is restored by the hull.
        convex: replace the cleaned component by its convex hull.

    Returns:
        (H, W) bool, True inside the sector.

    Raises:
        EchoDataError: frames of the wrong shape or type, or no changing region at all.
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4) or (frames.ndim == 4 and frames.shape[3] != 3):
        raise EchoDataError(None, f"sector mask needs uint8 (T, H, W[, 3]) frames, got {frames.dtype} {frames.shape}")
    n_frames, rows, cols = frames.shape[:3]
    if n_frames == 0:
        raise EchoDataError(None, "sector mask needs at least one frame")

    if frames.ndim == 4:
        # Luminance-free measures, frame by frame in uint8: never a float copy of the cine.
        lo = np.full((rows, cols), 255, dtype=np.uint8)
        hi = np.zeros((rows, cols), dtype=np.uint8)
        coloured = np.zeros((rows, cols), dtype=bool)
        for frame in frames:
            r, g, b = frame[..., 0], frame[..., 1], frame[..., 2]
            brightest = np.maximum(np.maximum(r, g), b)  # faster than reducing over a length-3 axis
            darkest = np.minimum(np.minimum(r, g), b)
            np.minimum(lo, brightest, out=lo)
            np.maximum(hi, brightest, out=hi)
            coloured |= (brightest - darkest) > colour_tolerance
    else:
        lo, hi = frames.min(axis=0), frames.max(axis=0)
        coloured = np.zeros((rows, cols), dtype=bool)
    # Opening wider than an ECG trace, cursor or text stroke (about 1 % of the image, at least 1 pixel).
    radius = max(1, round(min(rows, cols) / 100))
    change = (hi - lo) if n_frames > 1 else hi
    floor = 3.0 * float(np.percentile(change, 30))
    candidate = change > max(threshold, floor)
    if coloured.any():
        # Chroma subsampling and compression leave a grey, flickering halo around coloured strokes.
        coloured = ndimage.binary_dilation(coloured, structure=_disk(radius + 2))
    candidate &= ~coloured

    if scan_region is not None:
        if isinstance(scan_region, UltrasoundRegion):
            scan_region = (scan_region.x0, scan_region.y0, scan_region.x1, scan_region.y1)
        x0, y0, x1, y1 = (int(v) for v in scan_region)
        inside = np.zeros_like(candidate)
        inside[max(y0, 0):y1 + 1, max(x0, 0):x1 + 1] = True
        candidate &= inside

    cleaned = ndimage.binary_opening(candidate, structure=_disk(radius))
    labels, n = ndimage.label(cleaned)
    if n == 0:
        raise EchoDataError(None, "no changing region found: frames are static or the threshold is too high")
    sizes = ndimage.sum_labels(cleaned, labels, index=np.arange(1, n + 1))
    # Largest component first, closing after: closing first could bridge the fan to a nearby trace strip.
    sector = labels == (1 + int(np.argmax(sizes)))
    sector = ndimage.binary_closing(sector, structure=_disk(2 * radius), border_value=0)
    sector = ndimage.binary_fill_holes(sector)
    if convex:
        sector = _hull_mask(sector)
    return sector


def apply_sector_mask(frames: np.ndarray, mask: np.ndarray, fill: int = 0) -> np.ndarray:
    """Frames with everything outside ``mask`` set to ``fill``.

    Args:
        frames: (T, H, W) or (T, H, W, C).
        mask: (H, W) bool, e.g. from :func:`scan_sector_mask`.
        fill: value outside the sector.

    Returns:
        A new array of the same shape and dtype.
    """
    frames = np.asarray(frames)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != frames.shape[1:3]:
        raise ValueError(f"mask shape {mask.shape} does not match frames {frames.shape}")
    keep = mask[None, :, :, None] if frames.ndim == 4 else mask[None]
    return np.where(keep, frames, np.asarray(fill, dtype=frames.dtype))
