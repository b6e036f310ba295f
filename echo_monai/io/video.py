"""Echo videos (AVI, MP4) in and out with OpenCV: HMC-QU (AVI, 25 fps), EchoNet-Dynamic (112x112 AVI).

OpenCV is an optional dependency (``pip install echo_monai[video]``); it is imported when first needed.
Videos carry no physical spacing and no ECG, only a frame rate, so frame times are evenly spaced.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from echo_monai.errors import EchoDataError
from echo_monai.io.frames import convert_frame
from echo_monai.io.types import EchoCine

__all__ = ["read_video", "write_video"]


def _cv2():
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - exercised only without the extra installed
        raise ImportError("reading and writing video needs OpenCV: pip install 'echo_monai[video]'") from exc
    return cv2


def read_video(path: str | os.PathLike, *, grey: bool | None = None,
               size: tuple[int, int] | None = None) -> EchoCine:
    """Read an AVI/MP4 echo video.

    Args:
        path: the video file (names with spaces, as in HMC-QU, are fine).
        grey: ``True`` luminance (T, H, W); ``None`` / ``False`` RGB (T, H, W, 3) as decoded (video
            codecs always return three channels).
        size: (H, W) to resize every frame to.

    Returns:
        An :class:`EchoCine` with uint8 frames and frame times from the container's frame rate.

    Raises:
        EchoDataError: missing file, not a video OpenCV can decode, no frames, or no frame rate.
    """
    cv2 = _cv2()
    path = Path(path)
    if not path.is_file():
        raise EchoDataError(path, "file not found")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise EchoDataError(path, "not a video OpenCV can open (unknown container or codec)")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC) or 0)
        declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        frames = []
        stored_shape: tuple[int, ...] = ()
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            stored_shape = stored_shape or bgr.shape
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            frames.append(convert_frame(rgb, grey=grey, size=size))
    finally:
        cap.release()
    if not frames:
        raise EchoDataError(path, "the video has no decodable frames")
    if declared > 0 and len(frames) < declared:
        # A half-copied AVI decodes up to the cut without complaint: its index still counts every frame.
        raise EchoDataError(path, f"the video is truncated: its header declares {declared} frames but only "
                                  f"{len(frames)} could be decoded")
    if not np.isfinite(fps) or fps <= 0:
        raise EchoDataError(path, "the video has no frame rate")
    stack = np.stack(frames)
    codec = "".join(chr((fourcc >> (8 * i)) & 0xFF) for i in range(4)).strip("\x00") if fourcc else None
    metadata = {
        "container": path.suffix.lower().lstrip("."),
        "codec": codec,
        "frame_rate_hz": fps,
        "n_frames": int(stack.shape[0]),
        "rows": int(stored_shape[0]),
        "columns": int(stored_shape[1]),
        "output_shape": tuple(int(s) for s in stack.shape),
    }
    times = np.arange(stack.shape[0], dtype=np.float64) * (1000.0 / fps)
    return EchoCine(frames=stack, frame_times_ms=times, metadata=metadata, path=str(path))


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float, codec: str = "MJPG") -> Path:
    """Write (T, H, W) or (T, H, W, 3) uint8 RGB frames as a video, atomically.

    Args:
        path: output file; the extension picks the container (``.avi`` for MJPG, ``.mp4`` with ``mp4v``).
        frames: uint8 frames; grey frames are written as three equal channels.
        fps: frames per second stored in the container.
        codec: a FourCC code OpenCV can encode (``"MJPG"``, ``"mp4v"``, ``"XVID"`` ...).

    Returns:
        The written path.
    """
    cv2 = _cv2()
    path = Path(path)
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4) or (frames.ndim == 4 and frames.shape[3] != 3):
        raise ValueError(f"frames must be uint8 (T, H, W) or (T, H, W, 3), got {frames.dtype} {frames.shape}")
    if frames.shape[0] == 0:
        raise ValueError("no frames to write")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if len(codec) != 4:
        raise ValueError(f"codec must be a four-character code, got {codec!r}")
    height, width = frames.shape[1:3]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*codec), float(fps), (width, height), True)
    try:
        if not writer.isOpened():
            raise ValueError(f"OpenCV cannot write codec {codec!r} into a {path.suffix or 'extension-less'} file")
        for frame in frames:
            rgb = frame if frame.ndim == 3 else np.repeat(frame[..., None], 3, axis=-1)
            writer.write(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
        writer.release()
        os.replace(tmp, path)
    finally:
        writer.release()
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
