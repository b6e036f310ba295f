"""Synthetic A4C clips -> NIfTI image / LV-wall mask cine pairs, in the item format of HMC-QU and CAMUS.

The synthetic generator (:func:`echo_monai.synthetic.make_dataset`) writes DICOM cines with their truth in
``truth/<clip>.npz``. This converter turns its A4C clips into the pairs the wall-segmentation bundle
trains on, so that one bundle config reads synthetic, HMC-QU (:mod:`echo_monai.datasets.hmcqu`) and CAMUS
(:mod:`echo_monai.datasets.camus`) data alike:

- ``images/<clip>.nii.gz``: uint8 grey cine (T, H, W) stored as (W, H, 1, T), pixel spacing (mm) and
  frame interval (ms) in the header;
- ``labels/<clip>_wall.nii.gz``: uint8 {0, 1} LV wall (myocardium) per frame;
- ``labels/<clip>_segments.nii.gz``: uint8 0..6, the six A4C segments (1..6 = AHA 3, 9, 14, 16, 12, 6);
- ``datalist.json``: the generator's patient split kept (``training`` / ``validation`` / ``test``); items
  carry ``image``, ``label``, ``segments``, ``has_mask``, ``case``, ``recording``, ``view``, ``infarcted``
  (six 0/1), ``mi``, ``n_frames``, ``frame_time_ms``, ``spacing_mm``, ``ed_frames`` / ``es_frames`` (all
  gated frames, 0-based) and ``ed_frame`` / ``es_frame`` (one cycle, as CAMUS items have them).

:func:`check_wall_pair` is the per-recording check the converter and the bundle's data loading share.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from echo_monai.datasets.output import ConversionOutput
from echo_monai.errors import EchoDataError
from echo_monai.io.dicom_read import read_echo_cine
from echo_monai.io.frames import resize_frames
from echo_monai.io.nifti import write_nifti_cine

__all__ = ["MIN_WALL_VIDEO_SIZE", "check_wall_pair", "one_cycle", "prepare_wall_dataset"]

#: (H, W) below which a cine is not treated as a usable A4C recording for wall segmentation.
MIN_WALL_VIDEO_SIZE = (32, 32)
_SPLITS = ("training", "validation", "test")


def check_wall_pair(
    image_shape: Sequence[int],
    mask: np.ndarray,
    *,
    min_size: Sequence[int] = MIN_WALL_VIDEO_SIZE,
    path: str | os.PathLike | None = None,
) -> None:
    """Refuse an image / wall-mask pair that cannot be trained or evaluated on.

    Args:
        image_shape: (T, H, W) of the grey cine.
        mask: (T, H, W) wall mask, non-zero = wall.
        min_size: smallest acceptable (H, W) of the cine.
        path: the recording named in the error.

    Raises:
        EchoDataError: a frame count that differs from the video's, a mask of another frame size, a mask
            empty in every frame (or in some frames: the cycle is then only partly traced), or a cine
            smaller than ``min_size`` (not an A4C recording at a usable size).
    """
    t, h, w = (int(v) for v in image_shape[:3])
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise EchoDataError(path, f"the wall mask must be (frames, H, W), got shape {mask.shape}")
    if h < min_size[0] or w < min_size[1]:
        raise EchoDataError(path, f"frames of {h}x{w} pixels are smaller than a usable A4C recording "
                                  f"(at least {min_size[0]}x{min_size[1]})")
    if mask.shape[0] != t:
        raise EchoDataError(path, f"the wall mask has {mask.shape[0]} frames but the video has {t}")
    if mask.shape[1:] != (h, w):
        raise EchoDataError(path, f"the wall mask is {mask.shape[1]}x{mask.shape[2]} pixels but the video "
                                  f"frames are {h}x{w}")
    filled = mask.reshape(mask.shape[0], -1).any(axis=1)
    if not filled.any():
        raise EchoDataError(path, "the wall mask is empty in every frame")
    if not filled.all():
        empty = (np.flatnonzero(~filled) + 1).tolist()
        raise EchoDataError(path, f"the wall mask is empty in frame(s) {empty[:10]}"
                                  f"{' ...' if len(empty) > 10 else ''} (one-based)")


def one_cycle(ed_frames: Sequence[int], es_frames: Sequence[int]) -> tuple[int, int] | None:
    """(ED, ES) of one cardiac cycle: the first ED with an ES after it and before the next ED; else the
    last ED with an ES before it (a clip that starts in systole); ``None`` without such a pair."""
    ed = np.sort(np.asarray(ed_frames, dtype=np.int64))
    es = np.sort(np.asarray(es_frames, dtype=np.int64))
    for i, e in enumerate(ed):
        nxt = ed[i + 1] if i + 1 < ed.size else np.iinfo(np.int64).max
        later = es[(es > e) & (es < nxt)]
        if later.size:
            return int(e), int(later[0])
    for i in range(ed.size - 1, -1, -1):
        prev = ed[i - 1] if i > 0 else -1
        earlier = es[(es < ed[i]) & (es > prev)]
        if earlier.size:
            return int(ed[i]), int(earlier[-1])
    return None


def _frame_time_ms(times: np.ndarray) -> float:
    steps = np.diff(np.asarray(times, dtype=np.float64))
    steps = steps[steps > 0]
    # Irregular FrameTimeVectors exist; NIfTI holds one interval, so the median stands for them.
    return float(np.median(steps)) if steps.size else 40.0


def prepare_wall_dataset(
    input_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    size: int | Sequence[int] | None = None,
    min_size: Sequence[int] = MIN_WALL_VIDEO_SIZE,
) -> dict[str, Any]:
    """Convert the A4C clips of a synthetic dataset into NIfTI wall-segmentation pairs.

    Args:
        input_dir: a folder written by :func:`echo_monai.synthetic.make_dataset` (``datalist.json``,
            ``dicom/``, ``truth/``); only items with ``has_wall_mask`` are converted.
        out_dir: output folder (new, empty, or from an earlier run of this converter); never inside
            ``input_dir``.
        size: (H, W) or one number to resize every frame to (grey image: area / bilinear, masks: nearest;
            the spacing follows), e.g. 224 as HMC-QU or 64 for CPU tests; ``None`` keeps the size.
        min_size: see :func:`check_wall_pair`.

    Returns:
        the report (also in ``report.json``): items per split, patients per split, clips with MI, skips.

    Raises:
        EchoDataError: no ``datalist.json`` in ``input_dir``, or an output folder that may not be used.
    """
    root = Path(input_dir).expanduser().resolve()
    listing = root / "datalist.json"
    if not listing.is_file():
        raise EchoDataError(root, "no datalist.json: not a synthetic dataset folder (make it with "
                                  "echo-make-synthetic or echo_monai.synthetic.make_dataset)")
    try:
        source = json.loads(listing.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EchoDataError(listing, f"unreadable datalist ({exc})") from exc
    hw = None if size is None else ((int(size), int(size)) if np.isscalar(size) else tuple(int(v) for v in size))
    if hw is not None and min(hw) < 1:
        raise ValueError(f"size must be positive, got {size}")
    out = ConversionOutput(out_dir, inputs=[root], tool="prepare_wall_dataset")

    datalist: dict[str, list[dict[str, Any]]] = {s: [] for s in _SPLITS}
    n_other_views = 0
    for split in _SPLITS:
        for item in source.get(split, []):
            if not item.get("has_wall_mask"):
                n_other_views += 1
                continue
            try:
                converted = _convert_clip(root, item, out, hw, min_size)
            except EchoDataError as exc:
                out.skip(str(item.get("image", "?")), exc.problem)
                continue
            except Exception as exc:  # noqa: BLE001 - keep converting the others; the reason says it is unexpected
                out.skip(str(item.get("image", "?")), f"unexpected error ({type(exc).__name__}: {exc})")
                continue
            datalist[split].append(converted)
    out.write_json("datalist.json", {
        "name": "synthetic A4C LV wall",
        "description": "echo_monai synthetic A4C clips: LV-wall masks, six segments, per-segment infarct labels",
        "labels": {"0": "background", "1": "LV wall"},
        "segments": ["basal inferoseptal", "mid inferoseptal", "apical septal", "apical lateral",
                     "mid anterolateral", "basal anterolateral"],
        "segment_aha": [3, 9, 14, 16, 12, 6],
        **datalist,
    })
    items = [i for v in datalist.values() for i in v]
    return out.finish({
        "input": root.name,
        "size": list(hw) if hw else None,
        "n_converted": len(items),
        "n_other_views": n_other_views,
        "n_mi": int(sum(i["mi"] for i in items)),
        "n_items": {name: len(v) for name, v in datalist.items()},
        "n_patients": {name: len({i["case"] for i in v}) for name, v in datalist.items()},
    })


def _convert_clip(root: Path, item: dict[str, Any], out: ConversionOutput, hw: tuple[int, int] | None,
                  min_size: Sequence[int]) -> dict[str, Any]:
    """Check and write one clip; returns its datalist item."""
    image_path, truth_path = root / str(item["image"]), root / str(item.get("truth", ""))
    if not truth_path.is_file():
        raise EchoDataError(truth_path, "the truth file of this clip is missing")
    try:
        truth = np.load(truth_path)
        wall, segments = np.asarray(truth["wall_mask"]), np.asarray(truth["segments"])
        infarcted = np.asarray(truth["infarcted"]).astype(bool)
        ed_frames, es_frames = np.asarray(truth["ed_frames"]), np.asarray(truth["es_frames"])
    except KeyError as exc:
        raise EchoDataError(truth_path, f"the truth file has no {exc.args[0]!r} array") from exc
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # a cut .npz is a bad zip file
        raise EchoDataError(truth_path, f"unreadable truth file ({exc})") from exc
    cine = read_echo_cine(image_path, grey=True, size=hw, with_ecg=False)
    frames = cine.frames
    if hw is not None:
        wall = resize_frames(wall.astype(np.uint8), hw, Image.Resampling.NEAREST)
        segments = resize_frames(segments.astype(np.uint8), hw, Image.Resampling.NEAREST)
    check_wall_pair(frames.shape, wall, min_size=min_size, path=image_path)
    if infarcted.shape != (6,):
        raise EchoDataError(truth_path, f"expected six infarct flags, got shape {infarcted.shape}")
    if cine.spacing_mm is None:
        raise EchoDataError(image_path, "no pixel spacing (SequenceOfUltrasoundRegions) in the DICOM")
    spacing = (float(cine.spacing_mm[0]), float(cine.spacing_mm[1]))
    frame_time = _frame_time_ms(cine.frame_times_ms)
    name = Path(str(item["image"])).stem
    image_rel, label_rel, seg_rel = f"images/{name}.nii.gz", f"labels/{name}_wall.nii.gz", f"labels/{name}_segments.nii.gz"
    for rel, arr in ((image_rel, frames), (label_rel, (wall > 0).astype(np.uint8)), (seg_rel, segments.astype(np.uint8))):
        out.write_with(rel, lambda p, a=arr: write_nifti_cine(p, a, spacing_mm=spacing, frame_time_ms=frame_time))
    converted: dict[str, Any] = {
        "image": image_rel,
        "label": label_rel,
        "segments": seg_rel,
        "has_mask": True,
        "case": str(item["case"]),
        "recording": name,
        "view": "A4C",
        "infarcted": [int(f) for f in infarcted],
        "mi": int(infarcted.any()),
        "n_frames": int(frames.shape[0]),
        "frame_time_ms": round(frame_time, 4),
        "spacing_mm": [round(v, 6) for v in spacing],
        "ed_frames": [int(f) for f in ed_frames],
        "es_frames": [int(f) for f in es_frames],
    }
    cycle = one_cycle(ed_frames, es_frames)
    if cycle is not None:
        converted["ed_frame"], converted["es_frame"] = cycle
    else:
        out.warn(str(item["image"]), "no ED and ES frame of one cycle in the clip: no regional analysis")
    return converted
