"""One entry point for any cine a user brings: DICOM, AVI/MP4 video or NIfTI."""

from __future__ import annotations

import os
from pathlib import Path

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
) -> EchoCine:
    """Read a DICOM, AVI/MP4 or NIfTI cine into an :class:`EchoCine`.

    Args:
        path: the file.
        grey: ``True`` luminance (T, H, W), ``False`` RGB, ``None`` as stored.
        size: (H, W) to resize every frame to.
        with_ecg: read the DICOM ECG (waveform, separate object, R-wave times); video and NIfTI have none.
        ecg_search_dir: where to look for a separate ECG waveform object (DICOM only).
        fast: use the fast JPEG path for DICOM where it applies.

    Raises:
        EchoDataError: the file cannot be read as a cine (message names the file and the problem).
    """
    kind = cine_format(path)
    if kind == "nifti":
        from echo_monai.io.nifti import read_nifti_cine

        return read_nifti_cine(path, grey=grey, size=size)
    if kind == "video":
        from echo_monai.io.video import read_video

        return read_video(path, grey=grey, size=size)
    from echo_monai.io.dicom_read import read_echo_cine

    return read_echo_cine(
        path, grey=grey, size=size, fast=fast, with_ecg=with_ecg, ecg_search_dir=ecg_search_dir
    )

