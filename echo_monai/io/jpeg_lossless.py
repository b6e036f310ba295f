"""A small encoder for lossless JPEG (ITU-T T.81 process 14, first-order prediction, SV1).

No installed library writes DICOM's `JPEG Lossless, Non-Hierarchical, First-Order Prediction`
transfer syntax (1.2.840.10008.1.2.4.70): pydicom has no encoder for it and Pillow only writes baseline.
Real archives hold such files, so the writer produces them here and the readers are tested on them.

8-bit samples, one to three components interleaved in a single scan, predictor 1 (left neighbour; the
first column predicts from the row above, the first sample from 128), the default DC luminance Huffman
table of Annex K (its categories 0..11 cover the 8-bit differences -255..255).
"""

from __future__ import annotations

import struct

import numpy as np

__all__ = ["encode_jpeg_lossless"]

# Annex K.3, table K.3: DC luminance code lengths (BITS) and values (HUFFVAL).
_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
_HUFFVAL = tuple(range(12))


def _code_table() -> tuple[np.ndarray, np.ndarray]:
    """Canonical Huffman codes (Annex C): code and length for each category 0..11."""
    codes = np.zeros(12, dtype=np.uint32)
    lengths = np.zeros(12, dtype=np.uint32)
    code, k = 0, 0
    for length, count in enumerate(_BITS, start=1):
        for _ in range(count):
            codes[_HUFFVAL[k]] = code
            lengths[_HUFFVAL[k]] = length
            code += 1
            k += 1
        code <<= 1
    return codes, lengths


_CODES, _LENGTHS = _code_table()


def _pack_bits(values: np.ndarray, lengths: np.ndarray) -> bytes:
    """Concatenate the low ``lengths[i]`` bits of each ``values[i]`` (MSB first), pad with 1s, stuff 0xFF.

    Codes are at most 17 bits, so each one, placed at its bit offset, falls within 3 consecutive bytes:
    its 24-bit window is split into 3 bytes and summed into the output with ``bincount`` (codes never
    share a bit, so the sum is the bitwise OR). This avoids per-bit arrays (32 bytes per sample).
    """
    lengths = lengths.astype(np.int64)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    total_bits = int(ends[-1]) if ends.size else 0
    n_bytes = (total_bits + 7) // 8
    byte0 = starts // 8
    window = values.astype(np.int64) << (24 - (starts % 8) - lengths)  # the code inside 3 bytes
    parts = np.stack([(window >> 16) & 0xFF, (window >> 8) & 0xFF, window & 0xFF])
    index = np.stack([byte0, byte0 + 1, byte0 + 2])
    data = np.bincount(index.ravel(), weights=parts.ravel(), minlength=n_bytes + 2)[:n_bytes]
    data = data.astype(np.uint8)
    pad = n_bytes * 8 - total_bits
    if pad:
        data[-1] |= (1 << pad) - 1  # T.81 F.1.2.3: fill the last byte with 1-bits
    ff = np.flatnonzero(data == 0xFF)
    if ff.size:  # a 0xFF byte in entropy-coded data must be followed by 0x00 (T.81 F.1.2.3)
        data = np.insert(data, ff + 1, 0)
    return data.tobytes()


def encode_jpeg_lossless(image: np.ndarray) -> bytes:
    """Encode one 8-bit image as a lossless JPEG (process 14, SV1) codestream.

    Args:
        image: (H, W) or (H, W, C) uint8 with C in 1..3.

    Returns:
        The codestream from SOI to EOI.
    """
    if image.dtype != np.uint8:
        raise ValueError(f"lossless JPEG encoder takes uint8 samples, got {image.dtype}")
    img = image[..., None] if image.ndim == 2 else image
    if img.ndim != 3 or not 1 <= img.shape[2] <= 3:
        raise ValueError(f"expected (H, W) or (H, W, C<=3) image, got shape {image.shape}")
    h, w, nc = img.shape
    x = img.astype(np.int16)
    pred = np.empty_like(x)
    pred[:, 1:] = x[:, :-1]
    pred[1:, 0] = x[:-1, 0]
    pred[0, 0] = 128
    diff = (x - pred).reshape(-1)  # per pixel, components interleaved: the scan's MCU order
    mag = np.abs(diff).astype(np.uint32)
    category = np.zeros(mag.shape, dtype=np.uint32)
    nz = mag > 0
    category[nz] = np.floor(np.log2(mag[nz])).astype(np.uint32) + 1
    extra = np.where(diff >= 0, diff, diff - 1).astype(np.int64) & ((1 << category.astype(np.int64)) - 1)
    values = (_CODES[category].astype(np.uint64) << category.astype(np.uint64)) | extra.astype(np.uint64)
    lengths = _LENGTHS[category] + category
    scan = _pack_bits(values, lengths)

    sof = struct.pack(">HHBHHB", 0xFFC3, 8 + 3 * nc, 8, h, w, nc)
    sof += b"".join(struct.pack(">BBB", c + 1, 0x11, 0) for c in range(nc))
    dht = struct.pack(">HHB", 0xFFC4, 2 + 1 + 16 + len(_HUFFVAL), 0x00) + bytes(_BITS) + bytes(_HUFFVAL)
    sos = struct.pack(">HHB", 0xFFDA, 6 + 2 * nc, nc)
    sos += b"".join(struct.pack(">BB", c + 1, 0x00) for c in range(nc))
    sos += struct.pack(">BBB", 1, 0, 0)  # Ss = predictor 1, Se = 0, Ah/Al = 0 (no point transform)
    return b"\xff\xd8" + sof + dht + sos + scan + b"\xff\xd9"
