"""Explain a batch and write the result: the work behind :class:`~echo_monai.handlers.saliency.CaptumSaliencyHandler`.

:func:`explain_batch` predicts, picks the target (predicted or true class; for segmentation the summed
wall probability inside the predicted wall) and runs one Captum method; :func:`write_explanation` writes
per sample a PNG overlay (clips: a frame strip with the temporal importance curve, and a GIF) captioned
with the prediction and its probability, and the raw map as NIfTI. Nothing from the input file other than
its pixels reaches the outputs, so no patient identifier is carried over.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from echo_monai.explain.attribution import (
    LAYER_METHODS,
    RegionScore,
    attribute,
    explanation_mode,
    last_conv_layer,
    temporal_importance,
)
from echo_monai.explain.figures import captioned_overlay, clip_gif, clip_strip, save_png
from echo_monai.io.nifti import write_nifti_cine

__all__ = ["TASKS", "Explanation", "explain_batch", "output_stem", "write_explanation"]

TASKS = ("classification", "segmentation")


@dataclass
class Explanation:
    """One sample's attribution and what it explains.

    Attributes:
        maps: (H, W) or (T, H, W) float32 attribution, channels summed.
        frames: the input as shown under the map, (H, W[, 3]) or (T, H, W[, 3]).
        method: Captum method name.
        target: what was attributed, e.g. ``"A5C (predicted)"`` or ``"wall score in predicted wall"``.
        prediction, probability: predicted class name and its softmax probability (classification).
        label: true class name when known.
        score: segmentation: summed wall probability inside the predicted wall, and ``region_pixels``.
        importance: (T,) per-frame share of the absolute attribution for clips.
    """

    maps: np.ndarray
    frames: np.ndarray
    method: str
    target: str
    prediction: str | None = None
    probability: float | None = None
    label: str | None = None
    score: float | None = None
    region_pixels: int | None = None
    importance: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_clip(self) -> bool:
        return self.maps.ndim == 3

    def caption(self) -> list[str]:
        """Caption lines: prediction and probability (or the wall score), true label, method."""
        if self.prediction is not None:
            first = f"predicted {self.prediction}  p={self.probability:.2f}"
        else:
            first = f"wall score {self.score:.1f} over {self.region_pixels} predicted wall px"
        lines = [first]
        if self.label is not None:
            lines.append(f"true {self.label}")
        lines.append(f"{self.method} of {self.target}")
        return lines


def _display_frames(x: np.ndarray) -> np.ndarray:
    """(C, [T,] H, W) network input -> frames to draw on: RGB for 3 channels, else the centre channel
    (the frame itself for 1 channel, the centre frame of a neighbour-frame stack)."""
    if x.shape[0] == 3:
        return np.moveaxis(x, 0, -1)
    return x[x.shape[0] // 2]


def _class_name(index: int, class_names: Sequence[str] | None) -> str:
    return class_names[index] if class_names is not None and 0 <= index < len(class_names) else str(index)


def explain_batch(
    model: nn.Module,
    inputs: torch.Tensor,
    method: str = "Saliency",
    *,
    task: str = "classification",
    target: str = "pred",
    labels: torch.Tensor | Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    layer: str | None = None,
    region_channel: int = 1,
    clip_frames: int = 4,
    method_args: Mapping[str, Any] | None = None,
) -> list[Explanation]:
    """Attribute each sample of ``inputs`` with ``method`` and package the results.

    Args:
        model: classifier ((B, C, H, W) or (B, C, T, H, W) -> logits (B, K)) or, with
            ``task="segmentation"``, a segmentation network ((B, C, H, W) -> (B, K, H, W)).
        inputs: the batch as the network takes it.
        target: ``"pred"`` (the predicted class) or ``"label"`` (the true class, ``labels`` needed).
        labels: (B,) class indices, or (B, 1) / one-hot (B, K); used for captions and ``target="label"``.
        class_names: names of the classes, e.g. :data:`echo_monai.views.VIEW_NAMES`.
        layer: layer name for LayerGradCam / GuidedGradCam, as in ``model.named_modules()`` (default: the
            last convolution).
        region_channel: segmentation class whose summed probability is explained (the LV wall).
        clip_frames: segmentation of clips (B, C, T, H, W) by a frame network (as MONAI's ``SliceInferer``
            runs it): the number of evenly spaced frames explained per clip.
        method_args: further keyword arguments of :func:`~echo_monai.explain.attribution.attribute`.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if target not in ("pred", "label"):
        raise ValueError(f"target must be 'pred' or 'label', got {target!r}")
    args = dict(method_args or {})
    true = None
    if labels is not None:
        lab = torch.as_tensor(labels).detach().cpu()
        true = (lab.argmax(dim=1) if lab.ndim == 2 and lab.shape[1] > 1 else lab.reshape(-1)).long()
        if true.numel() != inputs.shape[0]:
            raise ValueError(f"{true.numel()} labels for a batch of {inputs.shape[0]}")
    if target == "label" and true is None:
        raise ValueError("target='label' needs the true labels")

    frames = inputs.detach().cpu().float().numpy()
    if task == "segmentation":
        return _explain_segmentation(model, inputs, frames, method, layer, region_channel, clip_frames, args)

    with explanation_mode(model), torch.no_grad():
        probs = torch.softmax(model(inputs).float(), dim=1).cpu()
    pred = probs.argmax(dim=1)
    tgt = pred if target == "pred" else true
    maps = attribute(model, inputs, tgt.to(inputs.device), method, layer=layer, **args)
    importance = temporal_importance(maps).cpu().numpy() if maps.ndim == 4 else None
    out = []
    for i in range(inputs.shape[0]):
        t = int(tgt[i])
        out.append(Explanation(
            maps[i].cpu().numpy(), _display_frames(frames[i]), method,
            target=f"{_class_name(t, class_names)} ({'predicted' if target == 'pred' else 'true'})",
            prediction=_class_name(int(pred[i]), class_names), probability=float(probs[i, pred[i]]),
            label=None if true is None else _class_name(int(true[i]), class_names),
            importance=None if importance is None else importance[i],
        ))
    return out


