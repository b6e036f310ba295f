"""A lightweight real-time view classifier that can run frame by frame on a live or decoded cine.

A small 2D CNN encodes each frame at 112 px; a *causal* dilated temporal CNN (dilations 1, 2, 4, 8:
31 frames, about one second at 30 frames/s) turns the last frames' features into view logits. Because
nothing looks ahead, :meth:`StreamingViewNet.step` keeps only a ring buffer of the last 31 frame
features and returns, after each frame, exactly what the batch :meth:`StreamingViewNet.forward` gives on
all frames seen so far.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from echo_monai.networks.encoders import PerFrameEncoder, SmallFrameCNN
from echo_monai.networks.temporal import DilatedTemporalCNN

__all__ = ["LUMA_WEIGHTS", "StreamingViewNet"]

# ITU-R BT.601 luma, as Pillow's convert("L") uses.
LUMA_WEIGHTS: tuple[float, float, float] = (0.299, 0.587, 0.114)


class StreamingViewNet(nn.Module):
    """Small frame encoder + causal dilated temporal CNN, with a frame-by-frame stream API.

    Args:
        in_channels: 1 (grey) or 3 (RGB).
        num_classes: number of views (11).
        image_size: side of the square frames the model expects (112-128 px); :meth:`step` resizes to it.
        encoder_widths: stage widths of the :class:`SmallFrameCNN` frame encoder.
        temporal_channels: width of the causal temporal CNN.
        dilations: temporal dilations; the model looks back ``receptive_field`` = 1 + 2 * sum frames.
        dropout: dropout in the temporal CNN.

    Shapes: ``forward`` x (B, in_channels, T, H, W), frames in [0, 1] -> logits (B, num_classes) of the
    last frame (having seen the clip up to it); ``forward_sequence`` -> logits (B, T, num_classes), one per
    frame, each from that frame and the ones before it (use it for a per-frame training loss).

    Stream use (model in eval mode)::

        net.eval(); net.reset()
        for frame in frames:            # uint8 (H, W) or (H, W, 3) numpy, or float (C, H, W) tensor
            probs = net.step(frame)     # (num_classes,) view probabilities after this frame
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 11,
        image_size: int = 112,
        encoder_widths: Sequence[int] = (16, 32, 64, 96),
        temporal_channels: int = 64,
        dilations: Sequence[int] = (1, 2, 4, 8),
        dropout: float = 0.1,
    ):
        super().__init__()
        self.frames = PerFrameEncoder(SmallFrameCNN(in_channels, encoder_widths))
        self.temporal = DilatedTemporalCNN(
            self.frames.out_features, temporal_channels, dilations, causal=True, dropout=dropout
        )
        self.head = nn.Linear(temporal_channels, num_classes)
        self.in_channels: int = in_channels
        self.image_size: int = image_size
        self.receptive_field: int = self.temporal.receptive_field
        # Stream state: the last `receptive_field` frame features (a ring), and how many frames were seen.
        self._ring: torch.Tensor | None = None
        self._seen: int = 0

    def forward_sequence(self, x: torch.Tensor) -> torch.Tensor:
        """Causal per-frame logits: (B, C, T, H, W) -> (B, T, num_classes)."""
        feats = self.frames(x)  # (B, T, F)
        return self.head(self.temporal(feats.transpose(1, 2)).transpose(1, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_sequence(x)[:, -1]

    # ---- stream API (eager only) -------------------------------------------------------------------

    @torch.jit.unused
    def preprocess_frame(self, frame: np.ndarray | torch.Tensor) -> torch.Tensor:
        """One decoded frame -> model input (in_channels, image_size, image_size), float in [0, 1].

        uint8 input is scaled by 1/255; (H, W, 1|3|4) arrays are channel-last grey / RGB(A); RGB becomes
        grey with BT.601 luma when the model is grey; the frame is resized (square, antialiased bilinear)
        when it is not already ``image_size``. Train with the same preprocessing.
        """
        if isinstance(frame, np.ndarray):
            if frame.ndim == 3 and frame.shape[-1] in (1, 3, 4):
                frame = frame[..., :3].transpose(2, 0, 1)
            t = torch.from_numpy(np.ascontiguousarray(frame))
        else:
            t = frame
        if t.ndim == 2:
            t = t.unsqueeze(0)
        if t.ndim != 3 or t.shape[0] not in (1, 3):
            raise ValueError(
                f"a frame must be (H, W), (H, W, 3) or (C, H, W) with C in (1, 3); got {tuple(t.shape)}"
            )
        t = t.float() / 255.0 if t.dtype == torch.uint8 else t.float()
        if t.shape[0] == 3 and self.in_channels == 1:
            t = torch.tensordot(torch.tensor(LUMA_WEIGHTS), t, dims=1).unsqueeze(0)
        elif t.shape[0] == 1 and self.in_channels == 3:
            t = t.expand(3, -1, -1)
        if t.shape[1:] != (self.image_size, self.image_size):
            t = F.interpolate(
                t.unsqueeze(0),
                size=(self.image_size, self.image_size),
                mode="bilinear",
                align_corners=False,
                antialias=True,
            )[0]
        return t

    @torch.jit.unused
    def reset(self) -> None:
        """Forget the frames seen so far (start of a new cine)."""
        self._ring = None
        self._seen = 0

    @torch.jit.unused
    def step(self, frame: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Add one frame and return the view probabilities (num_classes,) after it.

        Equals ``softmax(forward(frames_so_far))`` for the frames since :meth:`reset`, at the cost of one
        frame encoding plus the temporal CNN on at most ``receptive_field`` feature vectors.
        """
        if self.training:
            raise RuntimeError("StreamingViewNet.step needs eval mode (batch norm statistics): call .eval()")
        with torch.inference_mode():
            x = self.preprocess_frame(frame).to(self.head.weight.device)
            feat = self.frames.encoder(x.unsqueeze(0))[0]  # (F,)
            size = self.receptive_field
            if self._ring is None:
                self._ring = feat.new_zeros(size, feat.shape[0])
            self._ring[self._seen % size] = feat
            self._seen += 1
            # Chronological order of the frames in the ring; fewer than `size` right after a reset.
            n = min(self._seen, size)
            order = (torch.arange(self._seen - n, self._seen, device=feat.device)) % size
            window = self._ring[order].t().unsqueeze(0)  # (1, F, n)
            logits = self.head(self.temporal(window)[:, :, -1])
            return torch.softmax(logits, dim=1)[0]
