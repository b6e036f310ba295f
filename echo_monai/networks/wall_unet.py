"""The LV wall (myocardium) UNet of the HMC-QU reference work, defined here rather than borrowed.

The reference network is a plain UNet: at every level two 3x3 convolutions each followed by ReLU, 2x2
max-pooling on the way down, 2x2 transposed convolutions on the way up, skip connections by
concatenation, 224x224 input. Three down levels of 64/128/256 channels and a 512-channel bottleneck.
MONAI's ``UNet`` / ``BasicUNet`` remain usable from a bundle config instead; this one is the reference
architecture, so results can be compared with the published ones.

2D+t: with ``temporal_context=k`` the network takes the frame and its k neighbours on each side as input
channels (``in_channels * (2k+1)`` channels, oldest frame first) and predicts the mask of the centre
frame. :func:`stack_neighbour_frames` builds that input from a clip.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.networks.layers.factories import Conv, Dropout, Norm, Pool
from torch import nn

__all__ = ["WallUNet", "stack_neighbour_frames"]


class _DoubleConv(nn.Sequential):
    """(conv 3x3 -> [norm] -> ReLU) x 2, spatial size kept."""

    def __init__(self, spatial_dims: int, in_ch: int, out_ch: int, batch_norm: bool, dropout: float):
        conv = Conv[Conv.CONV, spatial_dims]
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(((in_ch, out_ch), (out_ch, out_ch))):
            # The bias is redundant in front of a batch norm.
            layers.append(conv(c_in, c_out, kernel_size=3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(Norm[Norm.BATCH, spatial_dims](c_out))
            layers.append(nn.ReLU(inplace=True))
            if dropout > 0 and i == 0:
                layers.append(Dropout[Dropout.DROPOUT, spatial_dims](dropout))
        super().__init__(*layers)


class _UpBlock(nn.Module):
    """Transposed conv (x2) -> concatenate the skip -> double conv."""

    def __init__(self, spatial_dims: int, in_ch: int, out_ch: int, batch_norm: bool, dropout: float):
        super().__init__()
        self.up = Conv[Conv.CONVTRANS, spatial_dims](in_ch, out_ch, kernel_size=2, stride=2)
        self.conv = _DoubleConv(spatial_dims, 2 * out_ch, out_ch, batch_norm, dropout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        # Odd input sizes: the pooled-then-upsampled map is one pixel short; pad it (at the far end)
        # back to the skip's size instead of rejecting the input.
        pad: list[int] = []
        for d in range(skip.dim() - 1, 1, -1):
            pad += [0, skip.shape[d] - x.shape[d]]
        if sum(pad) > 0:
            x = F.pad(x, pad)
        return self.conv(torch.cat([skip, x], dim=1))


class WallUNet(nn.Module):
    """UNet for LV wall segmentation matching the HMC-QU reference network.

    Args:
        spatial_dims: 2 for frames (the reference), 3 for volumes.
        in_channels: image channels per frame (1 for greyscale echo).
        out_channels: 1 (wall logit, use a sigmoid) or 2 (background/wall logits, use a softmax).
        channels: channels of the down levels; the reference uses (64, 128, 256).
        bottleneck: channels at the bottom; ``None`` means twice the last down level (512).
        temporal_context: k neighbouring frames on each side stacked as extra input channels (2D+t);
            the first conv then takes ``in_channels * (2k + 1)`` channels. 0 is the single-frame network.
        batch_norm: add batch normalisation after each conv (not in the reference; helps small batches
            less than it costs, so off by default).
        dropout: dropout probability after the first conv of each block (0 disables).

    Input (B, in_channels * (2k+1), H, W[, D]); output logits (B, out_channels, H, W[, D]). Any size
    works; multiples of 2**len(channels) (e.g. 224) avoid padding.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 1,
        channels: Sequence[int] = (64, 128, 256),
        bottleneck: int | None = None,
        temporal_context: int = 0,
        batch_norm: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if len(channels) < 1 or min(channels) < 1:
            raise ValueError(f"channels must be a non-empty sequence of positive ints, got {channels}")
        if temporal_context < 0:
            raise ValueError(f"temporal_context must be >= 0, got {temporal_context}")
        if out_channels < 1:
            raise ValueError(f"out_channels must be >= 1, got {out_channels}")
        self.spatial_dims = spatial_dims
        self.temporal_context = temporal_context
        self.input_channels = in_channels * (2 * temporal_context + 1)
        bottleneck = 2 * channels[-1] if bottleneck is None else bottleneck

        self.down = nn.ModuleList()
        c_prev = self.input_channels
        for c in channels:
            self.down.append(_DoubleConv(spatial_dims, c_prev, c, batch_norm, dropout))
            c_prev = c
        self.pool = Pool[Pool.MAX, spatial_dims](kernel_size=2, stride=2)
        self.bottom = _DoubleConv(spatial_dims, c_prev, bottleneck, batch_norm, dropout)
        self.up = nn.ModuleList()
        c_prev = bottleneck
        for c in reversed(channels):
            self.up.append(_UpBlock(spatial_dims, c_prev, c, batch_norm, dropout))
            c_prev = c
        self.head = Conv[Conv.CONV, spatial_dims](c_prev, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips: list[torch.Tensor] = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        n = len(skips)
        for i, block in enumerate(self.up):
            x = block(x, skips[n - 1 - i])
        return self.head(x)


def stack_neighbour_frames(clip: torch.Tensor, k: int) -> torch.Tensor:
    """Turn a clip into 2D+t inputs: every frame with its k neighbours on each side as channels.

    Args:
        clip: (T, H, W) or (T, C, H, W) frames.
        k: neighbours on each side; frames beyond the clip ends repeat the first / last frame.

    Returns:
        (T, C * (2k+1), H, W), channels ordered oldest frame first (frame t-k ... t ... t+k).
    """
    if clip.dim() == 3:
        clip = clip.unsqueeze(1)
    if clip.dim() != 4:
        raise ValueError(f"clip must be (T, H, W) or (T, C, H, W), got shape {tuple(clip.shape)}")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    t = clip.shape[0]
    offsets = torch.arange(-k, k + 1, device=clip.device)
    idx = (torch.arange(t, device=clip.device)[:, None] + offsets[None, :]).clamp(0, t - 1)  # (T, 2k+1)
    return clip[idx].flatten(1, 2)
