"""``configs/inference_onnx.json`` of both bundles: the network is the ONNX model, no checkpoint is loaded.

(The view bundle's full ONNX inference run is compared with the PyTorch one in
tests/deploy/test_pipeline.py::test_bundle_onnx_inference_matches_torch.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.handlers import CheckpointLoader

from echo_monai.export import OnnxRuntimeNetwork, export_bundle

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["echo_view_classification", "echo_lv_wall_segmentation"])
def test_inference_onnx_override(name: str, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    bundle = ROOT / "bundles" / name
    narrow = {"network_def#channels": [8, 16, 32]} if "wall" in name else {}  # the config, not the width, is tested
    # the view network pools a 4 x 4 grid from its last feature map, which 64 px inputs give
    size = [32, 32] if "wall" in name else [64, 64]
    report = export_bundle(bundle, tmp_path, "default", overrides={"image_size": size, **narrow})
    parser = ConfigParser()
    parser.read_config([str(bundle / "configs" / f) for f in ("train.json", "inference.json", "inference_onnx.json")])
    parser.update({"bundle_root": str(bundle), "ckpt_dir": str(tmp_path), "output_dir": str(tmp_path / "out"),
                   "onnx_threads": 1, "device": "$torch.device('cpu')"})
    net = parser.get_parsed_content("network")
    assert isinstance(net, OnnxRuntimeNetwork) and net.path == tmp_path / "model.onnx"
    handlers = parser.get_parsed_content("evaluator#val_handlers")
    all_handlers = parser.get("handlers")
    assert not any(isinstance(h, CheckpointLoader) for h in handlers)
    assert len(handlers) == len(all_handlers) - 1  # only the checkpoint loader is dropped
    x = torch.rand(2, *report.input_shape[1:])
    ts = torch.jit.load(report.torchscript_path)
    with torch.no_grad():
        np.testing.assert_allclose(net(x).numpy(), ts(x).numpy(), atol=1e-4)
