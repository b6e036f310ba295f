"""TorchScript and ONNX export of one network, and a check that the exported forms give the eager output.

Export routes, in order of preference:

- TorchScript: ``torch.jit.script`` (keeps control flow, any input shape the network accepts); when
  scripting fails, ``torch.jit.trace`` on the example input, with the scripting error recorded as the
  reason (a trace freezes shape-dependent branches to the example's shapes).
- ONNX: ``torch.onnx.export(..., dynamo=False)`` (the TorchScript-based exporter; the dynamo exporter is
  slower here and needs onnxscript at run time) with a dynamic batch axis and, for a video network
  (B, C, T, H, W), a dynamic time axis when the exported graph really reproduces the eager output at a
  second clip length; otherwise the time axis is fixed and the reason is recorded.

Every file is written to a temporary name and renamed, so an interrupted export leaves no half file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from echo_monai.utils.files import atomic_write_with

__all__ = [
    "ExportReport",
    "VerifyReport",
    "export_network",
    "export_onnx",
    "export_torchscript",
    "onnx_runtime_session",
    "verify_export",
]

ONNX_OPSET = 17
DEFAULT_ATOL = 1e-4


@dataclass
class VerifyReport:
    """Largest absolute differences to the eager output (``None``: that form was not checked)."""

    input_shape: list[int]
    max_abs_torchscript: float | None
    max_abs_onnx: float | None
    atol: float

    @property
    def ok(self) -> bool:
        diffs = [d for d in (self.max_abs_torchscript, self.max_abs_onnx) if d is not None]
        return bool(diffs) and max(diffs) <= self.atol


@dataclass
class ExportReport:
    """What :func:`export_network` wrote and how.

    ``torchscript_method`` is ``"script"`` or ``"trace"`` (then ``torchscript_reason`` says why scripting
    failed); ``onnx_dynamic_axes`` maps input/output names to their dynamic axes; ``onnx_time_reason``
    says why a video network's time axis is fixed (empty when it is dynamic or the network is not video).
    """

    name: str
    input_shape: list[int]
    torchscript_path: str | None = None
    torchscript_method: str | None = None
    torchscript_reason: str = ""
    onnx_path: str | None = None
    onnx_dynamic_axes: dict[str, dict[int, str]] = field(default_factory=dict)
    onnx_reason: str = ""
    onnx_time_reason: str = ""
    checks: list[VerifyReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def _atomic_str(path: Path, write: Callable[[str], Any]) -> Path:
    return atomic_write_with(path, lambda tmp: write(str(tmp)))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def export_torchscript(
    net: nn.Module, example: torch.Tensor, path: str | os.PathLike,
    extra_files: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """Script (or, failing that, trace) ``net`` in eval mode and save it to ``path``.

    Args:
        net: the network; it is put in eval mode.
        example: an input batch, used only when tracing.
        path: the ``.ts`` file to write.
        extra_files: JSON texts saved inside the file (``torch.jit.load(..., _extra_files=...)`` reads them).

    Returns:
        (method, reason): ``("script", "")`` or ``("trace", "<why scripting failed>")``.
    """
    net = net.eval()
    try:
        module = torch.jit.script(net)
        method, reason = "script", ""
    except Exception as exc:  # noqa: BLE001 - any scripting failure falls back to tracing, with its reason
        reason = f"torch.jit.script failed ({_first_line(exc)}); traced at input shape {list(example.shape)}"
        with torch.no_grad():
            module = torch.jit.trace(net, example, check_trace=False)
        method = "trace"
    files = {k: v.encode() for k, v in (extra_files or {}).items()}
    _atomic_str(Path(path), lambda tmp: torch.jit.save(module, tmp, _extra_files=files))
    return method, reason


def export_onnx(
    net: nn.Module, example: torch.Tensor, path: str | os.PathLike, dynamic_axes: Mapping[str, Mapping[int, str]],
    opset: int = ONNX_OPSET,
) -> Path:
    """Export ``net`` (eval mode) to ONNX with the TorchScript-based exporter; input ``image``, output ``pred``."""
    net = net.eval()

    def write(tmp: str) -> None:
        # Not under no_grad: there nn.TransformerEncoderLayer takes its fused fast path
        # (aten::_transformer_encoder_layer_fwd), which has no ONNX symbolic.
        torch.onnx.export(net, (example,), tmp, input_names=["image"], output_names=["pred"],
                          dynamic_axes={k: dict(v) for k, v in dynamic_axes.items()}, opset_version=opset,
                          dynamo=False)

    return _atomic_str(Path(path), write)


def onnx_runtime_session(path: str | os.PathLike, num_threads: int | None = None) -> Any:
    """An ONNX Runtime CPU inference session for ``path`` (``num_threads``: intra-op threads, None = ORT's)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if num_threads is not None:
        opts.intra_op_num_threads = int(num_threads)
        opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _max_abs(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    a_np = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    b_np = b.detach().cpu().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    if a_np.shape != b_np.shape:
        return float("inf")
    return float(np.max(np.abs(a_np.astype(np.float64) - b_np.astype(np.float64)))) if a_np.size else 0.0


def verify_export(
    net: nn.Module, x: torch.Tensor, torchscript_path: str | os.PathLike | None = None,
    onnx_path: str | os.PathLike | None = None, atol: float = DEFAULT_ATOL,
) -> VerifyReport:
    """Compare eager, TorchScript and ONNX Runtime outputs of ``net`` on the input ``x``.

    ``x`` may differ from the export example in its dynamic axes (batch, time), which is the point: it
    checks that the exported graph generalises. A form that fails to run counts as an infinite difference.
    """
    net = net.eval()
    with torch.no_grad():
        ref = net(x)
        ts_diff = onnx_diff = None
        if torchscript_path is not None:
            try:
                ts_diff = _max_abs(ref, torch.jit.load(str(torchscript_path))(x))
            except Exception:  # noqa: BLE001 - a graph that cannot run this input does not reproduce eager
                ts_diff = float("inf")
    if onnx_path is not None:
        try:
            sess = onnx_runtime_session(onnx_path, num_threads=1)
            onnx_diff = _max_abs(ref, sess.run(["pred"], {"image": x.detach().cpu().numpy()})[0])
        except Exception:  # noqa: BLE001 - as above
            onnx_diff = float("inf")
    return VerifyReport(list(x.shape), ts_diff, onnx_diff, atol)


def _accepts(net: nn.Module, x: torch.Tensor) -> str:
    """'' when the eager network runs on ``x``, else why not."""
    try:
        with torch.no_grad():
            net(x)
        return ""
    except Exception as exc:  # noqa: BLE001 - the network itself decides which shapes it takes
        return _first_line(exc)


def export_network(
    net: nn.Module, example: torch.Tensor, out_dir: str | os.PathLike, name: str = "model", *,
    video: bool | None = None, extra_files: Mapping[str, str] | None = None, atol: float = DEFAULT_ATOL,
    seed: int = 0,
) -> ExportReport:
    """Export ``net`` to ``<out_dir>/<name>.ts`` and ``<name>.onnx`` and verify both against eager mode.

    Args:
        net: the network (eval mode is set).
        example: an input batch at the size the network is used at, (B, C, H, W) or (B, C, T, H, W).
        out_dir: folder for the files (created).
        name: file stem.
        video: treat axis 2 as time (default: 5-D input).
        extra_files: JSON texts stored inside the TorchScript file and written beside the ONNX file as
            ``<name>.<key>`` (so a deployed model carries its preprocessing settings).
        atol: largest accepted absolute difference to the eager output.
        seed: seed of the random verification inputs.

    Returns:
        The :class:`ExportReport`; its ``checks`` hold one comparison at the example's shape and one with a
        batch of 2 (and, for video with a dynamic time axis, 4 more frames).
    """
    net = net.eval()
    out = Path(out_dir)
    video = example.dim() == 5 if video is None else video
    report = ExportReport(name=name, input_shape=list(example.shape))
    ts_path, onnx_path = out / f"{name}.ts", out / f"{name}.onnx"
    report.torchscript_method, report.torchscript_reason = export_torchscript(net, example, ts_path, extra_files)
    report.torchscript_path = str(ts_path)

    gen = torch.Generator().manual_seed(seed)
    batch2 = torch.rand((2, *example.shape[1:]), generator=gen)
    axes: dict[str, dict[int, str]] = {"image": {0: "batch"}, "pred": {0: "batch"}}
    exported = False
    if video:
        longer = torch.rand((2, example.shape[1], example.shape[2] + 4, *example.shape[3:]), generator=gen)
        why_not = _accepts(net, longer)
        if why_not:
            report.onnx_time_reason = f"the network takes only {example.shape[2]} frames ({why_not})"
        else:
            try:
                export_onnx(net, example, onnx_path, {"image": {0: "batch", 2: "time"}, "pred": {0: "batch"}})
                check = verify_export(net, longer, None, onnx_path, atol)
            except Exception:  # noqa: BLE001 - the fixed-axis export below reports the error if it persists
                check = VerifyReport(list(longer.shape), None, float("inf"), atol)
            if check.ok:
                axes, exported = {"image": {0: "batch", 2: "time"}, "pred": {0: "batch"}}, True
            else:
                report.onnx_time_reason = (f"an ONNX graph with a dynamic time axis gives outputs up to "
                                           f"{check.max_abs_onnx:.3g} from eager at {example.shape[2] + 4} frames "
                                           "(shape-dependent code frozen at export)")
    try:
        if not exported:
            export_onnx(net, example, onnx_path, axes)
        report.onnx_path = str(onnx_path)
        report.onnx_dynamic_axes = axes
        for key, text in (extra_files or {}).items():
            _atomic_str(out / f"{name}.{key}", lambda tmp, t=text: Path(tmp).write_text(t, encoding="utf-8"))
    except Exception as exc:  # noqa: BLE001 - reported: the TorchScript file remains usable
        onnx_path.unlink(missing_ok=True)  # no stale graph from the dynamic-time attempt
        report.onnx_reason = f"torch.onnx.export failed ({_first_line(exc)}); use the TorchScript file"

    onnx_used = report.onnx_path
    report.checks.append(verify_export(net, torch.rand(example.shape, generator=gen), ts_path, onnx_used, atol))
    report.checks.append(verify_export(net, batch2, ts_path, onnx_used, atol))
    if video and "time" in axes["image"].values():
        report.checks.append(verify_export(net, longer, ts_path, onnx_used, atol))
    atomic_write_with(out / f"{name}.export.json",
            lambda tmp: Path(tmp).write_text(json.dumps(report.to_dict(), indent=1) + "\n", encoding="utf-8"))
    return report

