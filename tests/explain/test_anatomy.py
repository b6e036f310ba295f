"""Attribution mass inside the sector and per anatomical structure."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from echo_monai.explain.anatomy import mass_in_region, mass_inside, mass_per_structure


def test_mass_inside_counts_absolute_values_and_broadcasts_a_frame_mask() -> None:
    maps = np.zeros((2, 4, 4))
    maps[0, 0, 0] = 3.0
    maps[1, 3, 3] = -1.0  # negative attribution is mass too
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = True
    assert mass_inside(maps, mask) == pytest.approx(0.75)
    assert mass_inside(torch.from_numpy(maps[0]), mask) == pytest.approx(1.0)
    assert np.isnan(mass_inside(np.zeros((4, 4)), mask))


def test_density_is_mass_share_over_area_share() -> None:
    labels = np.zeros((10, 10), np.uint8)
    labels[:2] = 6  # 20 % of the area
    labels[2:7] = 1  # 50 %
    names = {1: "LV cavity", 6: "LVOT"}
    even = mass_per_structure(np.ones((10, 10)), labels, names)
    assert set(even) == {1, 6}  # background (0) is not named
    assert even[6].density == pytest.approx(1.0) and even[1].density == pytest.approx(1.0)
    hot = np.ones((10, 10))
    hot[:2] = 4.0  # LVOT: 80 of 160 units of mass
    res = mass_per_structure(hot, labels, names)
    assert res[6].mass == pytest.approx(0.5) and res[6].area == pytest.approx(0.2)
    assert res[6].density == pytest.approx(2.5)
    assert res[1].density == pytest.approx((50 / 160) / 0.5)


def test_within_restricts_the_totals() -> None:
    labels = np.ones((4, 4), np.uint8)
    labels[:, :2] = 6
    within = np.zeros((4, 4), bool)
    within[:2] = True
    maps = np.ones((4, 4))
    maps[2:] = 100.0  # outside: ignored
    res = mass_per_structure(maps, labels, {1: "LV", 6: "LVOT"}, within=within)
    assert res[6].mass == pytest.approx(0.5) and res[6].area == pytest.approx(0.5)
    with pytest.raises(ValueError, match="same shape"):
        mass_per_structure(maps, labels[:2], {1: "LV"})


def test_mass_in_region_matches_a_labelled_structure_and_respects_within() -> None:
    labels = np.zeros((10, 10), np.uint8)
    labels[:2] = 6
    hot = np.ones((10, 10))
    hot[:2] = 4.0
    region = mass_in_region(hot, labels == 6)
    assert region.density == pytest.approx(mass_per_structure(hot, labels, {6: "LVOT"})[6].density)
    within = np.zeros((10, 10), bool)
    within[1:3] = True  # one row of the region (mass 40) and one row outside it (mass 10)
    part = mass_in_region(hot, labels == 6, within=within)
    assert part.mass == pytest.approx(0.8) and part.area == pytest.approx(0.5)
    assert np.isnan(mass_in_region(np.zeros((4, 4)), np.ones((4, 4), bool)).mass)
