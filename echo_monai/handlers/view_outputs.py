"""Window-level records of one evaluator iteration, whether MONAI decollated the batch or not.

A MONAI workflow leaves ``engine.state.batch`` / ``engine.state.output`` either as one dict of batched
values (``decollate=False``) or as a list of per-sample dicts (``decollate=True``, the default). The
view handlers read both through :func:`window_records`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = ["WindowRecords", "window_records"]


@dataclass
class WindowRecords:
    """Per-window facts, accumulated over iterations (lists of equal length N).

    Attributes:
        scores: (N, K) logits or probabilities, as the network's output gave them.
        labels: N true classes, or -1 when the batch had no label.
        clips: N clip keys (the item's ``clip`` field, else the image file).
        studies: N study ids ("" when unknown).
        ecg_sources: N ECG sources used for gating (``meta["ecg_source"]``, "" when unknown).
        windows: N window indices within the clip (cycle or frame index, -1 when unknown).
    """

    scores: list[np.ndarray] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    clips: list[str] = field(default_factory=list)
    studies: list[str] = field(default_factory=list)
    ecg_sources: list[str] = field(default_factory=list)
    windows: list[int] = field(default_factory=list)

    def extend(self, other: WindowRecords) -> None:
        for name in ("scores", "labels", "clips", "studies", "ecg_sources", "windows"):
            getattr(self, name).extend(getattr(other, name))

    def __len__(self) -> int:
        return len(self.clips)

    @property
    def has_labels(self) -> bool:
        return bool(self.labels) and min(self.labels) >= 0

    def score_matrix(self) -> np.ndarray:
        """(N, K) float64 array of the scores."""
        return np.stack(self.scores).astype(np.float64) if self.scores else np.zeros((0, 0))


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x)


def _meta_value(meta: Mapping | None, key: str, i: int | None, default: Any) -> Any:
    if not meta or key not in meta:
        return default
    value = meta[key]
    if i is None:
        return value
    if isinstance(value, (list, tuple)):
        return value[i]
    if isinstance(value, (torch.Tensor, np.ndarray)) and np.ndim(value) >= 1:
        return value[i]
    return value


def _scalar(value: Any, default: int = -1) -> int:
    try:
        return int(_to_numpy(value).reshape(-1)[0])
    except (TypeError, ValueError, IndexError):
        return default


def _window_index(meta: Mapping | None, i: int | None) -> int:
    for key in ("cycle_index", "frame_index"):
        value = _meta_value(meta, key, i, None)
        if value is not None:
            return _scalar(value)
    return -1


def window_records(batch: Any, output: Any, *, pred_key: str = "pred", label_key: str = "label",
                   image_key: str = "image", clip_key: str = "clip", study_key: str = "study") -> WindowRecords:
    """Records of one iteration from MONAI's ``engine.state.batch`` and ``engine.state.output``."""
    rec = WindowRecords()
    if isinstance(output, Sequence) and not isinstance(output, Mapping):  # decollated: one dict per sample
        batches = batch if isinstance(batch, Sequence) and not isinstance(batch, Mapping) else [None] * len(output)
        for out_i, batch_i in zip(output, batches):
            src = batch_i if isinstance(batch_i, Mapping) else out_i
            image = out_i.get(image_key, src.get(image_key)) if isinstance(out_i, Mapping) else None
            meta = getattr(image, "meta", None)
            rec.scores.append(_to_numpy(out_i[pred_key]).reshape(-1))
            label = out_i.get(label_key, src.get(label_key))
            rec.labels.append(-1 if label is None else _scalar(label))
            clip = src.get(clip_key) or _meta_value(meta, "filename_or_obj", None, "")
            rec.clips.append(str(clip))
            rec.studies.append(str(src.get(study_key, "") or ""))
            rec.ecg_sources.append(str(_meta_value(meta, "ecg_source", None, "")))
            rec.windows.append(_window_index(meta, None))
        return rec
    pred = _to_numpy(output[pred_key])
    n = pred.shape[0]
    src = batch if isinstance(batch, Mapping) else output
    image = output.get(image_key, src.get(image_key))
    meta = getattr(image, "meta", None)
    labels = output.get(label_key, src.get(label_key))
    label_arr = None if labels is None else _to_numpy(labels).reshape(n, -1)[:, 0]
    clips = src.get(clip_key)
    studies = src.get(study_key)
    for i in range(n):
        rec.scores.append(pred[i].reshape(-1))
        rec.labels.append(-1 if label_arr is None else int(label_arr[i]))
        rec.clips.append(str(clips[i] if clips is not None else _meta_value(meta, "filename_or_obj", i, "")))
        rec.studies.append(str(studies[i] or "") if studies is not None else "")
        rec.ecg_sources.append(str(_meta_value(meta, "ecg_source", i, "")))
        rec.windows.append(_window_index(meta, i))
    return rec