def _explain_segmentation(model: nn.Module, inputs: torch.Tensor, frames: np.ndarray, method: str,
                          layer: str | None, region_channel: int, clip_frames: int,
                          args: dict[str, Any]) -> list[Explanation]:
    """Frames (B, C, H, W): one map each. Clips (B, C, T, H, W) for a frame network: ``clip_frames`` evenly
    spaced frames of each clip are explained as frames and returned as one clip explanation per sample."""
    b = inputs.shape[0]
    idx = None
    x = inputs
    if inputs.ndim == 5:
        t = inputs.shape[2]
        idx = np.unique(np.linspace(0, t - 1, max(1, min(clip_frames, t))).round().astype(int))
        x = inputs[:, :, idx].transpose(1, 2).reshape(b * len(idx), inputs.shape[1], *inputs.shape[3:])
    scorer = RegionScore(model, region_channel)
    with explanation_mode(model), torch.no_grad():
        region = scorer.predicted_region(x)
        score = scorer(x, region)
    # The scorer wraps the network as ``model``; default: the network's own last convolution.
    if method in LAYER_METHODS:
        args["layer"] = "model." + (layer if layer is not None else last_conv_layer(model))
    maps = attribute(scorer, x, None, method, additional_forward_args=region, **args).cpu().numpy()
    pixels = region.flatten(1).sum(dim=1).cpu().numpy()
    score = score.cpu().numpy()
    target = "wall score in predicted wall"
    if idx is None:
        return [Explanation(maps[i], _display_frames(frames[i]), method, target=target, score=float(score[i]),
                            region_pixels=int(pixels[i])) for i in range(b)]
    n = len(idx)
    maps = maps.reshape(b, n, *maps.shape[1:])
    out = []
    for i in range(b):
        shown = np.stack([_display_frames(frames[i][:, j]) for j in idx])
        clip_maps = maps[i]
        per = np.abs(clip_maps).reshape(n, -1).sum(axis=1)
        out.append(Explanation(clip_maps, shown, method, target=f"{target} (frames {', '.join(map(str, idx))})",
                               score=float(score[i * n:(i + 1) * n].sum()),
                               region_pixels=int(pixels[i * n:(i + 1) * n].sum()),
                               importance=per / per.sum() if per.sum() > 0 else per))
    return out


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SUFFIXES = (".nii.gz", ".nii", ".dcm", ".dicom", ".avi", ".mp4", ".mov", ".npy", ".npz", ".png", ".jpg", ".mha", ".mhd")


def output_stem(source: str | os.PathLike | None, fallback: str) -> str:
    """File-name stem for outputs about ``source``: its base name without the image suffix, made safe
    (spaces and other characters become ``_``); ``fallback`` when the input has no file name."""
    if source is None or str(source) == "":
        return fallback
    name = Path(str(source)).name
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    name = _UNSAFE.sub("_", name).strip("._")
    return name or fallback


def write_explanation(
    explanation: Explanation,
    output_dir: str | os.PathLike,
    stem: str,
    *,
    nifti: bool = True,
    gif: bool = True,
    frame_ms: float = 40.0,
    strip_frames: int = 8,
) -> list[Path]:
    """Write the pictures and raw map of one explanation as ``<stem>_<method>.*``; returns the paths.

    Frames: ``.png`` overlay. Clips: ``_strip.png`` (evenly spaced frames over the temporal importance
    bars) and ``.gif`` (every frame). Both: ``.nii.gz`` raw map, float32 (1, H, W) or (T, H, W).
    """
    out = Path(output_dir)
    base = f"{stem}_{explanation.method}"
    caption = explanation.caption()
    paths: list[Path] = []
    maps = explanation.maps.astype(np.float32)
    if explanation.is_clip:
        strip = clip_strip(explanation.frames, maps, caption, explanation.importance, max_frames=strip_frames)
        paths.append(save_png(out / f"{base}_strip.png", strip))
        if gif:
            paths.append(clip_gif(out / f"{base}.gif", explanation.frames, maps, caption, frame_ms))
    else:
        paths.append(save_png(out / f"{base}.png", captioned_overlay(explanation.frames, maps, caption)))
    if nifti:
        volume = maps if explanation.is_clip else maps[None]
        paths.append(write_nifti_cine(out / f"{base}.nii.gz", volume,
                                      frame_time_ms=frame_ms if explanation.is_clip else None))
    return paths
