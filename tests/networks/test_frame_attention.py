"""FrameAttentionClassifier: positions, pooling, clip-length limit."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from echo_monai.networks.frame_attention import FrameAttentionClassifier, sinusoidal_positions

torch.set_num_threads(1)


class PooledPixels(nn.Sequential):
    """A parameter-free frame encoder (4x4 average-pooled pixels): frame features differ as frames do."""

    def __init__(self):
        super().__init__(nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.out_features = 16


def test_sinusoidal_positions_are_distinct_and_bounded():
    pos = sinusoidal_positions(64, 16)
    assert pos.shape == (64, 16) and pos.abs().max() <= 1.0
    assert torch.cdist(pos, pos).add(torch.eye(64)).min() > 0.1  # no two frames share a code
    with pytest.raises(ValueError, match="even"):
        sinusoidal_positions(4, 15)


def test_frame_order_matters():
    net = FrameAttentionClassifier(1, 11, pool="mean", encoder=PooledPixels()).eval()
    clip = torch.rand(1, 1, 6, 32, 32)
    with torch.no_grad():
        assert (net(clip) - net(clip.flip(2))).abs().max() > 1e-3


def test_pool_options_and_length_limit():
    assert FrameAttentionClassifier(pool="mean").cls_token is None
    assert FrameAttentionClassifier(pool="cls").cls_token.shape == (1, 1, 128)
    with pytest.raises(ValueError, match="pool"):
        FrameAttentionClassifier(pool="max")
    net = FrameAttentionClassifier(max_frames=4).eval()
    assert net(torch.rand(1, 1, 4, 32, 32)).shape == (1, 11)
    with pytest.raises(ValueError, match="max_frames=4"):
        net(torch.rand(1, 1, 5, 32, 32))
