"""Residual video networks assembled from a block type, a convolution type and a layer list.

Follows torchvision's video ResNets (Tran et al. 2018): a 3D convolution is either a full 3x3x3 kernel
(``"3d"``, R3D) or a (2+1)D factorisation (``"2plus1d"``): a 1x3x3 spatial conv, BN, ReLU, then a 3x1x1
temporal conv, with the middle width chosen so both have the same number of parameters. The default
widths are a quarter of torchvision's so that a clip trains in well under a second on a 2-core CPU.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["BasicBlock", "Bottleneck", "Conv2Plus1D", "Conv3DSimple", "R2Plus1D", "ResNet3D"]


class Conv3DSimple(nn.Sequential):
    """3x3x3 convolution with the same stride in time and space."""

    def __init__(self, in_planes: int, out_planes: int, stride: int = 1):
        super().__init__(nn.Conv3d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False))


class Conv2Plus1D(nn.Sequential):
    """(2+1)D convolution: 1x3x3 spatial conv, BN, ReLU, 3x1x1 temporal conv (parameter-matched to 3x3x3)."""

    def __init__(self, in_planes: int, out_planes: int, stride: int = 1):
        mid = (in_planes * out_planes * 27) // (in_planes * 9 + 3 * out_planes)
        super().__init__(
            nn.Conv3d(in_planes, mid, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False),
            nn.BatchNorm3d(mid),
            nn.ReLU(inplace=True),
            nn.Conv3d(mid, out_planes, (3, 1, 1), stride=(stride, 1, 1), padding=(1, 0, 0), bias=False),
        )


_CONVS: dict[str, type[nn.Module]] = {"3d": Conv3DSimple, "2plus1d": Conv2Plus1D}


class BasicBlock(nn.Module):
    """Two convolutions with a residual connection (ResNet-18/34 style)."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, conv: type[nn.Module], stride: int = 1):
        super().__init__()
        out = planes * self.expansion
        self.body = nn.Sequential(
            conv(in_planes, planes, stride),
            nn.BatchNorm3d(planes),
            nn.ReLU(inplace=True),
            conv(planes, out, 1),
            nn.BatchNorm3d(out),
        )
        self.shortcut = _shortcut(in_planes, out, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1x1 reduce, one (strided) spatio-temporal conv, 1x1x1 expand x4, residual (ResNet-50 style)."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, conv: type[nn.Module], stride: int = 1):
        super().__init__()
        out = planes * self.expansion
        self.body = nn.Sequential(
            nn.Conv3d(in_planes, planes, 1, bias=False),
            nn.BatchNorm3d(planes),
            nn.ReLU(inplace=True),
            conv(planes, planes, stride),
            nn.BatchNorm3d(planes),
            nn.ReLU(inplace=True),
            nn.Conv3d(planes, out, 1, bias=False),
            nn.BatchNorm3d(out),
        )
        self.shortcut = _shortcut(in_planes, out, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


def _shortcut(in_planes: int, out_planes: int, stride: int) -> nn.Module:
    if stride == 1 and in_planes == out_planes:
        return nn.Identity()
    return nn.Sequential(
        nn.Conv3d(in_planes, out_planes, 1, stride=stride, bias=False), nn.BatchNorm3d(out_planes)
    )


_BLOCKS: dict[str, type[BasicBlock | Bottleneck]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet3D(nn.Module):
    """Video ResNet: stem, four residual stages, global pool, linear.

    Args:
        in_channels: 1 (grey) or 3 (RGB).
        num_classes: number of views (11).
        block: ``"basic"`` or ``"bottleneck"`` (or the class).
        layers: blocks per stage, e.g. (2, 2, 2, 2) for an 18-layer net; default (1, 1, 1, 1) (10 layers).
        widths: stage widths (torchvision: 64, 128, 256, 512).
        conv: ``"3d"`` (3x3x3, R3D) or ``"2plus1d"`` ((2+1)D, R(2+1)D); the stem follows the choice.
        dropout: dropout before the classifier.

    Stage 1 keeps the resolution, stages 2-4 halve time and space; the stem halves space only.
    Shapes: x (B, in_channels, T, H, W), frames in [0, 1] -> logits (B, num_classes).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 11,
        block: type[BasicBlock | Bottleneck] | str = "basic",
        layers: Sequence[int] = (1, 1, 1, 1),
        widths: Sequence[int] = (16, 32, 64, 128),
        conv: str = "3d",
        dropout: float = 0.2,
    ):
        super().__init__()
        block_type = _BLOCKS[block] if isinstance(block, str) else block
        if conv not in _CONVS:
            raise ValueError(f"conv must be one of {', '.join(_CONVS)}, got {conv!r}")
        if len(layers) != len(widths):
            raise ValueError(f"layers {tuple(layers)} and widths {tuple(widths)} need one entry per stage")
        conv_type = _CONVS[conv]
        self.stem = _stem(in_channels, widths[0], conv)
        stages: list[nn.Module] = []
        planes_in = widths[0]
        for i, (count, width) in enumerate(zip(layers, widths)):
            blocks: list[nn.Module] = []
            for j in range(count):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(block_type(planes_in, width, conv_type, stride))
                planes_in = width * block_type.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(planes_in, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.stages(self.stem(x))).flatten(1))


def _stem(in_channels: int, width: int, conv: str) -> nn.Sequential:
    if conv == "2plus1d":  # torchvision's R2Plus1dStem (45 middle channels for 64), scaled to the width
        mid = max(1, (width * 45) // 64)
        return nn.Sequential(
            nn.Conv3d(in_channels, mid, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
            nn.BatchNorm3d(mid),
            nn.ReLU(inplace=True),
            nn.Conv3d(mid, width, (3, 1, 1), padding=(1, 0, 0), bias=False),
            nn.BatchNorm3d(width),
            nn.ReLU(inplace=True),
        )
    return nn.Sequential(
        nn.Conv3d(in_channels, width, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
        nn.BatchNorm3d(width),
        nn.ReLU(inplace=True),
    )


class R2Plus1D(ResNet3D):
    """R(2+1)D: :class:`ResNet3D` with (2+1)D convolutions (torchvision's ``r2plus1d_18`` at
    ``layers=(2, 2, 2, 2), widths=(64, 128, 256, 512)``).

    Shapes: x (B, in_channels, T, H, W), frames in [0, 1] -> logits (B, num_classes).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 11,
        block: type[BasicBlock | Bottleneck] | str = "basic",
        layers: Sequence[int] = (1, 1, 1, 1),
        widths: Sequence[int] = (16, 32, 64, 128),
        dropout: float = 0.2,
    ):
        super().__init__(in_channels, num_classes, block, layers, widths, conv="2plus1d", dropout=dropout)
