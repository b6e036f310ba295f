"""scan_sector_mask finds the fan and leaves out text, rulers, the changing ECG trace and its numbers."""

from __future__ import annotations

import numpy as np
import pytest

from echo_monai.errors import EchoDataError
from echo_monai.io.sector import apply_sector_mask, scan_sector_mask
from echo_monai.io.types import UltrasoundRegion

T, H, W = 12, 120, 160


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def _with_grey_annotations(frames: np.ndarray) -> np.ndarray:
    """Add what routine exports burn in, all changing over time but none of it sector:
    a white live-sweep ECG trace, a moving cursor, a changing heart-rate number, and a static ruler."""
    out = frames.copy()
    x = np.arange(W)
    for t in range(out.shape[0]):
        y = (H - 8 + 5 * np.sin(x / 4.0 + 0.7 * t)).astype(int)
        out[t, y, x] = 255  # trace redrawn every frame
        out[t, H - 16:H, (7 * t) % W] = 200  # sweep cursor
        out[t, 4:9, W - 14:W - 4] = 0
        out[t, 4:9, W - 14:W - 4:2] = 255 if t % 3 else 120  # "HR 7x" digits that update
    out[:, 20:100:6, 10] = 180  # depth-scale dots, static
    return out


def test_colour_cine_with_green_ecg(echo_frames, true_fan):
    frames = echo_frames(T, H, W, colour=True)
    mask = scan_sector_mask(frames)
    truth = true_fan(H, W)
    assert mask.shape == (H, W) and mask.dtype == bool
    assert _iou(mask, truth) > 0.97
    strip = np.zeros_like(mask)
    strip[int(H * 0.86):] = True
    assert not (mask & strip).any()  # the green sweep changes every frame and is still left out
    assert not mask[int(H * 0.02):int(H * 0.07), int(W * 0.03):int(W * 0.25)].any()  # text box


def test_grey_cine_with_changing_annotations(echo_frames, true_fan):
    frames = _with_grey_annotations(echo_frames(T, H, W, colour=False, seed=5))
    mask = scan_sector_mask(frames)
    truth = true_fan(H, W)
    assert _iou(mask, truth) > 0.97
    assert (mask & ~truth).sum() < 0.02 * truth.sum()
    assert not mask[H - 16:].any() and not mask[4:9, W - 14:W - 4].any() and not mask[:, 10].any()


def test_scan_region_limits_the_search(echo_frames, true_fan):
    frames = _with_grey_annotations(echo_frames(T, H, W, colour=False, seed=6))
    region = UltrasoundRegion(x0=0, y0=0, x1=W - 1, y1=H // 2, spatial_format=1, data_type=1, units_x=3,
                              units_y=3, delta_x=0.03, delta_y=0.03)
    mask = scan_sector_mask(frames, scan_region=region)
    assert not mask[H // 2 + 1:].any()
    assert _iou(mask, true_fan(H, W) & (np.arange(H)[:, None] <= H // 2)) > 0.95


def test_apply_and_errors(echo_frames):
    frames = echo_frames(3, 40, 60, colour=True)
    mask = np.zeros((40, 60), dtype=bool)
    mask[10:20, 5:50] = True
    out = apply_sector_mask(frames, mask)
    np.testing.assert_array_equal(out[:, mask], frames[:, mask])
    assert not out[:, ~mask].any() and out.dtype == np.uint8
    with pytest.raises(ValueError, match="mask shape"):
        apply_sector_mask(frames, mask[:, :10])
    with pytest.raises(EchoDataError, match="no changing region"):
        scan_sector_mask(np.full((4, 30, 30), 90, dtype=np.uint8))
    with pytest.raises(EchoDataError, match="uint8"):
        scan_sector_mask(np.zeros((4, 30, 30), dtype=np.float32))
