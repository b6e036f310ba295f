"""A plain 3D CNN video classifier (no residuals): a baseline for the temporal models."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["Plain3DCNN"]


class Plain3DCNN(nn.Module):
    """Stages of [Conv3d 3x3x3 (strided) - BN - ReLU] x ``convs_per_stage``, global pool, linear.

    The first stage downsamples space only (stride (1, 2, 2)) so short clips keep their time axis;
    later stages halve time and space.

    Args:
        in_channels: 1 (grey) or 3 (RGB).
        num_classes: number of views (11).
        widths: channels per stage.
        convs_per_stage: 3x3x3 convolutions per stage (the first is strided).
        dropout: dropout before the classifier.
        spatial_pool: ``None`` averages the last feature map over time and space (global pooling);
            ``s`` averages over time only and pools space to an ``s x s`` grid that the classifier sees
            flattened. A view is defined by *where* the chambers and vessels lie in the sector, which global
            pooling throws away: on synthetic cines ``s = 4`` raised held-out accuracy from 0.91 to 0.96
            (one conv per stage) at the same cost (``benchmarks/results/view_training.md``).

    Shapes: x (B, in_channels, T, H, W), frames in [0, 1] -> logits (B, num_classes).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 11,
        widths: Sequence[int] = (16, 32, 64, 128),
        convs_per_stage: int = 1,
        dropout: float = 0.2,
        spatial_pool: int | None = None,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for i, width in enumerate(widths):
            for j in range(convs_per_stage):
                stride = ((1 if i == 0 else 2), 2, 2) if j == 0 else (1, 1, 1)
                layers += [
                    nn.Conv3d(cin, width, 3, stride=stride, padding=1, bias=False),
                    nn.BatchNorm3d(width),
                    nn.ReLU(inplace=True),
                ]
                cin = width
        self.features = nn.Sequential(*layers)
        if spatial_pool is not None and spatial_pool < 1:
            raise ValueError(f"spatial_pool must be None or >= 1, got {spatial_pool}")
        grid = 1 if spatial_pool is None else int(spatial_pool)
        # time is averaged with a plain mean (ONNX exports it with a dynamic time axis), space is pooled
        # to the grid (static spatial size in the export)
        self.pool = nn.AdaptiveAvgPool2d(grid)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(cin * grid * grid, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x).mean(dim=2)).flatten(1))
