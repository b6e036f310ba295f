"""VideoViT: tubelet tokenisation and input-size checks."""

from __future__ import annotations

import pytest
import torch

from echo_monai.networks.video_vit import VideoViT


def test_tubelets_tokenise_the_clip():
    net = VideoViT(1, 11, img_size=(8, 32, 32), patch_size=(2, 16, 16), hidden_size=48, num_heads=3)
    assert net.pos_embed.shape == (1, 4 * 2 * 2 + 1, 48)
    assert net.embed.kernel_size == (2, 16, 16) and net.embed.stride == (2, 16, 16)
    assert net(torch.rand(2, 1, 8, 32, 32)).shape == (2, 11)


def test_size_mismatches_are_reported():
    with pytest.raises(ValueError, match="must divide"):
        VideoViT(img_size=(5, 32, 32), patch_size=(2, 16, 16))
    net = VideoViT(img_size=(4, 32, 32))
    with pytest.raises(ValueError, match=r"built for clips of \(T, H, W\)"):
        net(torch.rand(1, 1, 4, 64, 64))
