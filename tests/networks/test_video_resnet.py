"""Video ResNets: block / conv assembly and the (2+1)D parameter matching."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from echo_monai.networks.video_resnet import Bottleneck, Conv2Plus1D, Conv3DSimple, R2Plus1D, ResNet3D


def _params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize(("cin", "cout"), [(64, 64), (64, 128), (256, 512)])
def test_2plus1d_conv_has_about_the_parameters_of_a_3d_conv(cin, cout):
    full, factored = Conv3DSimple(cin, cout), Conv2Plus1D(cin, cout)
    conv_only = sum(p.numel() for m in factored.modules() if isinstance(m, nn.Conv3d) for p in m.parameters())
    assert abs(conv_only - _params(full)) / _params(full) < 0.01


def test_2plus1d_conv_strides_time_and_space():
    out = Conv2Plus1D(4, 8, stride=2)(torch.rand(1, 4, 8, 16, 16))
    assert out.shape == (1, 8, 4, 8, 8)


def test_layer_list_and_block_type_assemble_the_network():
    net = ResNet3D(layers=(2, 1, 1, 3), block=Bottleneck, widths=(8, 16, 32, 64))
    assert [len(stage) for stage in net.stages] == [2, 1, 1, 3]
    assert all(isinstance(b, Bottleneck) for stage in net.stages for b in stage)
    assert net.head[-1].in_features == 64 * Bottleneck.expansion
    assert net(torch.rand(1, 1, 8, 32, 32)).shape == (1, 11)


def test_r2plus1d_uses_factored_convs_only():
    net = R2Plus1D()
    kernels = {tuple(m.kernel_size) for m in net.modules() if isinstance(m, nn.Conv3d)}
    assert (3, 3, 3) not in kernels and (1, 3, 3) in kernels and (3, 1, 1) in kernels


def test_bad_configuration_is_reported():
    with pytest.raises(ValueError, match="conv must be one of"):
        ResNet3D(conv="4d")
    with pytest.raises(ValueError, match="one entry per stage"):
        ResNet3D(layers=(1, 1), widths=(8, 16, 32))
