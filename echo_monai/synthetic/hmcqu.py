"""Synthetic A4C recordings written in HMC-QU's on-disk layout, so HMC-QU tooling can be tested offline.

Layout under ``out_dir`` (as the public dataset unpacks)::

    HMC-QU/A4C/<id>.avi                                   25 fps grey videos (some ids contain a space)
    LV Ground-truth Segmentation Masks/Mask_<id>.mat      variable ``predicted``: (frames, 224, 224) uint8
                                                          binary LV wall for ONE cycle
    A4C.xlsx                                              per recording: ECHO id, SEG1-3, SEG5-7 (1 = infarcted),
                                                          Reference Frame and End of Cycle (one-based)

The spreadsheet follows the 7-segment A4C numbering of the dataset (SEG4, the apical cap, is not scored):
SEG1 basal inferoseptal (AHA 3), SEG2 mid inferoseptal (9), SEG3 apical septal (14), SEG5 apical lateral
(16), SEG6 mid anterolateral (12), SEG7 basal anterolateral (6). The mask covers the frames from the
reference frame to the end-of-cycle frame inclusive, resized from the full video frame to 224x224.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from echo_monai.errors import EchoDataError
from echo_monai.synthetic.dataset import patient_heart
from echo_monai.synthetic.generator import random_settings, render_clip

__all__ = ["HMCQU_MASK_SIZE", "export_hmcqu"]

HMCQU_MASK_SIZE = 224
_SHEET_SEGMENTS = ("SEG1", "SEG2", "SEG3", "SEG5", "SEG6", "SEG7")


def _resize_mask(masks: np.ndarray, size: int) -> np.ndarray:
    return np.stack([np.asarray(Image.fromarray(m).resize((size, size), Image.NEAREST)) for m in masks])


def export_hmcqu(
    out_dir: str | os.PathLike,
    *,
    n_recordings: int = 6,
    n_frames: int = 50,
    size: tuple[int, int] = (422, 636),
    seed: int = 0,
    mask_fraction: float = 0.8,
) -> list[dict]:
    """Write ``n_recordings`` synthetic A4C recordings in HMC-QU's layout; returns one record per recording.

    Args:
        out_dir: a new or empty folder.
        n_frames: frames per video (25 fps; 50 frames = 2 s, at least one full cycle at >= 45 bpm).
        size: video (H, W).
        mask_fraction: share of recordings with a mask file (the real dataset masks 109 of 162).

    Returns:
        ``[{"id", "video", "mask" (or None), "start_frame", "end_frame" (one-based), "infarcted" (6 bools)}]``.
    """
    import openpyxl
    import scipy.io

    from echo_monai.io.video import write_video  # OpenCV, an optional dependency like openpyxl

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise EchoDataError(out, "the HMC-QU export folder is not empty; choose a new or empty folder")
    video_dir = out / "HMC-QU" / "A4C"
    mask_dir = out / "LV Ground-truth Segmentation Masks"
    video_dir.mkdir(parents=True, exist_ok=True)
    mask_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 31])
    records = []
    for k in range(n_recordings):
        rec_id = f"ES{k + 1:04d} _4CH_1" if rng.random() < 0.4 else f"ES{k + 1:04d}_4CH_1"
        heart = patient_heart(seed + 1000, k)
        clip_rng = np.random.default_rng([seed, 37, k])
        # fast enough that the clip holds a full R-R cycle (1.3 cycles at the slowest)
        hr_min = max(55.0, 60.0 * 1.3 * 25.0 / max(n_frames - 1, 1))
        settings = random_settings("A4C", clip_rng, n_frames=n_frames, size=size, ecg_form="none",
                                   heart_rate_bpm=float(clip_rng.uniform(hr_min, max(hr_min + 5.0, 95.0))), heart=heart)
        settings.fps, settings.irregular_frames = 25.0, False
        clip = render_clip(settings, heart)
        write_video(video_dir / f"{rec_id}.avi", clip.frames, 25.0)
        ed = clip.ed_frames
        if ed.size >= 2:
            start, end = int(ed[0]), int(ed[1])
        else:  # fewer than two R peaks in the clip: the cycle is the whole clip
            start, end = 0, clip.frames.shape[0] - 1
        mask_path = None
        if rng.random() < mask_fraction:
            assert clip.wall_mask is not None
            predicted = _resize_mask(clip.wall_mask[start:end + 1], HMCQU_MASK_SIZE)
            mask_path = mask_dir / f"Mask_{rec_id}.mat"
            scipy.io.savemat(mask_path, {"predicted": predicted.astype(np.uint8)}, do_compression=True)
        records.append({"id": rec_id, "video": str(video_dir / f"{rec_id}.avi"),
                        "mask": None if mask_path is None else str(mask_path),
                        "start_frame": start + 1, "end_frame": end + 1,
                        "infarcted": [bool(v) for v in clip.infarcted]})

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "A4C"
    ws.append(["", "MI ground truth per segment (1: infarcted, 0: non-infarcted)", "", "", "", "", "", "", ""])
    ws.merge_cells(start_row=1, start_column=2, end_row=1, end_column=7)
    ws.append(["ECHO", *_SHEET_SEGMENTS, "Reference Frame", "End of Cycle"])
    for r in records:
        ws.append([r["id"], *[int(v) for v in r["infarcted"]], r["start_frame"], r["end_frame"]])
    fd, tmp = tempfile.mkstemp(prefix=".A4C.", suffix=".xlsx", dir=out)
    os.close(fd)
    wb.save(tmp)
    os.replace(tmp, out / "A4C.xlsx")
    return records
