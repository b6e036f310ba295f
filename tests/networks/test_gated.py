"""GatedSpatioTemporalNet: the gate and the two branches."""

from __future__ import annotations

import pytest
import torch

from echo_monai.networks.gated import GatedSpatioTemporalNet

torch.set_num_threads(1)


@pytest.mark.parametrize("encoder", ["small-cnn", "efficientnet-b0"])
def test_gate_is_one_value_in_unit_interval_per_clip(encoder):
    net = GatedSpatioTemporalNet(1, 11, encoder=encoder).eval()
    with torch.no_grad():
        logits = net(torch.rand(3, 1, 4, 32, 32))
    assert logits.shape == (3, 11)
    assert net.last_gate is not None and net.last_gate.shape == (3,)
    assert ((net.last_gate >= 0) & (net.last_gate <= 1)).all()
    assert not net.last_gate.requires_grad


def test_logits_are_the_gated_mix_of_the_branches():
    net = GatedSpatioTemporalNet(3, 5).eval()
    with torch.no_grad():
        logits, gate, spatial, temporal = net.forward_branches(torch.rand(2, 3, 6, 32, 32))
    g = gate[:, None]
    torch.testing.assert_close(logits, g * temporal + (1 - g) * spatial)
    assert not torch.allclose(spatial, temporal)  # two genuinely different branches


def test_gate_learns_to_trust_the_branch_that_separates_the_classes():
    """Classes differ only in frame order (a brightening vs a darkening clip): a single frame cannot tell
    them apart, so the gate must move towards the temporal branch."""
    torch.manual_seed(0)
    net = GatedSpatioTemporalNet(1, 2, temporal_channels=16, gate_hidden=8, dropout=0.0)
    ramp = torch.linspace(0.1, 0.9, 8)
    clips = ramp.view(1, 1, 8, 1, 1).expand(8, 1, 8, 16, 16).clone()
    clips[4:] = clips[4:].flip(2)
    clips += 0.02 * torch.randn_like(clips)
    labels = torch.tensor([0] * 4 + [1] * 4)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    net.eval()
    with torch.no_grad():
        gate_before = net.forward_branches(clips)[1].mean()
    for _ in range(60):
        net.train()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(clips), labels).backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        logits, gate, _, _ = net.forward_branches(clips)
    assert (logits.argmax(1) == labels).all()
    assert gate.mean() > gate_before + 0.1
