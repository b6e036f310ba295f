"""Fast decoding of JPEG-baseline echo cines, straight to the size and colour a model needs.

``ds.pixel_array`` decodes every frame at full size, upsamples the chroma and converts YBR to RGB,
only for most pipelines to throw the colour away and shrink the frame. Here each encapsulated frame goes
to Pillow with a JPEG *draft* request: libjpeg then scales in the DCT domain (1/2, 1/4, 1/8, never
below the requested size) and, for greyscale, decodes only the luminance component. A final bilinear
resize reaches the exact size. Pillow releases the GIL while decoding, so a thread pool over frames helps
when cores are free.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.uid import JPEGBaseline8Bit

from echo_monai.errors import EchoDataError
from echo_monai.io.frames import RESAMPLE

__all__ = ["FAST_PHOTOMETRICS", "can_decode_fast", "decode_jpeg_baseline_frames"]

# Photometric interpretations whose JPEG codestreams Pillow decodes correctly on its own: 3-component
# baseline JPEG is taken to be YCbCr, which is what YBR_FULL(_422) says. "RGB" inside a JPEG (no colour
# transform) would be misread, so it stays on the reference path.
FAST_PHOTOMETRICS = ("MONOCHROME2", "MONOCHROME1", "YBR_FULL_422", "YBR_FULL")


def can_decode_fast(ds: Dataset) -> bool:
    """Whether :func:`decode_jpeg_baseline_frames` handles this dataset (JPEG baseline, 8 bit, known colour)."""
    return (
        ds.file_meta.get("TransferSyntaxUID") == JPEGBaseline8Bit
        and ds.get("PhotometricInterpretation") in FAST_PHOTOMETRICS
        and int(ds.get("BitsAllocated", 8)) == 8
        and "PixelData" in ds
    )


def decode_jpeg_baseline_frames(
    ds: Dataset,
    *,
    grey: bool,
    size: tuple[int, int] | None = None,
    workers: int | None = None,
    path: str | os.PathLike | None = None,
    crop: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Decode every frame of a JPEG-baseline cine without ``pixel_array``.

    Args:
        ds: a dataset for which :func:`can_decode_fast` is true.
        grey: decode luminance only (T, H, W); otherwise RGB (T, H, W, 3) (colour sources only).
        size: (H, W) of the output frames, or ``None`` for the stored size.
        workers: threads decoding frames in parallel (``None`` or 1: in the calling thread).
        path: the file, for error messages.
        crop: ``(x0, y0, x1, y1)`` inclusive stored-pixel bounds inside the image: each frame is decoded at
            its stored size and cut to this box at once (then resized to ``size``), so that the full-size
            frames are never all held.

    Returns:
        uint8 frames, MONOCHROME1 already inverted so that bright means echo.
    """
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    rows, cols = int(ds.Rows), int(ds.Columns)
    colour_source = int(ds.get("SamplesPerPixel", 1)) == 3
    mode = "L" if grey or not colour_source else "RGB"
    if crop is not None:
        cx0, cy0, cx1, cy1 = (int(v) for v in crop)
        if not (0 <= cx0 <= cx1 < cols and 0 <= cy0 <= cy1 < rows):
            raise ValueError(f"crop {tuple(crop)} is not inside the {rows}x{cols} image")
        src_h, src_w = cy1 - cy0 + 1, cx1 - cx0 + 1
    else:
        src_h, src_w = rows, cols
    h, w = (src_h, src_w) if size is None else (int(size[0]), int(size[1]))

    def encoded_frames():
        # One frame's bytes at a time: a list of them would hold the pixel data a second time (212 MiB for a
        # 1000-frame 600x800 cine).
        return generate_frames(ds.PixelData, number_of_frames=n_frames)

    try:
        held = sum(1 for _ in encoded_frames())  # counted before anything is sized by NumberOfFrames
    except Exception as exc:  # pydicom raises ValueError/struct.error on a broken item structure
        raise EchoDataError(path, f"encapsulated pixel data is truncated or corrupt ({exc})") from exc
    if held != n_frames:
        raise EchoDataError(path, f"NumberOfFrames is {n_frames} but the pixel data holds {held} frames")

    shape = (n_frames, h, w) if mode == "L" else (n_frames, h, w, 3)
    out = np.empty(shape, dtype=np.uint8)

    def decode(i: int, data: bytes) -> None:
        img = Image.open(io.BytesIO(data))
        if img.size != (cols, rows):
            raise EchoDataError(path, f"frame {i} is {img.size[1]}x{img.size[0]}, header says {rows}x{cols}")
        # DCT-domain downscale by 1/2, 1/4 or 1/8 to >= (w, h); luminance only for "L". The scaled image
        # rounds its size up (the last pixel covers a partial block), so resize from the returned box, the
        # exact extent of the source image, or sizes that are not multiples of 8 shift by a fraction of a pixel.
        # A crop is cut from the stored grid, so no DCT downscaling then (draft still picks luminance only).
        drafted = img.draft(mode, (w, h) if crop is None else (cols, rows))
        box = drafted[1] if drafted else None
        if img.mode != mode:
            img = img.convert(mode)
        if crop is not None:
            img = img.crop((cx0, cy0, cx1 + 1, cy1 + 1))
            box = None
        if img.size != (w, h) or (box is not None and tuple(box[2:]) != img.size):
            img = img.resize((w, h), RESAMPLE, box=box)
        out[i] = np.asarray(img)

    try:
        if workers is not None and workers > 1 and n_frames > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(decode, range(n_frames), encoded_frames()))
        else:
            for i, data in enumerate(encoded_frames()):
                decode(i, data)
    except EchoDataError:
        raise
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow: truncated or invalid JPEG data
        raise EchoDataError(path, f"JPEG frame data cannot be decoded ({exc})") from exc

    if ds.PhotometricInterpretation == "MONOCHROME1":
        np.subtract(255, out, out=out)
    return out
