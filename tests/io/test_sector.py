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


def test_real_sonosite_cine():
    """pydicom's real cardiac cine: the whole fan (dim edges included), none of the screen furniture."""
    from pydicom.data import get_testdata_file

    from echo_monai.io.dicom_read import read_echo_cine

    frames = read_echo_cine(get_testdata_file("examples_ybr_color.dcm"), with_ecg=False).frames  # 240x320 RGB
    mask = scan_sector_mask(frames)
    brightest = frames.max(axis=-1)
    change = brightest.max(axis=0).astype(np.int16) - brightest.min(axis=0)
    assert mask[change > 20].all()  # every strongly moving pixel is sector
    # The dim lateral edges (change of a few levels) are kept too: the fan is wider than its bright core.
    core_cols = np.nonzero((change > 20).any(axis=0))[0]
    mask_cols = np.nonzero(mask.any(axis=0))[0]
    assert mask_cols.min() < core_cols.min() - 10 and mask_cols.max() > core_cols.max() + 10
    coloured = ((frames.max(axis=-1).astype(np.int16) - frames.min(axis=-1)) > 30).any(axis=0)
    assert coloured.any() and not (mask & coloured).any()  # the green focus marker
    assert not mask[:30, :45].any()  # "PLA / Gen THI" text
    assert not mask[:, 300:].any()  # "Crd P21 MI TIS" column and depth dots' labels
    assert not mask[225:].any()  # toolbar
    assert not mask[195:212, 280:300].any()  # depth reading "19"
