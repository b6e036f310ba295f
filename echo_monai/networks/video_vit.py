"""Video Vision Transformer on tubelet patches (ViViT-style joint space-time attention).

MONAI's ``ViT`` with ``spatial_dims=3`` computes the same thing but needs ``einops``, which the project
does not depend on; this version uses ``torch.nn`` only and is TorchScript-scriptable.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["VideoViT"]


class VideoViT(nn.Module):
    """ViT over non-overlapping tubelets of size ``patch_size`` = (t, h, w) frames x pixels.

    Args:
        in_channels: 1 (grey) or 3 (RGB).
        num_classes: number of views (11).
        img_size: clip size (T, H, W) the learned position embedding is made for; inputs must match.
        patch_size: tubelet size (t, h, w); must divide ``img_size``.
        hidden_size: token width.
        mlp_dim: hidden size of each Transformer MLP.
        num_layers: Transformer layers.
        num_heads: attention heads (must divide ``hidden_size``).
        dropout: dropout on tokens, in the Transformer, and before the classifier.

    Shapes: x (B, in_channels, T, H, W) with (T, H, W) == img_size, frames in [0, 1] -> logits
    (B, num_classes). Tokens: prod(img_size / patch_size) + 1 (CLS); 393 at the defaults.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 11,
        img_size: Sequence[int] = (16, 112, 112),
        patch_size: Sequence[int] = (2, 16, 16),
        hidden_size: int = 192,
        mlp_dim: int = 768,
        num_layers: int = 4,
        num_heads: int = 3,
        dropout: float = 0.1,
    ):
        super().__init__()
        img, patch = tuple(int(s) for s in img_size), tuple(int(p) for p in patch_size)
        if len(img) != 3 or len(patch) != 3 or any(i % p for i, p in zip(img, patch)):
            raise ValueError(f"patch_size {patch} must divide img_size {img} in each of (T, H, W)")
        num_tokens = (img[0] // patch[0]) * (img[1] // patch[1]) * (img[2] // patch[2])
        self.img_size: list[int] = list(img)
        self.embed = nn.Conv3d(in_channels, hidden_size, kernel_size=patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, hidden_size))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens + 1, hidden_size))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.token_dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            hidden_size,
            num_heads,
            dim_feedforward=mlp_dim,
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.transformer = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden_size)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden_size, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if list(x.shape[2:]) != self.img_size:
            raise ValueError(
                f"VideoViT was built for clips of (T, H, W) = {self.img_size}, got {list(x.shape[2:])}"
            )
        tokens = self.embed(x).flatten(2).transpose(1, 2)  # (B, N, D)
        tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        tokens = self.token_dropout(tokens + self.pos_embed)
        return self.head(self.norm(self.transformer(tokens))[:, 0])
