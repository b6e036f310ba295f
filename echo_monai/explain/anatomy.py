"""Where attribution falls: share inside the scan sector and per anatomical structure.

Maps and masks share one pixel grid: a map (H, W) or (T, H, W) and a label map of the same shape (or a
(H, W) mask broadcast over frames). Attribution "mass" is the sum of absolute values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["StructureMass", "mass_in_region", "mass_inside", "mass_per_structure"]


def _array(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x)


def mass_inside(attribution: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray) -> float:
    """Share in [0, 1] of the absolute attribution that lies where ``mask`` is true (NaN for an all-zero map).

    Args:
        attribution: (H, W) or (T, H, W).
        mask: bool, same shape or (H, W) for every frame (e.g. the scan sector).
    """
    a = np.abs(_array(attribution).astype(np.float64))
    m = np.broadcast_to(_array(mask).astype(bool), a.shape)
    total = a.sum()
    return float(a[m].sum() / total) if total > 0 else float("nan")


@dataclass(frozen=True)
class StructureMass:
    """Attribution of one structure: ``mass`` share, ``area`` share, and ``density`` = mass / area.

    A density of 1 is what a map spread evenly over the analysed pixels gives; 3 means the structure gets
    three times its area's share.
    """

    label: int
    name: str
    mass: float
    area: float

    @property
    def density(self) -> float:
        return self.mass / self.area if self.area > 0 else float("nan")


def mass_per_structure(
    attribution: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray,
    names: Mapping[int, str],
    within: torch.Tensor | np.ndarray | None = None,
) -> dict[int, StructureMass]:
    """Mass and area shares of each labelled structure present.

    Args:
        attribution: (H, W) or (T, H, W).
        labels: integer label map of the same shape (e.g. the generator's ``anatomy``).
        names: label id -> name; ids not listed are left out of the result but count in the totals.
        within: optional bool mask restricting the analysis (e.g. the scan sector): shares are of the
            mass and area inside it.
    """
    a = np.abs(_array(attribution).astype(np.float64))
    lab = _array(labels)
    if lab.shape != a.shape:
        raise ValueError(f"labels {lab.shape} and attribution {a.shape} must have the same shape")
    keep = np.ones(a.shape, bool) if within is None else np.broadcast_to(_array(within).astype(bool), a.shape)
    a_in, lab_in = a[keep], lab[keep]
    total_mass, total_area = a_in.sum(), a_in.size
    out: dict[int, StructureMass] = {}
    if total_area == 0:
        return out
    for label in np.unique(lab_in):
        label = int(label)
        if label not in names:
            continue
        sel = lab_in == label
        mass = float(a_in[sel].sum() / total_mass) if total_mass > 0 else float("nan")
        out[label] = StructureMass(label, names[label], mass, float(sel.sum() / total_area))
    return out


def mass_in_region(
    attribution: torch.Tensor | np.ndarray,
    region: torch.Tensor | np.ndarray,
    within: torch.Tensor | np.ndarray | None = None,
    name: str = "region",
) -> StructureMass:
    """Mass and area shares of one bool ``region`` (e.g. a structure with its walls, a dilated label).

    Same conventions as :func:`mass_per_structure` (shares of what lies ``within``); the label is -1.
    """
    a = np.abs(_array(attribution).astype(np.float64))
    reg = np.broadcast_to(_array(region).astype(bool), a.shape)
    keep = np.ones(a.shape, bool) if within is None else np.broadcast_to(_array(within).astype(bool), a.shape)
    total_mass, total_area = a[keep].sum(), int(keep.sum())
    sel = reg & keep
    mass = float(a[sel].sum() / total_mass) if total_mass > 0 else float("nan")
    area = float(sel.sum() / total_area) if total_area > 0 else float("nan")
    return StructureMass(-1, name, mass, area)
