"""Frame-attention video classifier: per-frame features, then multi-head self-attention over time."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import torch
from torch import nn

from echo_monai.networks.encoders import PerFrameEncoder, build_frame_encoder

__all__ = ["FrameAttentionClassifier", "sinusoidal_positions"]


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """Fixed sine/cosine position codes (Vaswani et al.), shape (length, dim); dim must be even."""
    if dim % 2:
        raise ValueError(f"sinusoidal positions need an even dimension, got {dim}")
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    codes = torch.zeros(length, dim)
    codes[:, 0::2] = torch.sin(position * freq)
    codes[:, 1::2] = torch.cos(position * freq)
    return codes


class FrameAttentionClassifier(nn.Module):
    """Per-frame 2D encoder + a Transformer encoder over the frame sequence.

    Frame features are projected to ``d_model``, given fixed sinusoidal positions (clips of any length
    up to ``max_frames``), and attended over with pre-norm Transformer layers; the clip is summarised by
    a learned CLS token (``pool="cls"``) or the mean of the frame tokens (``pool="mean"``).

    Args:
        in_channels: 1 (grey) or 3 (RGB).
        num_classes: number of views (11).
        encoder: frame encoder name or module (see :mod:`echo_monai.networks.encoders`).
        encoder_weights_path: local ImageNet weights for an EfficientNet encoder.
        encoder_widths: stage widths of the ``small-cnn`` encoder (default (24, 48, 96, 128)).
        d_model: token width.
        num_heads: attention heads (must divide ``d_model``).
        num_layers: Transformer layers.
        pool: ``"cls"`` or ``"mean"``.
        max_frames: longest clip accepted.
        dropout: dropout in the Transformer and before the classifier.

    Shapes: x (B, in_channels, T, H, W), T <= max_frames, frames scaled to [0, 1] -> logits (B, num_classes).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 11,
        encoder: str | nn.Module = "small-cnn",
        encoder_weights_path: str | os.PathLike | None = None,
        encoder_widths: Sequence[int] | None = None,
        d_model: int = 128,
        num_heads: int = 4,
        num_layers: int = 2,
        pool: str = "cls",
        max_frames: int = 256,
        dropout: float = 0.1,
    ):
        super().__init__()
        if pool not in ("cls", "mean"):
            raise ValueError(f"pool must be 'cls' or 'mean', got {pool!r}")
        self.frames = PerFrameEncoder(
            build_frame_encoder(
                encoder, in_channels, weights_path=encoder_weights_path, widths=encoder_widths
            )
        )
        self.project = nn.Linear(self.frames.out_features, d_model)
        # Not a parameter and not saved: it is a pure function of (max_frames, d_model).
        self.register_buffer("positions", sinusoidal_positions(max_frames, d_model), persistent=False)
        # With mean pooling there is no CLS token at all (an unused parameter would never train).
        self.cls_token: nn.Parameter | None = None
        if pool == "cls":
            self.cls_token = nn.Parameter(nn.init.trunc_normal_(torch.zeros(1, 1, d_model), std=0.02))
        layer = nn.TransformerEncoderLayer(
            d_model,
            num_heads,
            dim_feedforward=2 * d_model,
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.transformer = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(d_model, num_classes))
        self.max_frames: int = max_frames

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[2]
        if t > self.max_frames:
            raise ValueError(f"clip has {t} frames; this model accepts at most max_frames={self.max_frames}")
        tokens = self.project(self.frames(x)) + self.positions[:t].unsqueeze(0)  # (B, T, D)
        cls_token = self.cls_token
        if cls_token is not None:
            tokens = torch.cat([cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        tokens = self.norm(self.transformer(tokens))
        summary = tokens[:, 0] if cls_token is not None else tokens.mean(dim=1)
        return self.head(summary)
