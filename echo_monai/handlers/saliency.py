"""Ignite handler writing Captum saliency maps of chosen samples during evaluation (or training).

Configured entirely from its constructor, so a bundle config can add it to ``validate#handlers``::

    {"_target_": "echo_monai.handlers.saliency.CaptumSaliencyHandler",
     "output_dir": "$@output_dir + '/saliency'", "method": "LayerGradCam",
     "layer": "frames.encoder.features.6", "max_samples": 8, "class_names": "@class_names"}

The work (attribution, captions, files) is in :mod:`echo_monai.explain`; this class finds the samples in
the engine's state and keeps count.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Engine, Events
from torch import nn

from echo_monai.explain.attribution import METHODS
from echo_monai.explain.explain import TASKS, explain_batch, output_stem, write_explanation
from echo_monai.explain.figures import write_atomic

__all__ = ["CaptumSaliencyHandler", "batch_inputs"]


def _source_names(batch: Mapping[str, Any], key: str, n: int) -> list[str | None]:
    """Input file of each sample: MetaTensor meta, then MONAI's ``<key>_meta_dict``, else None."""
    names: Any = None
    image = batch.get(key)
    meta = getattr(image, "meta", None)
    if isinstance(meta, Mapping):
        names = meta.get("filename_or_obj")
    if names is None and isinstance(batch.get(f"{key}_meta_dict"), Mapping):
        names = batch[f"{key}_meta_dict"].get("filename_or_obj")
    if isinstance(names, (str, os.PathLike)):
        names = [names] * n
    if not isinstance(names, Sequence) or len(names) < n:
        return [None] * n
    return [None if v is None else str(v) for v in names[:n]]


def batch_inputs(batch: Any, image_key: str, label_key: str | None) -> tuple[torch.Tensor, torch.Tensor | None, list]:
    """(images (B, ...), labels or None, source names) from a collated dict or a decollated list of dicts."""
    if isinstance(batch, Sequence) and not isinstance(batch, (str, bytes)) and batch and isinstance(batch[0], Mapping):
        images = torch.stack([torch.as_tensor(d[image_key]) for d in batch])
        labels = None
        if label_key is not None and all(label_key in d for d in batch):
            labels = torch.stack([torch.as_tensor(d[label_key]).reshape(-1) for d in batch])
        names = [_source_names(d, image_key, 1)[0] for d in batch]
        return images, labels, names
    if not isinstance(batch, Mapping) or image_key not in batch:
        raise ValueError(f"the engine's batch has no {image_key!r} entry to explain (set image_key)")
    images = torch.as_tensor(batch[image_key])
    labels = torch.as_tensor(batch[label_key]) if label_key is not None and label_key in batch else None
    return images, labels, _source_names(batch, image_key, images.shape[0])


