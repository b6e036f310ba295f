"""Video in and out through OpenCV: frame count, frame rate, content, options and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from echo_monai.errors import EchoDataError
from echo_monai.io.video import read_video, write_video

pytest.importorskip("cv2")

T, H, W = 8, 64, 96


@pytest.fixture(scope="module")
def frames(echo_frames):
    return echo_frames(T, H, W, colour=True, seed=7)


# OpenCV reports MPEG-4 part 2 in MP4 as "FMP4" (FFmpeg's tag) whichever FourCC wrote it.
@pytest.mark.parametrize(("name", "codec", "reported", "tol"),
                         [("clip.avi", "MJPG", "MJPG", 6.0), ("clip one.mp4", "mp4v", "FMP4", 12.0)])
def test_round_trip(tmp_path, frames, name, codec, reported, tol):
    path = write_video(tmp_path / name, frames, fps=25.0, codec=codec)
    cine = read_video(path)
    assert cine.frames.shape == (T, H, W, 3) and cine.frames.dtype == np.uint8
    np.testing.assert_allclose(cine.frame_times_ms, np.arange(T) * 40.0)
    assert cine.frame_rate_hz == pytest.approx(25.0)
    assert np.abs(cine.frames.astype(np.int16) - frames).mean() < tol
    # Colour survives: the 1-pixel ECG trace is still green (chroma subsampling desaturates it a little).
    green = (frames[..., 1] > 200) & (frames[..., 0] < 80)
    assert cine.frames[green][:, 1].mean() > cine.frames[green][:, 0].mean() + 50
    assert cine.metadata["codec"].upper() == reported and cine.metadata["n_frames"] == T


def test_grey_and_size(tmp_path, frames):
    path = write_video(tmp_path / "echonet.avi", frames[..., 0], fps=50.0)  # grey input
    cine = read_video(path, grey=True, size=(32, 48))
    assert cine.frames.shape == (T, 32, 48)
    assert cine.metadata["rows"] == H and cine.metadata["columns"] == W
    assert abs(float(cine.frames.mean()) - float(frames[..., 0].mean())) < 3.0


def test_bad_input(tmp_path, frames):
    with pytest.raises(EchoDataError, match="gone.avi: file not found"):
        read_video(tmp_path / "gone.avi")
    (tmp_path / "fake.avi").write_bytes(b"RIFF\x00\x00\x00\x00not really a video" * 10)
    with pytest.raises(EchoDataError, match="fake.avi: (not a video|the video has no decodable frames)"):
        read_video(tmp_path / "fake.avi")
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "x.avi", frames.astype(np.float32), fps=25)
    with pytest.raises(ValueError, match="fps"):
        write_video(tmp_path / "x.avi", frames, fps=0)
    assert not (tmp_path / "x.avi").exists()
