"""Dilated temporal convolutions over per-frame features (the reference's temporal branch).

Dilations 1, 2, 4, 8 with kernel 3 see 31 frames (one to two cardiac cycles at 30 frames/s) with four
layers. The causal variant only looks back in time, so a streaming model can emit a prediction per
frame that equals the batch result on the same frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DilatedTemporalCNN", "TemporalResidualBlock"]


class TemporalResidualBlock(nn.Module):
    """out = relu(x + BN(conv1x1(relu(BN(dilated_conv(x)))))) on (B, C, T) sequences.

    Args:
        channels: feature channels C (kept).
        dilation: temporal dilation of the kernel.
        kernel_size: temporal kernel size (odd when not causal).
        causal: pad only on the past side, so output t depends on inputs <= t.
        dropout: dropout after the first activation.
    """

    def __init__(
        self, channels: int, dilation: int, kernel_size: int = 3, causal: bool = False, dropout: float = 0.1
    ):
        super().__init__()
        span = (kernel_size - 1) * dilation
        if not causal and span % 2:
            raise ValueError("a non-causal temporal block needs an odd kernel size to stay centred")
        self.pad_left: int = span if causal else span // 2
        self.pad_right: int = 0 if causal else span // 2
        self.conv = nn.Conv1d(channels, channels, kernel_size, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm1d(channels)
        self.drop = nn.Dropout(dropout)
        self.mix = nn.Conv1d(channels, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(F.pad(x, (self.pad_left, self.pad_right)))
        y = self.drop(F.relu(self.bn1(y)))
        return F.relu(x + self.bn2(self.mix(y)))


class DilatedTemporalCNN(nn.Module):
    """Stack of residual dilated temporal blocks: (B, in_features, T) -> (B, channels, T).

    Args:
        in_features: input feature size per frame.
        channels: width of the temporal stack (a 1x1 conv projects the input to it).
        dilations: one block per dilation.
        kernel_size: temporal kernel size.
        causal: only look back in time (streaming).
        dropout: dropout inside each block.

    ``receptive_field`` is the number of input frames one output frame depends on.
    """

    def __init__(
        self,
        in_features: int,
        channels: int = 128,
        dilations: Sequence[int] = (1, 2, 4, 8),
        kernel_size: int = 3,
        causal: bool = False,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.project = nn.Sequential(
            nn.Conv1d(in_features, channels, 1, bias=False), nn.BatchNorm1d(channels), nn.ReLU(inplace=True)
        )
        self.blocks = nn.Sequential(
            *(TemporalResidualBlock(channels, d, kernel_size, causal, dropout) for d in dilations)
        )
        self.out_features: int = channels
        self.receptive_field: int = 1 + (kernel_size - 1) * sum(int(d) for d in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.project(x))
