"""The fast JPEG path gives the reference path's frames (pixel_array -> grey -> resize) within JPEG tolerance.

Tolerance: mean absolute difference < 2 grey levels and maximum < 64 over all pixels. The two paths
differ where JPEG's lossy steps differ: DCT-domain downscaling (close to a box filter) versus full decode
+ Hamming resize, and luminance read from the codestream versus luminance recomputed from RGB after 4:2:2
chroma upsampling (largest at sharp colour edges such as the green ECG trace). Measured on the speckle
cines of conftest.py at 212x316, 434x636 and 600x800, outputs 27 to 224 pixels: means 0.02 to 1.5, maxima
up to 45, worst where a DCT scale is followed by a further resize (e.g. 212x316 -> 50x70). Outputs
smaller than about 25 pixels from small sources differ more (mean ~3 at 13x19): each output pixel spans
a whole JPEG block there.
"""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from PIL import Image

from echo_monai.errors import EchoDataError
from echo_monai.io.dicom_fast import can_decode_fast, decode_jpeg_baseline_frames
from echo_monai.io.dicom_read import read_echo_cine
from echo_monai.io.dicom_write import write_echo_dicom
from echo_monai.io.frames import convert_frames

T, H, W = 4, 212, 316  # not multiples of 8 or 16: partial JPEG blocks at the edges
MEAN_TOL, MAX_TOL = 2.0, 64


def _reference(ds: pydicom.Dataset, size) -> np.ndarray:
    return convert_frames(ds.pixel_array, grey=True, size=size)


@pytest.fixture(scope="module")
def ybr_cine(tmp_path_factory, echo_frames):
    frames = echo_frames(T, H, W, colour=True, seed=3)
    return write_echo_dicom(tmp_path_factory.mktemp("fast") / "ybr.dcm", frames, np.arange(T) * 33.0)


# (106, 158), (53, 79) and (27, 40) are DCT scales 1/2, 1/4, 1/8; the others need a final resize.
@pytest.mark.parametrize("size", [None, (106, 158), (53, 79), (27, 40), (64, 64), (112, 112), (90, 120), (50, 70)])
def test_fast_grey_matches_reference(ybr_cine, size):
    ds = pydicom.dcmread(ybr_cine)
    assert can_decode_fast(ds)
    fast = decode_jpeg_baseline_frames(ds, grey=True, size=size)
    ref = _reference(ds, size)
    assert fast.shape == ref.shape and fast.dtype == np.uint8
    diff = np.abs(fast.astype(np.int16) - ref)
    assert diff.mean() < MEAN_TOL and diff.max() < MAX_TOL


def test_fast_colour_and_threads(ybr_cine):
    ds = pydicom.dcmread(ybr_cine)
    one = decode_jpeg_baseline_frames(ds, grey=False, size=(50, 70))
    two = decode_jpeg_baseline_frames(ds, grey=False, size=(50, 70), workers=2)
    np.testing.assert_array_equal(one, two)
    assert one.shape == (T, 50, 70, 3)
    diff = np.abs(one.astype(np.int16) - convert_frames(ds.pixel_array, grey=False, size=(50, 70)))
    assert diff.mean() < MEAN_TOL and diff.max() < MAX_TOL


def test_monochrome_jpeg(tmp_path, echo_frames):
    grey = echo_frames(T, H, W, colour=False, seed=4)
    for photometric in ("MONOCHROME2", "MONOCHROME1"):
        path = write_echo_dicom(tmp_path / f"{photometric}.dcm", grey, np.arange(T) * 20.0,
                                photometric=photometric)
        fast = read_echo_cine(path, size=(56, 56))
        slow = read_echo_cine(path, size=(56, 56), fast=False)
        assert fast.metadata["decoder"] == "fast_jpeg" and slow.metadata["decoder"] == "pydicom"
        diff = np.abs(fast.frames.astype(np.int16) - slow.frames)
        assert diff.mean() < MEAN_TOL and diff.max() < MAX_TOL
        assert abs(float(fast.frames.mean()) - float(convert_frames(grey, grey=True, size=(56, 56)).mean())) < 2
        as_rgb = read_echo_cine(path, size=(56, 56), grey=False)
        assert as_rgb.metadata["decoder"] == "fast_jpeg" and as_rgb.frames.shape == (T, 56, 56, 3)
        np.testing.assert_array_equal(as_rgb.frames[..., 1], fast.frames)


def test_reader_picks_the_path(tmp_path, echo_frames, ybr_cine):
    assert read_echo_cine(ybr_cine, grey=True, size=(32, 32)).metadata["decoder"] == "fast_jpeg"
    assert read_echo_cine(ybr_cine, grey=True, fast=False).metadata["decoder"] == "pydicom"
    rle = write_echo_dicom(tmp_path / "rle.dcm", echo_frames(2, 16, 16, colour=False), [0, 20], compression="rle")
    assert read_echo_cine(rle, grey=True).metadata["decoder"] == "pydicom"


def test_corrupt_frame_is_a_clear_error(tmp_path, ybr_cine):
    ds = pydicom.dcmread(ybr_cine)
    frames = list(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=T))
    frames[2] = frames[2][: len(frames[2]) // 3]  # cut one frame's JPEG stream
    ds.PixelData = pydicom.encaps.encapsulate(frames)
    ds.save_as(tmp_path / "bad.dcm")
    with pytest.raises(EchoDataError, match="bad.dcm: JPEG frame data cannot be decoded"):
        read_echo_cine(tmp_path / "bad.dcm", grey=True, size=(32, 32))
    # Pillow decodes the intact frames on their own, so the cut frame is what failed.
    assert Image.open(io.BytesIO(frames[1])).size == (W, H)
