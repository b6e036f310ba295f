"""Fixtures for the io tests: small echo-like cines (speckle in a fan, a green ECG strip, text)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage


def fan_mask(rows: int, cols: int) -> np.ndarray:
    """(H, W) bool: the true scan sector of :func:`echo_like_frames` (apex near the top centre, +-38 deg)."""
    yy, xx = np.mgrid[:rows, :cols].astype(np.float32)
    apex_x, apex_y = cols / 2.0, rows * 0.05
    angle = np.arctan2(xx - apex_x, yy - apex_y)
    return (np.abs(angle) < np.deg2rad(38)) & (np.hypot(xx - apex_x, yy - apex_y) < rows * 0.78)


def echo_like_frames(n_frames: int, rows: int, cols: int, *, colour: bool, seed: int = 0) -> np.ndarray:
    """(T, H, W[, 3]) uint8: speckle inside a moving fan, a static text block and a coloured ECG sweep.

    Realistic enough for JPEG (texture, edges, colour) and for the sector mask (only the fan changes
    with tissue motion; the ECG strip changes too, but thin and green).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:rows, :cols].astype(np.float32)
    r = np.hypot(xx - cols / 2.0, yy - rows * 0.05)
    fan = fan_mask(rows, cols)
    frames = np.zeros((n_frames, rows, cols, 3) if colour else (n_frames, rows, cols), dtype=np.uint8)
    strip_y0 = int(rows * 0.86)
    for t in range(n_frames):
        # Speckle is spatially correlated over the resolution cell (a few pixels), not pixel noise.
        speckle = ndimage.gaussian_filter(rng.rayleigh(0.35, (rows, cols)).astype(np.float32), 1.0) * 1.6
        wall = np.exp(-((r - rows * (0.4 + 0.05 * np.sin(2 * np.pi * t / 12))) / (rows * 0.03)) ** 2)
        img = np.clip((0.25 + 0.75 * wall) * speckle * 255, 0, 255) * fan
        img[int(rows * 0.02):int(rows * 0.07), int(cols * 0.03):int(cols * 0.25)] = 220  # text box
        grey = img.astype(np.uint8)
        if colour:
            frame = np.repeat(grey[..., None], 3, axis=-1)
            x = np.arange(cols)
            trace = (strip_y0 + (rows - strip_y0) / 2 - 6 * np.sin(x / 6.0 + t)).astype(int)
            trace = np.clip(trace, strip_y0, rows - 1)
            frame[trace, x] = (40, 230, 60)
            frames[t] = frame
        else:
            frames[t] = grey
    return frames


@pytest.fixture(scope="session")
def echo_frames():
    return echo_like_frames


@pytest.fixture(scope="session")
def true_fan():
    return fan_mask
