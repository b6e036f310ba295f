"""The MetaImage reader against files written byte by byte as the format specifies."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from echo_monai.datasets.metaimage import read_metaimage
from echo_monai.errors import EchoDataError


def _write_mhd(path, array_zyx, *, etype="MET_UCHAR", msb=False, compressed=False, spacing=(0.3, 0.15, 1.0)):
    dims = " ".join(str(d) for d in reversed(array_zyx.shape))
    data = array_zyx.astype(array_zyx.dtype.newbyteorder(">" if msb else "<")).tobytes()
    if compressed:
        data = zlib.compress(data)
    raw = path.with_suffix(".raw")
    raw.write_bytes(data)
    lines = [
        "ObjectType = Image",
        f"NDims = {array_zyx.ndim}",
        f"DimSize = {dims}",
        f"ElementSpacing = {' '.join(str(s) for s in spacing[: array_zyx.ndim])}",
        f"ElementByteOrderMSB = {'True' if msb else 'False'}",
        f"CompressedData = {'True' if compressed else 'False'}",
        f"ElementType = {etype}",
        f"ElementDataFile = {raw.name}",
    ]
    path.write_text("\n".join(lines) + "\n")


def test_cine_axes_spacing_and_values(tmp_path):
    arr = np.random.default_rng(0).integers(0, 255, size=(4, 6, 5), dtype=np.uint8)  # (T, H, W)
    _write_mhd(tmp_path / "seq.mhd", arr)
    img = read_metaimage(tmp_path / "seq.mhd")
    assert img.array.shape == (4, 6, 5)
    np.testing.assert_array_equal(img.array, arr)
    assert img.spacing == (0.3, 0.15, 1.0)


@pytest.mark.parametrize("msb", [False, True])
def test_big_endian_compressed_shorts(tmp_path, msb):
    arr = np.arange(-30, 30, dtype=np.int16).reshape(6, 10)
    _write_mhd(tmp_path / "x.mhd", arr, etype="MET_SHORT", msb=msb, compressed=True)
    np.testing.assert_array_equal(read_metaimage(tmp_path / "x.mhd").array, arr)


def test_local_data_in_one_mha_file(tmp_path):
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    header = "NDims = 2\nDimSize = 4 3\nElementType = MET_FLOAT\nElementDataFile = LOCAL\n"
    (tmp_path / "x.mha").write_bytes(header.encode() + arr.tobytes())
    np.testing.assert_array_equal(read_metaimage(tmp_path / "x.mha").array, arr)


def test_truncated_or_missing_data_is_a_clear_error(tmp_path):
    arr = np.zeros((8, 8), dtype=np.uint8)
    _write_mhd(tmp_path / "x.mhd", arr)
    (tmp_path / "x.raw").write_bytes(b"\0" * 10)
    with pytest.raises(EchoDataError, match="truncated"):
        read_metaimage(tmp_path / "x.mhd")
    (tmp_path / "x.raw").unlink()
    with pytest.raises(EchoDataError, match="missing or unreadable"):
        read_metaimage(tmp_path / "x.mhd")
    (tmp_path / "bad.mhd").write_text("NDims = 2\nDimSize = 8 8\nElementType = MET_QUATERNION\nElementDataFile = x\n")
    with pytest.raises(EchoDataError, match="ElementType"):
        read_metaimage(tmp_path / "bad.mhd")
