"""Frame encoders shared by the video networks: one 2D frame in, one feature vector out.

Every encoder maps (N, C, H, W) frames to (N, F) features and exposes ``out_features`` = F.
:class:`PerFrameEncoder` applies one to every frame of a clip (B, C, T, H, W) -> (B, T, F).

- ``"small-cnn"``: :class:`SmallFrameCNN`, a plain 4-stage CNN (about 0.1 GFLOP per 112 px frame at the
  default width) that trains on a 2-core CPU in minutes;
- ``"efficientnet-b0"`` ... ``"efficientnet-b7"``: MONAI's EfficientNet trunk without its classifier,
  optionally with local ImageNet weights (b2 is the reference encoder).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import nn

from echo_monai.networks.efficientnet import efficientnet

__all__ = ["ENCODER_NAMES", "EfficientNetEncoder", "PerFrameEncoder", "SmallFrameCNN", "build_frame_encoder"]

ENCODER_NAMES: tuple[str, ...] = ("small-cnn",) + tuple(f"efficientnet-b{i}" for i in range(8))


def _conv_bn_relu(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SmallFrameCNN(nn.Module):
    """A small, fast 2D CNN frame encoder for CPU training and real-time streaming.

    Each stage halves the resolution (stride-2 conv) then refines it (``convs_per_stage - 1`` 3x3 convs);
    features are global-average pooled.

    Args:
        in_channels: 1 (grey) or 3 (RGB).
        widths: channels of each stage; the last is ``out_features``.
        convs_per_stage: 3x3 convolutions per stage (the first has stride 2).

    Shapes: (N, in_channels, H, W) -> (N, widths[-1]); H, W >= 2 ** len(widths).
    """

    def __init__(
        self, in_channels: int = 1, widths: Sequence[int] = (24, 48, 96, 128), convs_per_stage: int = 2
    ):
        super().__init__()
        if convs_per_stage < 1 or not widths:
            raise ValueError("SmallFrameCNN needs at least one stage and one conv per stage")
        layers: list[nn.Module] = []
        cin = in_channels
        for width in widths:
            layers.append(_conv_bn_relu(cin, width, stride=2))
            layers.extend(_conv_bn_relu(width, width, stride=1) for _ in range(convs_per_stage - 1))
            cin = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_features: int = int(widths[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x)).flatten(1)


class EfficientNetEncoder(nn.Module):
    """MONAI EfficientNet trunk (stem, blocks, head conv, global pool) without dropout and classifier.

    Args:
        model_name: ``efficientnet-b0`` ... ``efficientnet-b7``.
        in_channels: 1 (grey) or 3 (RGB).
        weights_path: optional local ImageNet weights
            (see :func:`echo_monai.networks.efficientnet.efficientnet`).

    Shapes: (N, in_channels, H, W) -> (N, F), F = 1280 (b0), 1408 (b2).
    """

    def __init__(
        self,
        model_name: str = "efficientnet-b2",
        in_channels: int = 1,
        weights_path: str | os.PathLike | None = None,
    ):
        super().__init__()
        net = efficientnet(model_name, in_channels, num_classes=1, weights_path=weights_path)
        self.out_features: int = int(net._fc.in_features)
        # The classifier and its dropout belong to the heads built on these features.
        net._dropout = nn.Identity()
        net._fc = nn.Identity()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_frame_encoder(
    name: str | nn.Module = "small-cnn",
    in_channels: int = 1,
    *,
    weights_path: str | os.PathLike | None = None,
    widths: Sequence[int] | None = None,
) -> nn.Module:
    """Build a frame encoder by name (see ``ENCODER_NAMES``), or check and return a given module.

    Args:
        name: ``"small-cnn"``, ``"efficientnet-b0"`` ... ``"efficientnet-b7"``, or an ``nn.Module`` with an
            ``out_features`` attribute (e.g. built elsewhere in a bundle config).
        in_channels: 1 (grey) or 3 (RGB).
        weights_path: local ImageNet weights for EfficientNet encoders.
        widths: stage widths for ``small-cnn``.
    """
    if isinstance(name, nn.Module):
        if not isinstance(getattr(name, "out_features", None), int):
            raise TypeError(
                "a custom frame encoder needs an integer `out_features` attribute (its feature size)"
            )
        return name
    key = str(name).lower()
    if key == "small-cnn":
        if weights_path is not None:
            raise ValueError(
                "the small-cnn encoder has no pretrained weights; weights_path applies to EfficientNets"
            )
        return SmallFrameCNN(in_channels, widths) if widths is not None else SmallFrameCNN(in_channels)
    if key.startswith("efficientnet-b") and key in ENCODER_NAMES:
        if widths is not None:
            raise ValueError(
                "widths apply to the small-cnn encoder; EfficientNet widths follow its model name"
            )
        return EfficientNetEncoder(key, in_channels, weights_path)
    raise ValueError(f"unknown frame encoder {name!r}; choose one of {', '.join(ENCODER_NAMES)}")


class PerFrameEncoder(nn.Module):
    """Apply a 2D frame encoder to every frame of a clip: (B, C, T, H, W) -> (B, T, F).

    The frames of all clips are encoded as one batch of B*T images.
    """

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.out_features: int = int(encoder.out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        return self.encoder(frames).reshape(b, t, -1)
