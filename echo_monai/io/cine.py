"""One entry point for any cine a user brings: DICOM, AVI/MP4 video or NIfTI."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from echo_monai.errors import EchoDataError
from echo_monai.io.types import EchoCine

__all__ = ["cine_format", "read_cine"]

_VIDEO_SUFFIXES = {".avi", ".mp4", ".mov", ".mkv", ".m4v"}


def cine_format(path: str | os.PathLike) -> str:
    """``"nifti"``, ``"video"`` or ``"dicom"`` from the file name (DICOMs often have no extension)."""
    name = Path(path).name.lower()
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    if Path(name).suffix in _VIDEO_SUFFIXES:
        return "video"
    return "dicom"


def read_cine(
    path: str | os.PathLike,
    *,
    grey: bool | None = None,
    size: tuple[int, int] | None = None,
    with_ecg: bool = True,
    ecg_search_dir: str | os.PathLike | None = None,
    fast: bool = True,
    crop: tuple[int, int, int, int] | Callable | None = None,
) -> EchoCine:
    """Read a DICOM, AVI/MP4 or NIfTI cine into an :class:`EchoCine`.

    Args:
        path: the file.
        grey: ``True`` luminance (T, H, W), ``False`` RGB, ``None`` as stored.
        size: (H, W) to resize every frame to.
        with_ecg: read the DICOM ECG (waveform, separate object, R-wave times); video and NIfTI have none.
        ecg_search_dir: where to look for a separate ECG waveform object (DICOM only).
        fast: use the fast JPEG path for DICOM where it applies.
        crop: only this part of every frame, ``(x0, y0, x1, y1)`` inclusive stored pixels, or a rule
            ``(regions, (rows, columns)) -> box`` such as
            :func:`~echo_monai.io.dicom_read.burned_in_ecg_area`. DICOM frames are cut as they are decoded
            (memory follows the crop); video and NIfTI, which carry no regions, are cut after reading.

    Raises:
        EchoDataError: the file cannot be read as a cine (message names the file and the problem).
    """
    kind = cine_format(path)
    if kind == "dicom":
        from echo_monai.io.dicom_read import read_echo_cine

        return read_echo_cine(
            path, grey=grey, size=size, fast=fast, with_ecg=with_ecg, ecg_search_dir=ecg_search_dir, crop=crop
        )
    if kind == "nifti":
        from echo_monai.io.nifti import read_nifti_cine

        read = read_nifti_cine
    else:
        from echo_monai.io.video import read_video

        read = read_video
    if crop is None:
        return read(path, grey=grey, size=size)
    cine = read(path, grey=grey)
    return _cut(cine, crop(cine.regions, cine.frames.shape[1:3]) if callable(crop) else crop, size, path)


def _cut(cine: EchoCine, box, size: tuple[int, int] | None, path) -> EchoCine:
    """``cine`` cut to ``box`` (inclusive pixels, clipped to the frames), then resized to ``size``."""
    from echo_monai.io.frames import convert_frames

    h, w = cine.frames.shape[1:3]
    if box is None:
        x0, y0, x1, y1 = 0, 0, w - 1, h - 1
    else:
        x0, y0, x1, y1 = (int(v) for v in box)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w - 1), min(y1, h - 1)
        if x0 > x1 or y0 > y1:
            raise EchoDataError(path, f"crop {tuple(box)} lies outside the {h}x{w} image")
    frames = np.ascontiguousarray(cine.frames[:, y0 : y1 + 1, x0 : x1 + 1])
    scan = cine.scan_region
    if scan is not None:
        scan = (max(scan[0] - x0, 0), max(scan[1] - y0, 0), min(scan[2], x1) - x0, min(scan[3], y1) - y0)
        scan = scan if scan[0] <= scan[2] and scan[1] <= scan[3] else None
    spacing = cine.spacing_mm
    if size is not None:
        sy, sx = frames.shape[1] / size[0], frames.shape[2] / size[1]
        frames = convert_frames(frames, grey=None, size=size)
        spacing = None if spacing is None else (spacing[0] * sy, spacing[1] * sx)
        scan = None if scan is None else (round(scan[0] / sx), round(scan[1] / sy),
                                          round((scan[2] + 1) / sx) - 1, round((scan[3] + 1) / sy) - 1)
    metadata = dict(cine.metadata, crop=(x0, y0, x1, y1), output_shape=tuple(int(s) for s in frames.shape))
    return dataclasses.replace(cine, frames=frames, spacing_mm=spacing, scan_region=scan, metadata=metadata)