class CaptumSaliencyHandler:
    """Attribution maps of up to ``max_samples`` samples per run, written as PNG / GIF / NIfTI.

    Args:
        output_dir: folder for the files; one run replaces the files it wrote in an earlier run.
        method: Captum method, one of :data:`~echo_monai.explain.attribution.METHODS`.
        network: the model to explain; default the engine's ``network`` (MONAI workflows).
        layer: layer name (``model.named_modules()``) for LayerGradCam / GuidedGradCam; None: the last
            convolution.
        task: ``"classification"`` (image or video classifier) or ``"segmentation"`` (explains the
            summed probability of ``region_channel`` inside the predicted region).
        target: ``"pred"`` (predicted class) or ``"label"`` (true class).
        class_names: class names for captions and the CSV (e.g. the 11 view names).
        iterations: 1-based iterations of the run to explain; None explains from the first until
            ``max_samples`` are done.
        max_samples: samples explained per run, over all iterations.
        image_key, label_key: batch keys of the network input and the true label (None: no labels).
        region_channel: segmentation class explained (the LV wall).
        clip_frames: segmentation of whole clips (B, C, T, H, W) by a frame network (MONAI
            ``SliceInferer``): evenly spaced frames explained per clip.
        method_args: further arguments of :func:`echo_monai.explain.attribution.attribute`
            (``n_steps``, ``nt_samples``, ``noise_std``, ``occlusion_fraction``, ...).
        nifti, gif: also write the raw map as NIfTI / an animated GIF for clips.
        frame_ms: GIF frame interval.

    Files per sample, named after the input file (``<name>_<method>...``; repeated windows of one file
    get ``_2``, ``_3``...): see :func:`~echo_monai.explain.explain.write_explanation`; and per run
    ``saliency_<method>.csv`` listing sample, prediction, probability, label and temporal importance.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        method: str = "Saliency",
        network: nn.Module | None = None,
        layer: str | None = None,
        task: str = "classification",
        target: str = "pred",
        class_names: Sequence[str] | None = None,
        iterations: Sequence[int] | None = None,
        max_samples: int = 4,
        image_key: str = "image",
        label_key: str | None = "label",
        region_channel: int = 1,
        clip_frames: int = 4,
        method_args: Mapping[str, Any] | None = None,
        nifti: bool = True,
        gif: bool = True,
        frame_ms: float = 40.0,
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown attribution method {method!r}; choose one of {', '.join(METHODS)}")
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        if max_samples < 1:
            raise ValueError(f"max_samples must be at least 1, got {max_samples}")
        self.output_dir = Path(output_dir)
        self.method = method
        self.network = network
        self.layer = layer
        self.task = task
        self.target = target
        self.class_names = None if class_names is None else list(class_names)
        self.iterations = None if iterations is None else {int(i) for i in iterations}
        self.max_samples = int(max_samples)
        self.image_key = image_key
        self.label_key = label_key
        self.region_channel = int(region_channel)
        self.clip_frames = int(clip_frames)
        self.method_args = dict(method_args or {})
        self.nifti = nifti
        self.gif = gif
        self.frame_ms = float(frame_ms)
        self._done = 0
        self._stems: dict[str, int] = {}
        self._rows: list[list[Any]] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)
        engine.add_event_handler(Events.COMPLETED, self._write_table)

    def _reset(self, engine: Engine) -> None:
        self._done, self._stems, self._rows = 0, {}, []

    def _stem(self, source: str | None, fallback: str) -> str:
        stem = output_stem(source, fallback)
        count = self._stems.get(stem, 0) + 1
        self._stems[stem] = count
        return stem if count == 1 else f"{stem}_{count}"

    def __call__(self, engine: Engine) -> None:
        if self._done >= self.max_samples:
            return
        iteration = int(engine.state.iteration)
        if self.iterations is not None and iteration not in self.iterations:
            return
        network = self.network if self.network is not None else getattr(engine, "network", None)
        if network is None:
            raise ValueError("CaptumSaliencyHandler needs `network=` when the engine has no `network`")
        images, labels, names = batch_inputs(engine.state.batch, self.image_key, self.label_key)
        n = min(images.shape[0], self.max_samples - self._done)
        device = next(network.parameters()).device
        # A plain tensor: MONAI's MetaTensor would carry batch meta data through Captum's copies.
        images = images[:n].as_subclass(torch.Tensor).to(device)
        labels = None if labels is None or self.task == "segmentation" else labels[:n]
        explanations = explain_batch(
            network, images, self.method, task=self.task, target=self.target, labels=labels,
            class_names=self.class_names, layer=self.layer, region_channel=self.region_channel,
            clip_frames=self.clip_frames, method_args=self.method_args,
        )
        for k, (expl, source) in enumerate(zip(explanations, names[:n], strict=True)):
            stem = self._stem(source, f"iteration{iteration:05d}_sample{k}")
            write_explanation(expl, self.output_dir, stem, nifti=self.nifti, gif=self.gif, frame_ms=self.frame_ms)
            importance = "" if expl.importance is None else ";".join(f"{v:.4f}" for v in expl.importance)
            self._rows.append([
                f"{stem}_{self.method}", "" if source is None else Path(source).name, iteration, expl.target,
                expl.prediction or "", "" if expl.probability is None else f"{expl.probability:.4f}",
                expl.label or "", "" if expl.score is None else f"{expl.score:.3f}", importance,
            ])
        self._done += n

    def _write_table(self, engine: Engine) -> None:
        if not self._rows:
            return
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["output", "input_file", "iteration", "target", "prediction", "probability", "label",
                         "wall_score", "temporal_importance"])
        writer.writerows(self._rows)
        text = buf.getvalue()
        write_atomic(self.output_dir / f"saliency_{self.method}.csv", lambda tmp: tmp.write_text(text, "utf-8"))
