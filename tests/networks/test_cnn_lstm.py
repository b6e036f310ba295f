"""CNNLSTM: the recurrent part reads time (order), in one or both directions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from echo_monai.networks.cnn_lstm import CNNLSTM


class PooledPixels(nn.Sequential):
    """A parameter-free frame encoder (4x4 average-pooled pixels): frame features differ as frames do."""

    def __init__(self):
        super().__init__(nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.out_features = 16


@pytest.mark.parametrize("bidirectional", [True, False])
def test_frame_order_matters_and_head_matches_directions(bidirectional):
    torch.manual_seed(0)
    net = CNNLSTM(1, 11, hidden_size=16, bidirectional=bidirectional, encoder=PooledPixels()).eval()
    assert net.head[-1].in_features == 16 * (2 if bidirectional else 1)
    clip = torch.rand(1, 1, 6, 32, 32)
    with torch.no_grad():
        assert (net(clip) - net(clip.flip(2))).abs().max() > 1e-3
