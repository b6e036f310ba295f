"""Plain3DCNN: stage layout and time handling."""

from __future__ import annotations

import pytest
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


def test_spatial_pool_keeps_a_grid_for_the_classifier_at_any_input_size():
    net = Plain3DCNN(1, 11, widths=(4, 8, 16), spatial_pool=4).eval()
    assert net.head[-1].in_features == 16 * 4 * 4
    for size in (64, 80, 112):
        assert net(torch.rand(2, 1, 8, size, size)).shape == (2, 11)
    # The grid keeps where a structure is: the same blob in the top-left or bottom-right corner gives
    # different pooled features, while global pooling of a translation-equivariant trunk barely tells them apart.
    a, b = torch.zeros(1, 1, 8, 64, 64), torch.zeros(1, 1, 8, 64, 64)
    a[..., 8:20, 8:20], b[..., 44:56, 44:56] = 1.0, 1.0
    with torch.no_grad():
        grid_a = net.pool(net.features(a).mean(dim=2)).flatten(1)
        grid_b = net.pool(net.features(b).mean(dim=2)).flatten(1)
        glob_a, glob_b = grid_a.view(1, 16, 16).mean(-1), grid_b.view(1, 16, 16).mean(-1)
    assert (grid_a - grid_b).abs().max() > 10 * (glob_a - glob_b).abs().max()


def test_spatial_pool_must_be_positive():
    with pytest.raises(ValueError, match="spatial_pool"):
        Plain3DCNN(1, 11, widths=(4, 8), spatial_pool=0)
