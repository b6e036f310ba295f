"""A small MetaImage (``.mhd`` + ``.raw``, or ``.mha``) reader in numpy.

The older CAMUS release ships its images this way. Only what such files use is supported: one data
file (or ``LOCAL`` data after the header), any MET scalar type, optional zlib compression, either byte
order, several channels. Multi-file lists (``LIST``, patterns) are refused with a clear error.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from echo_monai.errors import EchoDataError

__all__ = ["MetaImage", "read_metaimage"]

_MET_TYPES: dict[str, str] = {
    "MET_UCHAR": "u1",
    "MET_CHAR": "i1",
    "MET_USHORT": "u2",
    "MET_SHORT": "i2",
    "MET_UINT": "u4",
    "MET_INT": "i4",
    "MET_ULONG": "u4",
    "MET_LONG": "i4",
    "MET_ULONG_LONG": "u8",
    "MET_LONG_LONG": "i8",
    "MET_FLOAT": "f4",
    "MET_DOUBLE": "f8",
}


@dataclass
class MetaImage:
    """A decoded MetaImage.

    Attributes:
        array: the voxels in C order, axes reversed from the header's ``DimSize``: a 2D image with
            ``DimSize = W H`` gives shape (H, W); a cine with ``DimSize = W H T`` gives (T, H, W); a
            trailing channel axis when ``ElementNumberOfChannels`` > 1.
        spacing: ``ElementSpacing`` in ``DimSize`` order (x first), in the file's units (mm for CAMUS).
        header: every header field as text.
    """

    array: np.ndarray
    spacing: tuple[float, ...]
    header: dict[str, str] = field(default_factory=dict)


def _parse_header(path: Path, raw: bytes) -> tuple[dict[str, str], int]:
    """Header fields and the byte offset where the header ends (after ``ElementDataFile``)."""
    header: dict[str, str] = {}
    offset = 0
    for line in raw.splitlines(keepends=True):
        offset += len(line)
        text = line.decode("latin-1").strip()
        if not text:
            continue
        if "=" not in text:
            raise EchoDataError(path, f"not a MetaImage header: line {text[:40]!r} has no '='")
        key, value = (part.strip() for part in text.split("=", 1))
        header[key] = value
        if key == "ElementDataFile":  # by definition the last header field
            return header, offset
    raise EchoDataError(path, "MetaImage header has no ElementDataFile field")


def read_metaimage(path: str | os.PathLike) -> MetaImage:
    """Read a ``.mhd`` (header + separate data file) or ``.mha`` (one file) image.

    Raises:
        EchoDataError: missing or truncated data file, unknown element type, unsupported layout.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise EchoDataError(path, f"cannot read the file ({exc.strerror or exc})") from exc
    # A header is small; only parse the start so that a .mha's binary data is not decoded as text.
    header, header_end = _parse_header(path, raw[: min(len(raw), 1 << 16)])

    try:
        dims = [int(v) for v in header["DimSize"].split()]
        ndims = int(header.get("NDims", len(dims)))
    except (KeyError, ValueError) as exc:
        raise EchoDataError(path, "MetaImage header lacks a valid DimSize") from exc
    if len(dims) != ndims or any(d <= 0 for d in dims):
        raise EchoDataError(path, f"DimSize {dims} does not match NDims {ndims}")
    etype = header.get("ElementType", "")
    if etype not in _MET_TYPES:
        raise EchoDataError(path, f"unsupported MetaImage ElementType {etype!r}")
    msb = header.get("ElementByteOrderMSB", header.get("BinaryDataByteOrderMSB", "False")).lower() == "true"
    dtype = np.dtype(_MET_TYPES[etype]).newbyteorder(">" if msb else "<")
    channels = int(header.get("ElementNumberOfChannels", "1"))
    spacing_text = header.get("ElementSpacing", header.get("ElementSize", ""))
    try:
        spacing = tuple(float(v) for v in spacing_text.split()) if spacing_text else (1.0,) * ndims
    except ValueError as exc:
        raise EchoDataError(path, f"invalid ElementSpacing {spacing_text!r}") from exc

    data_file = header["ElementDataFile"]
    if data_file.upper() == "LOCAL":
        data = raw[header_end:]
    elif data_file.upper().startswith("LIST") or "%" in data_file:
        raise EchoDataError(path, "MetaImage with a list of data files is not supported")
    else:
        data_path = path.parent / data_file
        try:
            data = data_path.read_bytes()
        except OSError as exc:
            raise EchoDataError(data_path, f"the MetaImage data file is missing or unreadable ({exc})") from exc
        skip = int(header.get("HeaderSize", "0"))
        if skip > 0:
            data = data[skip:]
    if header.get("CompressedData", "False").lower() == "true":
        try:
            data = zlib.decompress(data)
        except zlib.error as exc:
            raise EchoDataError(path, f"the compressed MetaImage data is corrupt ({exc})") from exc

    n_values = int(np.prod(dims)) * channels
    expected = n_values * dtype.itemsize
    if len(data) < expected:
        raise EchoDataError(path, f"MetaImage data is truncated: {len(data)} bytes, expected {expected}")
    array = np.frombuffer(data[:expected], dtype=dtype).astype(dtype.newbyteorder("="))
    shape = tuple(reversed(dims)) + ((channels,) if channels > 1 else ())
    return MetaImage(array=array.reshape(shape), spacing=spacing, header=header)
