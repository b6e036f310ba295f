"""Dilated temporal CNN: receptive field and causality."""

from __future__ import annotations

import pytest
import torch

from echo_monai.networks.temporal import DilatedTemporalCNN, TemporalResidualBlock

torch.set_num_threads(1)


def _influence(net: torch.nn.Module, length: int, at: int) -> torch.Tensor:
    """Which output frames change when input frame `at` changes: bool (length,)."""
    torch.manual_seed(0)
    x = torch.randn(1, 8, length)
    y = x.clone()
    y[:, :, at] += 5.0
    with torch.no_grad():
        return (net(x) - net(y)).abs().amax(dim=1)[0] > 1e-6


def test_causal_output_depends_only_on_the_past_within_the_receptive_field():
    net = DilatedTemporalCNN(8, 16, causal=True).eval()
    assert net.receptive_field == 31
    changed = _influence(net, 80, at=20)
    assert not changed[:20].any()
    assert changed[20:51].all()  # frames 20 .. 20 + 30 see frame 20
    assert not changed[51:].any()


def test_centred_output_sees_both_sides():
    net = DilatedTemporalCNN(8, 16, dilations=(1, 2), causal=False).eval()
    assert net.receptive_field == 7
    changed = _influence(net, 40, at=20)
    assert changed.nonzero().flatten().tolist() == list(range(17, 24))


def test_block_keeps_shape_and_rejects_off_centre_kernels():
    block = TemporalResidualBlock(8, dilation=4).eval()
    assert block(torch.randn(2, 8, 9)).shape == (2, 8, 9)
    with pytest.raises(ValueError, match="odd kernel"):
        TemporalResidualBlock(8, dilation=1, kernel_size=2)
    assert TemporalResidualBlock(8, dilation=1, kernel_size=2, causal=True)(torch.randn(1, 8, 5)).shape == (
        1,
        8,
        5,
    )
