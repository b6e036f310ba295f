"""Echo cines as NIfTI (CAMUS ships its sequences this way), with nibabel.

Layout written: a 2-D + time cine is stored as NIfTI dims (x = columns, y = rows, z = 1, t = frames), a
colour cine as (x, y, 1, t, 3) with intent ``vector``; ``pixdim`` holds the column and row spacing (mm)
and the frame interval, ``xyzt_units`` says mm and ms. Reading accepts that layout and 3-D (x, y, frames)
files such as CAMUS's half sequences, whose frame interval is not in the file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image

from echo_monai.errors import EchoDataError
from echo_monai.io.frames import convert_frames, resize_frames
from echo_monai.io.types import EchoCine

__all__ = ["read_nifti_cine", "write_nifti_cine"]

_TIME_TO_MS = {"msec": 1.0, "sec": 1000.0, "usec": 1e-3}
_INTENT_VECTOR = 1007


def _suffix(path: Path) -> str:
    return ".nii.gz" if path.name.endswith(".nii.gz") else path.suffix


def write_nifti_cine(
    path: str | os.PathLike,
    frames: np.ndarray,
    *,
    spacing_mm: tuple[float, float] | None = None,
    frame_time_ms: float | None = None,
) -> Path:
    """Write a cine as NIfTI-1 (``.nii`` or ``.nii.gz``), atomically.

    Args:
        path: output file.
        frames: (T, H, W) or (T, H, W, 3), uint8 (kept) or float (stored as float32).
        spacing_mm: (row, column) pixel size in mm (default 1, 1).
        frame_time_ms: interval between frames in ms (default: not stored, pixdim 0).

    Raises:
        EchoDataError: NaN or inf in the frames, or a shape that is not a cine.
    """
    path = Path(path)
    frames = np.asarray(frames)
    if frames.ndim not in (3, 4) or (frames.ndim == 4 and frames.shape[3] != 3) or frames.shape[0] == 0:
        raise EchoDataError(path, f"frames must be (T, H, W) or (T, H, W, 3) with T >= 1, got {frames.shape}")
    if frames.dtype.kind == "f":
        if not np.all(np.isfinite(frames)):
            raise EchoDataError(path, "frames contain NaN or inf: nothing written")
        frames = frames.astype(np.float32, copy=False)
    elif frames.dtype != np.uint8:
        raise EchoDataError(path, f"frames must be uint8 or float, got {frames.dtype}")
    if frame_time_ms is not None and not (np.isfinite(frame_time_ms) and frame_time_ms > 0):
        raise EchoDataError(path, f"frame_time_ms must be positive and finite, got {frame_time_ms}")
    row_mm, col_mm = (1.0, 1.0) if spacing_mm is None else (float(spacing_mm[0]), float(spacing_mm[1]))

    if frames.ndim == 3:
        data = frames.transpose(2, 1, 0)[:, :, None, :]  # (x, y, 1, t)
    else:
        data = frames.transpose(2, 1, 0, 3)[:, :, None, :, :]  # (x, y, 1, t, rgb)
    affine = np.diag([col_mm, row_mm, 1.0, 1.0])
    img = nib.Nifti1Image(np.ascontiguousarray(data), affine)
    header = img.header
    zooms = [col_mm, row_mm, 1.0, float(frame_time_ms or 0.0)] + ([1.0] if frames.ndim == 4 else [])
    header.set_zooms(zooms)
    header.set_xyzt_units("mm", "msec")
    if frames.ndim == 4:
        header.set_intent("vector")

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_suffix(path), dir=path.parent)
    os.close(fd)
    try:
        nib.save(img, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _to_uint8(data: np.ndarray, path: Path) -> tuple[np.ndarray, str]:
    """uint8 frames from any stored type: kept, rounded, or rescaled; returns (frames, how)."""
    if data.dtype == np.uint8:
        return data, "as stored"
    if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
        raise EchoDataError(path, "image contains NaN or inf")
    lo, hi = float(data.min()), float(data.max())
    if data.dtype.kind == "f" and lo >= 0.0 and hi <= 1.0:
        return np.round(data * 255.0).astype(np.uint8), "scaled from 0..1"
    if lo >= 0.0 and hi <= 255.0:
        return np.round(data).astype(np.uint8), "rounded"
    if hi == lo:
        return np.zeros(data.shape, dtype=np.uint8), "constant"
    return np.round((data - lo) * (255.0 / (hi - lo))).astype(np.uint8), f"rescaled from {lo:g}..{hi:g}"


def read_nifti_cine(
    path: str | os.PathLike,
    *,
    grey: bool | None = None,
    size: tuple[int, int] | None = None,
    frame_time_ms: float | None = None,
    labels: bool = False,
) -> EchoCine:
    """Read a NIfTI cine into an :class:`EchoCine` (uint8 frames).

    Args:
        path: ``.nii`` / ``.nii.gz`` file: (x, y, 1, t), (x, y, 1, t, 3), or 3-D (x, y, frames).
        grey, size: as in :func:`echo_monai.io.read_echo_cine`.
        frame_time_ms: frame interval to use when the file has none (3-D files, pixdim[4] = 0).
        labels: the file is a label map (segmentation masks): values are kept exactly (integers 0..255
            required) and ``size`` resizes with nearest neighbour.

    Raises:
        EchoDataError: unreadable file, NaN/inf, a layout that is not a 2-D cine, or no frame interval.
    """
    path = Path(path)
    if not path.is_file():
        raise EchoDataError(path, "file not found")
    try:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj)  # stored dtype unless the header scales it
    except Exception as exc:  # nibabel raises ImageFileError, OSError, EOFError, zlib errors ...
        raise EchoDataError(path, f"not a readable NIfTI file ({type(exc).__name__}: {exc})") from exc
    zooms = img.header.get_zooms()
    _, time_unit = img.header.get_xyzt_units()

    if data.ndim == 5 and data.shape[2] == 1 and data.shape[4] == 3:
        frames, step = data[:, :, 0].transpose(2, 1, 0, 3), float(zooms[3])
    elif data.ndim == 4 and data.shape[2] == 1:
        frames, step = data[:, :, 0, :].transpose(2, 1, 0), float(zooms[3])
    elif data.ndim == 3:
        frames, step = data.transpose(2, 1, 0), 0.0  # third axis = frames; NIfTI has no interval for it
    elif data.ndim == 2:
        frames, step = data.T[None], 0.0
    else:
        raise EchoDataError(path, f"shape {data.shape} is not a 2-D cine (x, y[, 1, t[, 3]])")
    frames = np.ascontiguousarray(frames)
    if labels:
        if frames.dtype.kind == "f" and not np.all(np.isfinite(frames)):
            raise EchoDataError(path, "label map contains NaN or inf")
        if frames.size and (frames.min() < 0 or frames.max() > 255 or np.any(frames != np.round(frames))):
            raise EchoDataError(path, "label map values must be integers in 0..255")
        frames, how = frames.astype(np.uint8), "labels"
    else:
        frames, how = _to_uint8(frames, path)

    n_frames = frames.shape[0]
    step_ms = step * _TIME_TO_MS.get(time_unit, 1.0) if step > 0 else 0.0
    if step_ms <= 0:
        step_ms = float(frame_time_ms) if frame_time_ms else 0.0
    if step_ms <= 0 and n_frames > 1:
        raise EchoDataError(path, f"{n_frames} frames but no frame interval in the file: pass frame_time_ms")
    times = np.arange(n_frames, dtype=np.float64) * step_ms

    stored_h, stored_w = frames.shape[1:3]
    col_mm, row_mm = float(zooms[0]), float(zooms[1])
    spatial_unit = img.header.get_xyzt_units()[0]
    # "unknown" is read as mm, as ITK does: most tools that leave the unit unset mean millimetres.
    to_mm = {"mm": 1.0, "unknown": 1.0, "meter": 1000.0, "micron": 1e-3}.get(spatial_unit)
    if labels:
        frames = frames if size is None else resize_frames(frames, size, Image.Resampling.NEAREST)
    else:
        frames = convert_frames(frames, grey=grey, size=size)
    spacing = None
    if to_mm is not None and row_mm > 0 and col_mm > 0:
        spacing = (row_mm * to_mm * stored_h / frames.shape[1], col_mm * to_mm * stored_w / frames.shape[2])
    metadata = {
        "format": "nifti",
        "stored_shape": tuple(int(s) for s in data.shape),
        "stored_dtype": str(data.dtype),
        "intensity": how,
        "n_frames": n_frames,
        "output_shape": tuple(int(s) for s in frames.shape),
    }
    return EchoCine(frames=frames, frame_times_ms=times, spacing_mm=spacing, metadata=metadata, path=str(path))
