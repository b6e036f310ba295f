"""The reference's best view classifier: frame features, a spatial and a temporal branch, a learned gate.

Some views are told apart by one frame (PLAX vs A4C), others only over time (A4C vs A5C: the LVOT opens
in systole). Per sample, the gate g in [0, 1] decides how much to trust the temporal branch:
``logits = g * temporal + (1 - g) * spatial``; ``g`` near 0 means the clip was classified frame by frame.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import nn

from echo_monai.networks.encoders import PerFrameEncoder, build_frame_encoder
from echo_monai.networks.temporal import DilatedTemporalCNN

__all__ = ["GatedSpatioTemporalNet"]


class GatedSpatioTemporalNet(nn.Module):
    """Gated spatio-temporal view classifier.

    (a) spatial branch: a linear classifier on each frame's features, logits averaged over time;
    (b) temporal branch: residual dilated temporal CNN (dilations 1, 2, 4, 8) over the frame features,
        averaged over time, then a linear classifier;
    (c) gate: a small MLP on [mean frame features, mean temporal features] -> sigmoid, one value per clip.

    Args:
        in_channels: 1 (grey) or 3 (RGB).
        num_classes: number of views (11).
        encoder: frame encoder name (``"small-cnn"`` for CPU, ``"efficientnet-b2"`` as in the reference)
            or a module with ``out_features`` (see :mod:`echo_monai.networks.encoders`).
        encoder_weights_path: local ImageNet weights for an EfficientNet encoder.
        encoder_widths: stage widths of the ``small-cnn`` encoder (default (24, 48, 96, 128)).
        temporal_channels: width of the temporal CNN.
        dilations: temporal dilations (receptive field 1 + 2 * sum(dilations) frames).
        gate_hidden: hidden size of the gate MLP.
        dropout: dropout on the frame features and inside the temporal CNN.

    Shapes: x (B, in_channels, T, H, W), frames scaled to [0, 1] -> logits (B, num_classes). The gate of
    the last forward is kept in ``last_gate`` (B,), detached; :meth:`forward_branches` returns everything.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 11,
        encoder: str | nn.Module = "small-cnn",
        encoder_weights_path: str | os.PathLike | None = None,
        encoder_widths: Sequence[int] | None = None,
        temporal_channels: int = 128,
        dilations: Sequence[int] = (1, 2, 4, 8),
        gate_hidden: int = 64,
        dropout: float = 0.2,
    ):
        super().__init__()
        self.frames = PerFrameEncoder(
            build_frame_encoder(
                encoder, in_channels, weights_path=encoder_weights_path, widths=encoder_widths
            )
        )
        features = self.frames.out_features
        self.feature_dropout = nn.Dropout(dropout)
        self.spatial_head = nn.Linear(features, num_classes)
        self.temporal = DilatedTemporalCNN(features, temporal_channels, dilations, dropout=dropout)
        self.temporal_head = nn.Linear(temporal_channels, num_classes)
        self.gate = nn.Sequential(
            nn.Linear(features + temporal_channels, gate_hidden),
            nn.ReLU(inplace=True),
            nn.Linear(gate_hidden, 1),
        )
        self.last_gate: torch.Tensor | None = None

    @torch.jit.export
    def forward_branches(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits, gate, spatial_logits, temporal_logits): (B, K), (B,), (B, K), (B, K)."""
        feats = self.feature_dropout(self.frames(x))  # (B, T, F)
        spatial = self.spatial_head(feats).mean(dim=1)
        temporal_feats = self.temporal(feats.transpose(1, 2)).mean(dim=2)  # (B, C)
        temporal = self.temporal_head(temporal_feats)
        gate = torch.sigmoid(self.gate(torch.cat([feats.mean(dim=1), temporal_feats], dim=1))).squeeze(1)
        logits = gate.unsqueeze(1) * temporal + (1.0 - gate.unsqueeze(1)) * spatial
        return logits, gate, spatial, temporal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits, gate, _, _ = self.forward_branches(x)
        if not torch.jit.is_scripting() and not torch.jit.is_tracing():
            self.last_gate = gate.detach()
        return logits
