"""Frame-wise colour and size conversions shared by the DICOM, video and NIfTI readers.

Everything works one uint8 frame at a time through Pillow, so a cine never exists as a float copy.
Luminance is ITU-R BT.601 (Y = 0.299 R + 0.587 G + 0.114 B), the same Y that a JPEG stores: the fast
JPEG path (which reads Y straight from the codestream) and the reference path agree.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["RESAMPLE", "convert_frame", "convert_frames", "resize_frames", "to_grey", "to_rgb"]

# Pillow widens the filter support when shrinking, so downscaling is antialiased. Hamming (support 1,
# like bilinear, slightly sharper) is also closest to libjpeg's DCT-domain downscaling, which keeps the fast
# JPEG path and the reference path within a few grey levels (measured in tests/io/test_dicom_fast.py).
RESAMPLE = Image.Resampling.HAMMING


def to_grey(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB -> (T, H, W) uint8 luminance; (T, H, W) is returned as is."""
    if frames.ndim == 3:
        return frames
    out = np.empty(frames.shape[:3], dtype=np.uint8)
    for i, frame in enumerate(frames):
        out[i] = np.asarray(Image.fromarray(frame, mode="RGB").convert("L"))
    return out


def to_rgb(frames: np.ndarray) -> np.ndarray:
    """(T, H, W) uint8 grey -> (T, H, W, 3) by repeating the channel; RGB is returned as is."""
    if frames.ndim == 4:
        return frames
    return np.repeat(frames[..., None], 3, axis=-1)


def resize_frames(frames: np.ndarray, size: tuple[int, int],
                  resample: Image.Resampling = RESAMPLE) -> np.ndarray:
    """Resize every frame to ``size`` = (H, W) pixels; (T, H, W) or (T, H, W, 3) uint8 in and out.

    ``resample=Image.Resampling.NEAREST`` keeps label values (segmentation masks) intact.
    """
    h, w = int(size[0]), int(size[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be positive (H, W), got {size}")
    if frames.shape[1:3] == (h, w):
        return frames
    out = np.empty((frames.shape[0], h, w, *frames.shape[3:]), dtype=np.uint8)
    for i, frame in enumerate(frames):
        out[i] = np.asarray(Image.fromarray(frame).resize((w, h), resample))
    return out


def convert_frame(frame: np.ndarray, *, grey: bool | None, size: tuple[int, int] | None) -> np.ndarray:
    """One (H, W) or (H, W, 3) uint8 frame through the same ``grey`` / ``size`` options as :func:`convert_frames`."""
    return convert_frames(frame[None], grey=grey, size=size)[0]


def convert_frames(frames: np.ndarray, *, grey: bool | None, size: tuple[int, int] | None) -> np.ndarray:
    """Apply the readers' common ``grey`` (None: keep, True: luminance, False: RGB) and ``size`` options.

    Colour is reduced before resizing (less work); the order does not change the result beyond rounding.
    """
    if grey is True:
        frames = to_grey(frames)
    elif grey is False:
        frames = to_rgb(frames)
    if size is not None:
        frames = resize_frames(frames, size)
    return frames
