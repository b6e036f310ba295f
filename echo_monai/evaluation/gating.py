"""How well gating finds the true end-diastolic frames of synthetic cines.

A true ED frame (the frame nearest the generator's R peak) counts as found with error ``e`` when the
nearest detected ED frame is ``e`` frames away; a true ED frame with no detected ED frame within the clip
counts as missed. This is the per-cycle figure the gating acceptance criteria are stated in.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from echo_monai.errors import EchoDataError
from echo_monai.transforms.io import GATING_META_KEY, LoadEchoCine

__all__ = ["ed_frame_errors", "evaluate_gating", "write_gating_report"]


def ed_frame_errors(detected: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Absolute frame error of the nearest detected ED for each true ED frame (-1 where none detected)."""
    detected = np.asarray(detected, dtype=np.int64)
    truth = np.asarray(truth, dtype=np.int64)
    if detected.size == 0:
        return np.full(truth.shape, -1, dtype=np.int64)
    return np.min(np.abs(truth[:, None] - detected[None, :]), axis=1)


def _summary(errors: list[int], spurious: int, n_clips: int, failed: int, sources: dict, seconds: float) -> dict:
    e = np.asarray(errors, dtype=np.int64)
    found = e[e >= 0]
    n = max(len(e), 1)
    hist = {str(k): int(np.sum(found == k)) for k in range(int(found.max()) + 1)} if found.size else {}
    return {
        "clips": n_clips,
        "clips_failed": failed,
        "true_ed_frames": len(e),
        "exact": float(np.sum(e == 0) / n),
        "within_1": float(np.sum((e >= 0) & (e <= 1)) / n),
        "within_2": float(np.sum((e >= 0) & (e <= 2)) / n),
        "missed": float(np.sum(e < 0) / n),
        "spurious_ed_frames": spurious,
        "max_error": int(found.max()) if found.size else None,
        "error_histogram": hist,
        "sources_used": dict(sources),
        "seconds_per_clip": seconds / max(n_clips, 1),
    }


def evaluate_gating(
    data_dir: str | os.PathLike, items: list[dict], *, size: tuple[int, int] | None = None,
    sources: tuple[str, ...] = ("ecg", "burned_in", "image"),
) -> dict:
    """Gate every clip of a synthetic datalist and compare ED frames with the truth, per ECG form.

    Args:
        data_dir: the synthetic dataset folder (holding ``datalist.json`` paths).
        items: datalist items with ``image``, ``truth`` and ``ecg_form``.
        size: frame size to load at (gating does not depend on it except for the image fallback).
        sources: gating sources allowed.

    Returns:
        ``{ecg_form: summary}`` with the share of true ED frames found exactly, within 1 and 2 frames,
        missed, the number of spurious ED detections, the error histogram, the sources actually used and
        the time per clip.
    """
    root = Path(data_dir)
    load = LoadEchoCine(grey=True, size=size, gating=True, gating_sources=sources)
    errors: dict[str, list[int]] = defaultdict(list)
    spurious: dict[str, int] = defaultdict(int)
    used: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    failed: dict[str, int] = defaultdict(int)
    clips: dict[str, int] = defaultdict(int)
    seconds: dict[str, float] = defaultdict(float)
    for item in items:
        form = item.get("ecg_form", "unknown")
        truth = np.load(root / item["truth"])
        clips[form] += 1
        t0 = time.perf_counter()
        try:
            gating = load(root / item["image"]).meta[GATING_META_KEY]
        except EchoDataError:
            failed[form] += 1
            errors[form].extend([-1] * len(truth["ed_frames"]))
            continue
        finally:
            seconds[form] += time.perf_counter() - t0
        used[form][gating.ecg_source] += 1
        errors[form].extend(ed_frame_errors(gating.ed_frames, truth["ed_frames"]).tolist())
        # Detected ED frames more than 2 frames from every true one (a true ED just outside the clip
        # cannot be detected inside it, so only those with a truth neighbour in the clip count).
        if len(truth["ed_frames"]):
            spurious[form] += int(np.sum(ed_frame_errors(truth["ed_frames"], gating.ed_frames) > 2))
    return {
        form: _summary(errors[form], spurious[form], clips[form], failed[form], used[form], seconds[form])
        for form in clips
    }


def write_gating_report(report: dict, path: str | os.PathLike) -> Path:
    """Write the report of :func:`evaluate_gating` as JSON (atomically)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2))
    os.replace(tmp, out)
    return out
