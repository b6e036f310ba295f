"""Export of the bundles' networks to TorchScript and ONNX, verification, and an ONNX Runtime network.

Public API:

- :func:`export_network` / :class:`ExportReport` - script (or trace) and ONNX-export one network and check
  both against eager mode (:func:`verify_export`, atol 1e-4);
- :func:`export_bundle` / :func:`build_bundle_network` / :func:`bundle_variants` - the same for a network
  named by a bundle config, with its preprocessing settings stored in the files
  (:func:`read_model_settings`);
- :class:`OnnxRuntimeNetwork` - an ONNX model as a ``torch.nn.Module`` (``configs/inference_onnx.json``).

Command line: ``python -m echo_monai.export --bundle BUNDLE [--variant V] [--ckpt model.pt] --out DIR``.
"""

from echo_monai.export.bundle import (
    BundleNetwork,
    build_bundle_network,
    bundle_variants,
    export_bundle,
    load_checkpoint,
    read_model_settings,
)
from echo_monai.export.convert import (
    ExportReport,
    VerifyReport,
    export_network,
    export_onnx,
    export_torchscript,
    onnx_runtime_session,
    verify_export,
)
from echo_monai.export.onnx_network import OnnxRuntimeNetwork

__all__ = [
    "BundleNetwork",
    "ExportReport",
    "OnnxRuntimeNetwork",
    "VerifyReport",
    "build_bundle_network",
    "bundle_variants",
    "export_bundle",
    "export_network",
    "export_onnx",
    "export_torchscript",
    "load_checkpoint",
    "onnx_runtime_session",
    "read_model_settings",
    "verify_export",
]
