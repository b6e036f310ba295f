"""Frame encoders: factory, feature sizes, per-frame application."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from echo_monai.networks.encoders import (
    EfficientNetEncoder,
    PerFrameEncoder,
    SmallFrameCNN,
    build_frame_encoder,
)

torch.set_num_threads(1)


@pytest.mark.parametrize(
    ("name", "features"), [("small-cnn", 128), ("efficientnet-b0", 1280), ("EfficientNet-B2", 1408)]
)
@pytest.mark.parametrize("in_channels", [1, 3])
def test_factory_feature_sizes(name, features, in_channels):
    enc = build_frame_encoder(name, in_channels).eval()
    assert enc.out_features == features
    with torch.no_grad():
        assert enc(torch.rand(2, in_channels, 32, 32)).shape == (2, features)


def test_efficientnet_encoder_returns_the_pooled_head_features():
    enc = EfficientNetEncoder("efficientnet-b0", 1).eval()
    assert isinstance(enc.net._fc, nn.Identity) and isinstance(enc.net._dropout, nn.Identity)
    net, x = enc.net, torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        trunk = net._blocks(net._swish(net._bn0(net._conv_stem(net._conv_stem_padding(x)))))
        head = net._swish(net._bn1(net._conv_head(net._conv_head_padding(trunk))))
        torch.testing.assert_close(enc(x), head.mean(dim=(2, 3)))


def test_factory_rejects_unknown_names_and_bad_modules():
    with pytest.raises(ValueError, match="small-cnn"):
        build_frame_encoder("resnet-50")
    with pytest.raises(TypeError, match="out_features"):
        build_frame_encoder(nn.Conv2d(1, 4, 3))
    with pytest.raises(ValueError, match="no pretrained weights"):
        build_frame_encoder("small-cnn", weights_path="x.pth")
    with pytest.raises(ValueError, match="widths apply to the small-cnn"):
        build_frame_encoder("efficientnet-b0", widths=(8, 16))
    assert build_frame_encoder("small-cnn", widths=(8, 16, 32)).out_features == 32


def test_custom_module_is_used_as_is():
    enc = SmallFrameCNN(1, widths=(8, 16))
    assert build_frame_encoder(enc) is enc
    assert enc.out_features == 16


def test_per_frame_encoder_equals_encoding_each_frame():
    enc = SmallFrameCNN(3, widths=(8, 16)).eval()
    clip = torch.rand(2, 3, 5, 32, 32)
    with torch.no_grad():
        feats = PerFrameEncoder(enc)(clip)
        one_by_one = torch.stack(
            [torch.stack([enc(clip[b, :, t][None])[0] for t in range(5)]) for b in range(2)]
        )
    assert feats.shape == (2, 5, 16)
    torch.testing.assert_close(feats, one_by_one, atol=1e-5, rtol=1e-5)
