"""Plain3DCNN: stage layout and time handling."""

from __future__ import annotations

import torch
from torch import nn

from echo_monai.networks.plain3d import Plain3DCNN


def test_first_stage_keeps_time_later_stages_halve_it():
    net = Plain3DCNN(1, 11, widths=(4, 8, 16), convs_per_stage=2)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv3d)]
    assert len(convs) == 6
    assert [c.stride for c in convs] == [(1, 2, 2), (1, 1, 1), (2, 2, 2), (1, 1, 1), (2, 2, 2), (1, 1, 1)]
    assert not any(isinstance(m, (nn.Identity,)) for m in net.features)  # no residual shortcuts
    out = net.features(torch.rand(1, 1, 8, 32, 32))
    assert out.shape == (1, 16, 2, 4, 4)
