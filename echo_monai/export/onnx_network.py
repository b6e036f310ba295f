"""An ONNX Runtime model behind a ``torch.nn.Module`` face, so a bundle config can run it as ``network_def``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from echo_monai.errors import EchoDataError
from echo_monai.export.convert import onnx_runtime_session

__all__ = ["OnnxRuntimeNetwork"]


class OnnxRuntimeNetwork(nn.Module):
    """Runs an exported ONNX model with ONNX Runtime (CPU) on torch tensors.

    Args:
        path: the ``.onnx`` file (input ``image``, output ``pred``, as :func:`echo_monai.export.export_onnx`
            and ``monai.bundle onnx_export`` write them; other names are taken from the model's first
            input and output).
        num_threads: ONNX Runtime intra-op threads (``None``: ORT's default, all cores).

    ``forward(x)``: x float tensor of the exported layout, e.g. (B, 1, T, H, W) -> tensor of the model's
    output, on ``x``'s device and float32. There are no parameters: ``.to()``, ``.eval()`` and
    ``torch.no_grad()`` are harmless, and a bundle must not load a ``model.pt`` into it.

    Raises:
        EchoDataError: the file is missing or ONNX Runtime cannot load it.
    """

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None) -> None:
        super().__init__()
        self.path = Path(path)
        if not self.path.is_file():
            raise EchoDataError(self.path, "ONNX model not found (export it first; see echo_monai.export)")
        try:
            self.session = onnx_runtime_session(self.path, num_threads)
        except Exception as exc:
            raise EchoDataError(self.path, f"ONNX Runtime cannot load the model ({exc})") from exc
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        out = self.session.run([self.output_name], {self.input_name: array})[0]
        return torch.from_numpy(out).to(x.device)

    def extra_repr(self) -> str:
        return f"path={str(self.path)!r}"
