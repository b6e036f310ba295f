"""NIfTI cines: layout, spacing and frame time in the header, colour, other dtypes and bad input."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from echo_monai.errors import EchoDataError
from echo_monai.io.nifti import read_nifti_cine, write_nifti_cine

T, H, W = 5, 30, 40


@pytest.fixture(scope="module")
def grey(echo_frames):
    return echo_frames(T, H, W, colour=False, seed=11)


def test_round_trip_keeps_spacing_and_time(tmp_path, grey):
    path = write_nifti_cine(tmp_path / "cine.nii.gz", grey, spacing_mm=(0.31, 0.154), frame_time_ms=33.5)
    img = nib.load(path)
    assert img.shape == (W, H, 1, T)  # x = columns, y = rows
    assert img.header.get_xyzt_units() == ("mm", "msec")
    np.testing.assert_allclose(img.header.get_zooms(), (0.154, 0.31, 1.0, 33.5), rtol=1e-6)
    cine = read_nifti_cine(path)
    np.testing.assert_array_equal(cine.frames, grey)
    np.testing.assert_allclose(cine.frame_times_ms, np.arange(T) * 33.5, rtol=1e-6)
    assert cine.spacing_mm == pytest.approx((0.31, 0.154))
    half = read_nifti_cine(path, size=(15, 20))
    assert half.frames.shape == (T, 15, 20) and half.spacing_mm == pytest.approx((0.62, 0.308))


def test_colour_channel_last(tmp_path, echo_frames):
    rgb = echo_frames(T, H, W, colour=True, seed=12)
    path = write_nifti_cine(tmp_path / "rgb.nii", rgb, frame_time_ms=20.0)
    assert nib.load(path).shape == (W, H, 1, T, 3)
    cine = read_nifti_cine(path)
    np.testing.assert_array_equal(cine.frames, rgb)
    assert read_nifti_cine(path, grey=True).frames.shape == (T, H, W)


def test_three_d_files_and_other_dtypes(tmp_path, grey):
    # CAMUS-style: (x, y, frames), float, no frame interval in the file.
    data = grey.transpose(2, 1, 0).astype(np.float32) / 255.0
    nib.save(nib.Nifti1Image(data, np.diag([0.2, 0.3, 1.0, 1.0])), tmp_path / "half_sequence.nii.gz")
    with pytest.raises(EchoDataError, match="no frame interval in the file"):
        read_nifti_cine(tmp_path / "half_sequence.nii.gz")
    cine = read_nifti_cine(tmp_path / "half_sequence.nii.gz", frame_time_ms=40.0)
    assert np.abs(cine.frames.astype(int) - grey).max() <= 1
    assert cine.metadata["intensity"] == "scaled from 0..1"
    assert cine.spacing_mm == pytest.approx((0.3, 0.2))
    wide = (grey.transpose(2, 1, 0).astype(np.int16) * 4 - 100)[:, :, None, :]
    nib.save(nib.Nifti1Image(wide, np.eye(4)), tmp_path / "wide.nii")
    out = read_nifti_cine(tmp_path / "wide.nii", frame_time_ms=10.0).frames
    assert out.min() == 0 and out.max() == 255


def test_label_maps_keep_their_values(tmp_path):
    labels = np.zeros((3, 40, 60), dtype=np.uint8)
    labels[:, 10:30, 15:45] = 1
    labels[:, 15:25, 25:35] = 3
    path = write_nifti_cine(tmp_path / "gt.nii.gz", labels, spacing_mm=(0.5, 0.5), frame_time_ms=40.0)
    small = read_nifti_cine(path, size=(20, 30), labels=True)
    assert set(np.unique(small.frames)) == {0, 1, 3}  # nearest neighbour: no blended values
    np.testing.assert_array_equal(small.frames, labels[:, 1::2, 1::2])  # the pixel under each new centre
    assert small.spacing_mm == pytest.approx((1.0, 1.0))
    nib.save(nib.Nifti1Image(np.full((4, 4, 1, 2), 1.5, np.float32), np.eye(4)), tmp_path / "frac.nii")
    with pytest.raises(EchoDataError, match="frac.nii: label map values must be integers"):
        read_nifti_cine(tmp_path / "frac.nii", labels=True)


def test_bad_input(tmp_path, grey):
    bad = grey.astype(np.float32)
    bad[2, 3, 4] = np.nan
    with pytest.raises(EchoDataError, match="nan.nii: frames contain NaN or inf"):
        write_nifti_cine(tmp_path / "nan.nii", bad)
    assert not list(tmp_path.iterdir())
    data = grey.transpose(2, 1, 0).astype(np.float32)[:, :, None, :]
    data[0, 0, 0, 0] = np.inf
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "inf.nii")
    with pytest.raises(EchoDataError, match="inf.nii: image contains NaN or inf"):
        read_nifti_cine(tmp_path / "inf.nii", frame_time_ms=10)
    (tmp_path / "text.nii").write_text("no")
    with pytest.raises(EchoDataError, match="text.nii: not a readable NIfTI"):
        read_nifti_cine(tmp_path / "text.nii")
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 3, 2), np.uint8), np.eye(4)), tmp_path / "vol.nii")
    with pytest.raises(EchoDataError, match="vol.nii: shape .* is not a 2-D cine"):
        read_nifti_cine(tmp_path / "vol.nii")
