"""CNN-LSTM video classifier: a 2D frame encoder followed by a (bidirectional) LSTM over time."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import nn

from echo_monai.networks.encoders import PerFrameEncoder, build_frame_encoder

__all__ = ["CNNLSTM"]


class CNNLSTM(nn.Module):
    """Per-frame 2D encoder + LSTM; the LSTM outputs are averaged over time and classified.

    Args:
        in_channels: 1 (grey) or 3 (RGB).
        num_classes: number of views (11).
        encoder: frame encoder name or module (see :mod:`echo_monai.networks.encoders`).
        encoder_weights_path: local ImageNet weights for an EfficientNet encoder.
        encoder_widths: stage widths of the ``small-cnn`` encoder (default (24, 48, 96, 128)).
        hidden_size: LSTM hidden size per direction.
        num_layers: LSTM layers.
        bidirectional: read the clip forwards and backwards (a clip is classified as a whole).
        dropout: dropout on the frame features and before the classifier.

    Shapes: x (B, in_channels, T, H, W), frames scaled to [0, 1] -> logits (B, num_classes).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 11,
        encoder: str | nn.Module = "small-cnn",
        encoder_weights_path: str | os.PathLike | None = None,
        encoder_widths: Sequence[int] | None = None,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.2,
    ):
        super().__init__()
        self.frames = PerFrameEncoder(
            build_frame_encoder(
                encoder, in_channels, weights_path=encoder_weights_path, widths=encoder_widths
            )
        )
        self.feature_dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(
            self.frames.out_features,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.feature_dropout(self.frames(x))  # (B, T, F)
        seq, _ = self.lstm(feats)  # (B, T, H * directions)
        return self.head(seq.mean(dim=1))
