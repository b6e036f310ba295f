"""Sanity checks for saliency maps (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018).

A map that explains the model must change when the model's weights are randomised. The check compares
maps of the trained network with maps of copies whose weights are re-initialised, either all at once or
cascading from the output layer down, by Spearman rank correlation; a method whose maps stay highly
correlated is showing the input (edges, bright pixels), not what the network learned.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

__all__ = ["cascading_randomisation", "parameterised_layers", "randomised_copy", "spearman_rank_correlation"]


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
