"""Model randomisation and rank correlation for the Adebayo sanity check."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from echo_monai.explain.sanity import (
    cascading_randomisation,
    outside_sensitivity,
    parameterised_layers,
    randomised_copy,
    spearman_rank_correlation,
)
from echo_monai.networks import SmallFrameCNN

torch.set_num_threads(1)


def _net() -> nn.Module:
    """A network whose weights all differ from their initial values (batch norms included), as if trained."""
    torch.manual_seed(0)
    net = nn.Sequential(SmallFrameCNN(1, (4, 8)), nn.Linear(8, 3))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return net


def _changed(a: nn.Module, b: nn.Module) -> list[str]:
    pb = dict(b.named_parameters())
    return [n for n, p in a.named_parameters() if not torch.equal(p, pb[n])]


def test_top_layers_are_randomised_from_the_output_down() -> None:
    net = _net()
    before = {n: p.clone() for n, p in net.named_parameters()}
    layers = [n for n, _ in parameterised_layers(net)]
    assert layers[-1] == "1" and layers[0] == "0.features.0.0"
    top1 = randomised_copy(net, 1, seed=3)
    assert _changed(net, top1) == ["1.weight", "1.bias"]
    top3 = randomised_copy(net, 3, seed=3)
    changed = {n.rsplit(".", 1)[0] for n in _changed(net, top3)}
    assert changed == set(layers[-3:])
    every = randomised_copy(net, None, seed=3)
    assert len(_changed(net, every)) == len(list(net.parameters()))
    # the original is untouched, and the same seed gives the same copy
    assert all(torch.equal(p, before[n]) for n, p in net.named_parameters())
    assert not _changed(randomised_copy(net, 3, seed=3), top3)


def test_cascade_grows_to_all_layers() -> None:
    net = _net()
    ks = [k for k, _ in cascading_randomisation(net, steps=3)]
    assert ks == sorted(ks) and ks[-1] == len(parameterised_layers(net)) and len(ks) == 3


def test_spearman_per_sample() -> None:
    rng = np.random.default_rng(0)
    a = rng.random((3, 8, 8))
    b = a.copy()
    b[1] = -a[1]  # same magnitudes: identical ranking of |map|
    b[2] = rng.random((8, 8))
    rho = spearman_rank_correlation(a, b)
    assert rho[0] == pytest.approx(1.0) and rho[1] == pytest.approx(1.0) and abs(rho[2]) < 0.4
    signed = spearman_rank_correlation(a, b, absolute=False)
    assert signed[1] == pytest.approx(-1.0)
    monotone = spearman_rank_correlation(a[:1], np.exp(a[:1]))  # ranks only: a monotone map gives 1
    assert monotone[0] == pytest.approx(1.0)
    assert np.isnan(spearman_rank_correlation(a[:1], np.zeros((1, 8, 8)))[0])
    with pytest.raises(ValueError, match="same shape"):
        spearman_rank_correlation(a, a[:, :4])


def test_spearman_within_a_mask_ignores_shared_background() -> None:
    rng = np.random.default_rng(1)
    a = np.zeros((1, 20, 20))
    b = np.zeros((1, 20, 20))
    inside = np.zeros((1, 20, 20), bool)
    inside[:, :5] = True
    a[inside] = rng.random(inside.sum())
    b[inside] = rng.random(inside.sum())  # unrelated inside, both zero outside
    whole = spearman_rank_correlation(a, b)[0]
    masked = spearman_rank_correlation(a, b, within=inside)[0]
    assert whole > 0.5  # the tied zeros agree
    assert abs(masked) < 0.3


class _OutsideBrightness(nn.Module):
    """Class 1 when anything outside a fixed box is brighter than black, else class 0."""

    def __init__(self, box: torch.Tensor):
        super().__init__()
        self.register_buffer("outside", ~box)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = (x * self.outside).flatten(1).sum(1)
        return torch.stack([torch.full_like(s, 1e-3), s], dim=1)


class _InsideOnly(nn.Module):
    """A classifier that multiplies its input by the box first: blind to the outside by construction."""

    def __init__(self, box: torch.Tensor):
        super().__init__()
        self.register_buffer("box", box)
        self.net = nn.Sequential(SmallFrameCNN(1, (4, 8)), nn.Linear(8, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * self.box)


def test_outside_sensitivity_separates_a_network_that_reads_the_outside_from_one_that_cannot() -> None:
    box = torch.zeros(24, 24, dtype=torch.bool)
    box[4:20, 6:18] = True
    black = torch.zeros(6, 1, 24, 24)
    reader = outside_sensitivity(_OutsideBrightness(box), black, box, seed=1)
    assert reader.before.tolist() == [0] * 6 and reader.after.tolist() == [1] * 6
    assert reader.changed == 1.0
    torch.manual_seed(0)
    blind = _InsideOnly(box)
    blind.train()
    x = torch.rand(6, 1, 24, 24)
    check = outside_sensitivity(blind, x, box.expand(6, 24, 24).numpy(), seed=1, batch_size=4)
    assert check.changed == 0.0 and check.before.shape == (6,)
    assert blind.training  # the caller's mode is restored
    # Clips (N, C, T, H, W): the same check, the content drawn for every frame.
    clips = outside_sensitivity(_OutsideBrightness(box), torch.zeros(2, 1, 3, 24, 24), box, seed=2)
    assert clips.changed == 1.0
    with pytest.raises(ValueError, match="do not fit"):
        outside_sensitivity(blind, x, box[:10])
