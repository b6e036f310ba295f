"""Ignite handler drawing what a network learned: first-layer kernels and feature maps of chosen layers.

By default it runs once, when the engine completes (end of training or of an evaluation), on the first
sample of the engine's last batch::

    {"_target_": "echo_monai.handlers.filters.LearnedFilterHandler",
     "output_dir": "$@output_dir + '/filters'", "layers": ["frames.encoder.features.2"]}
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from ignite.engine import Engine, Events
from PIL import Image, ImageDraw
from torch import nn

from echo_monai.explain.attribution import explanation_mode, last_conv_layer, resolve_layer
from echo_monai.explain.explain import output_stem
from echo_monai.explain.figures import feature_grid, kernel_grid, save_png
from echo_monai.handlers.saliency import batch_inputs

__all__ = ["LearnedFilterHandler", "first_conv"]


def first_conv(model: nn.Module) -> tuple[str, nn.Module]:
    """Name and module of the first 2D / 3D convolution in definition order."""
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Conv3d)):
            return name, module
    raise ValueError("the network has no Conv2d / Conv3d layer whose kernels could be drawn")


def _captioned(img: np.ndarray, text: str) -> Image.Image:
    pil = Image.fromarray(img)
    out = Image.new("RGB", (max(pil.width, 7 * len(text)), pil.height + 18))
    out.paste(pil, (0, 18))
    ImageDraw.Draw(out).text((3, 3), text, fill=(255, 255, 255))
    return out


def _one_sample_maps(act: torch.Tensor, frames: int | None) -> np.ndarray:
    """Feature maps of the explained sample as (C, h, w): the middle time slice of a 3D layer, the middle
    frame of a per-frame layer (batch = T frames of the one clip)."""
    a = act.detach().float().cpu()
    if a.ndim == 5:  # (1, C, t, h, w)
        return a[0, :, a.shape[2] // 2].numpy()
    if a.ndim == 4:  # (1, C, h, w), or (T, C, h, w) from a frame encoder
        return a[a.shape[0] // 2 if frames and a.shape[0] == frames else 0].numpy()
    raise ValueError(f"layer output of shape {tuple(a.shape)} is not a feature map")


class LearnedFilterHandler:
    """Pictures of the first convolution's kernels and of chosen layers' feature maps for one sample.

    Args:
        output_dir: folder for the PNGs (a run replaces its own earlier pictures).
        layers: layer names (``model.named_modules()``) whose feature maps are drawn; None: the first and
            the last convolution; empty: kernels only.
        network: the model; default the engine's ``network``.
        image_key: batch key of the network input.
        sample: index of the sample in the engine's last batch.
        max_maps: feature channels drawn per layer (the most active).
        event: Ignite event name to draw at (``"COMPLETED"``, ``"EPOCH_COMPLETED"``, ...).

    Files: ``first_conv_<layer>.png`` and ``<input name>_features_<layer>.png``.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        layers: Sequence[str] | None = None,
        network: nn.Module | None = None,
        image_key: str = "image",
        sample: int = 0,
        max_maps: int = 16,
        event: str = "COMPLETED",
    ) -> None:
        try:
            self.event = Events[event.upper()]
        except KeyError as err:
            raise ValueError(f"unknown Ignite event {event!r} (e.g. COMPLETED, EPOCH_COMPLETED)") from err
        self.output_dir = Path(output_dir)
        self.layers = None if layers is None else list(layers)
        self.network = network
        self.image_key = image_key
        self.sample = int(sample)
        self.max_maps = int(max_maps)

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(self.event, self)

    def __call__(self, engine: Engine) -> list[Path]:
        network = self.network if self.network is not None else getattr(engine, "network", None)
        if network is None:
            raise ValueError("LearnedFilterHandler needs `network=` when the engine has no `network`")
        paths = [self.draw_kernels(network)]
        layers = self.layers if self.layers is not None else list(dict.fromkeys(
            [first_conv(network)[0], last_conv_layer(network)]))
        if layers and engine.state.batch is not None:
            images, _, names = batch_inputs(engine.state.batch, self.image_key, None)
            k = min(self.sample, images.shape[0] - 1)
            x = images[k: k + 1].as_subclass(torch.Tensor).to(next(network.parameters()).device)
            paths += self.draw_features(network, x, output_stem(names[k], "sample"), layers)
        return paths

    def draw_kernels(self, network: nn.Module) -> Path:
        name, conv = first_conv(network)
        weight = conv.weight.detach().float().cpu().numpy()
        grid = kernel_grid(weight)
        text = f"first conv {name}: {weight.shape[0]} kernels {'x'.join(map(str, weight.shape[2:]))}"
        return save_png(self.output_dir / f"first_conv_{name or 'net'}.png", _captioned(grid, text))

    def draw_features(self, network: nn.Module, x: torch.Tensor, stem: str,
                      layers: Sequence[str] | None = None) -> list[Path]:
        """Feature maps of ``layers`` (default the handler's) for one input ``x`` (1, C, ...).

        A clip (1, C, T, H, W) that the network cannot take whole (a frame network run slice by slice) is
        drawn through its middle frame.
        """
        layers = list(self.layers or []) if layers is None else list(layers)
        captured: dict[str, torch.Tensor] = {}
        hooks = []
        for layer in layers:
            module = resolve_layer(network, layer)
            hooks.append(module.register_forward_hook(
                lambda _m, _i, out, layer=layer: captured.__setitem__(layer, out)))
        try:
            with explanation_mode(network), torch.no_grad():
                try:
                    network(x)
                except RuntimeError:
                    if x.ndim != 5:
                        raise
                    # A clip for a frame network (evaluated frame by frame, e.g. by MONAI's SliceInferer):
                    # draw its middle frame.
                    captured.clear()
                    x = x[:, :, x.shape[2] // 2]
                    network(x)
        finally:
            for hook in hooks:
                hook.remove()
        frames = x.shape[2] if x.ndim == 5 else None
        paths = []
        for layer in layers:
            maps = _one_sample_maps(captured[layer], frames)
            grid, shown = feature_grid(maps, self.max_maps)
            text = f"{layer}: {len(shown)} of {maps.shape[0]} channels, {maps.shape[1]}x{maps.shape[2]}"
            paths.append(save_png(self.output_dir / f"{stem}_features_{layer}.png", _captioned(grid, text)))
        return paths
