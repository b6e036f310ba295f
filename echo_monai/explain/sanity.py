"""Sanity checks for saliency maps (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018).

A map that explains the model must change when the model's weights are randomised. The check compares
maps of the trained network with maps of copies whose weights are re-initialised, either all at once or
cascading from the output layer down, by Spearman rank correlation; a method whose maps stay highly
correlated is showing the input (edges, bright pixels), not what the network learned.

:func:`outside_sensitivity` is the behavioural counterpart of "attribution mass inside the scan sector":
how many predictions change when everything outside the sector is replaced by random content. Gradient
maps show local sensitivity, which a network can keep where its predictions do not depend on the content.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from echo_monai.explain.attribution import explanation_mode
from echo_monai.transforms.sector import RandOutsideSector

__all__ = [
    "OutsideSensitivity",
    "cascading_randomisation",
    "outside_sensitivity",
    "parameterised_layers",
    "randomised_copy",
    "spearman_rank_correlation",
]


def parameterised_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Leaf modules with their own weights and ``reset_parameters``, in forward-definition order."""
    layers = []
    for name, module in model.named_modules():
        own = list(module.parameters(recurse=False))
        if own and hasattr(module, "reset_parameters"):
            layers.append((name, module))
    return layers


def randomised_copy(model: nn.Module, top_layers: int | None = None, seed: int = 0) -> nn.Module:
    """A deep copy of ``model`` with its last ``top_layers`` parameterised layers re-initialised (None: all).

    Batch-norm running statistics of randomised layers are reset as well (``reset_parameters`` does it).
    """
    layers = parameterised_layers(model)
    if not layers:
        raise ValueError("the network has no layers with weights to randomise")
    twin = copy.deepcopy(model)
    twin_layers = dict(parameterised_layers(twin))
    chosen = layers if top_layers is None else layers[len(layers) - max(0, int(top_layers)):]
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        for name, _ in chosen:
            twin_layers[name].reset_parameters()
    finally:
        torch.random.set_rng_state(generator_state)
    return twin


def cascading_randomisation(model: nn.Module, steps: int = 4, seed: int = 0) -> Iterator[tuple[int, nn.Module]]:
    """Yield ``(k, copy with the top k layers randomised)`` for ``steps`` values of k up to all layers."""
    n = len(parameterised_layers(model))
    for k in sorted({max(1, round(n * (i + 1) / steps)) for i in range(steps)}):
        yield k, randomised_copy(model, k, seed)


def spearman_rank_correlation(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray,
                              absolute: bool = True, within: torch.Tensor | np.ndarray | None = None) -> np.ndarray:
    """Per-sample Spearman rank correlation of two batches of maps (B, ...) -> (B,).

    ``absolute`` compares |maps|, as Adebayo et al. do for methods whose sign is arbitrary. ``within``
    (bool, shape (B, ...) like the maps) restricts the comparison to those pixels, e.g. the scan sector:
    where the input is constant background, input-weighted methods are zero for any network, and that
    shared block of ties would inflate the correlation. A constant map has no ranking; its correlation is NaN.
    """
    x = np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a, dtype=np.float64)
    y = np.asarray(b.detach().cpu() if isinstance(b, torch.Tensor) else b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"maps must have the same shape, got {x.shape} and {y.shape}")
    keep = np.ones(x.shape, bool)
    if within is not None:
        keep = np.asarray(within.detach().cpu() if isinstance(within, torch.Tensor) else within, dtype=bool)
        if keep.shape != x.shape:
            raise ValueError(f"`within` must have the maps' shape {x.shape}, got {keep.shape}")
    if absolute:
        x, y = np.abs(x), np.abs(y)
    out = np.full(x.shape[0], np.nan)
    for i in range(x.shape[0]):
        xi, yi = x[i][keep[i]], y[i][keep[i]]
        if np.ptp(xi) > 0 and np.ptp(yi) > 0:
            out[i] = spearmanr(xi, yi).statistic
    return out


@dataclass(frozen=True)
class OutsideSensitivity:
    """Predicted classes (N,) on the inputs and on the same inputs with random content outside the sector."""

    before: np.ndarray
    after: np.ndarray

    @property
    def changed(self) -> float:
        """Share of samples whose predicted class changed."""
        return float(np.mean(self.before != self.after)) if self.before.size else float("nan")


def outside_sensitivity(model: nn.Module, images: torch.Tensor, sectors: torch.Tensor | np.ndarray, seed: int = 0,
                        batch_size: int = 32, value_range: float = 1.0) -> OutsideSensitivity:
    """Does a classifier respond to what lies outside the scan sector?

    Args:
        model: image (N, C, H, W) or video (N, C, T, H, W) classifier returning (N, classes) logits.
        images: the inputs as the network sees them.
        sectors: (N, H, W) or one (H, W) bool sector mask.
        seed: seed of the random content (:class:`~echo_monai.transforms.sector.RandOutsideSector`, always
            applied), so that two networks can be compared on the same content.
        batch_size: samples per forward pass.
        value_range: the images' white level.

    The network runs in eval mode without gradients; its modes are restored afterwards.
    """
    masks = torch.as_tensor(np.asarray(sectors.cpu() if isinstance(sectors, torch.Tensor) else sectors, dtype=bool))
    if masks.ndim == 2:
        masks = masks.expand(images.shape[0], *masks.shape)
    if masks.shape[0] != images.shape[0] or tuple(masks.shape[1:]) != tuple(images.shape[-2:]):
        raise ValueError(f"sectors of shape {tuple(masks.shape)} do not fit images of shape {tuple(images.shape)}")
    filler = RandOutsideSector(prob=1.0, value_range=value_range).set_random_state(seed)
    swapped = torch.stack([filler(images[i], masks[i]) for i in range(images.shape[0])])
    before, after = [], []
    with explanation_mode(model), torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            before.append(model(images[start:start + batch_size]).argmax(1).cpu())
            after.append(model(swapped[start:start + batch_size]).argmax(1).cpu())
    cat = (lambda parts: torch.cat(parts).numpy()) if before else (lambda parts: np.zeros(0, np.int64))
    return OutsideSensitivity(cat(before), cat(after))
