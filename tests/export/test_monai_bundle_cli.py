"""``python -m monai.bundle ckpt_export`` / ``onnx_export`` on both bundles with a tiny checkpoint.

These are the documented commands (bundle READMEs are owned by the bundle authors; the commands are in
apps/echo_study_app/README.md); each runs in its own process, so the module is marked slow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from echo_monai.export import build_bundle_network, onnx_runtime_session

ROOT = Path(__file__).resolve().parents[2]
CASES = {
    "echo_view_classification": {"input_shape": [1, 1, 8, 64, 64], "time": True},
    "echo_lv_wall_segmentation": {"input_shape": [1, 1, 224, 224], "time": False},
}

pytestmark = pytest.mark.slow


def _bundle_cli(bundle: Path, *args: str) -> None:
    cmd = [sys.executable, "-m", "monai.bundle", *args, "--meta_file", "configs/metadata.json",
           "--config_file", "['configs/train.json','configs/inference.json']", "--bundle_root", "."]
    proc = subprocess.run(cmd, cwd=bundle, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize("name", list(CASES))
def test_ckpt_export_and_onnx_export(name: str, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    bundle, case = ROOT / "bundles" / name, CASES[name]
    built = build_bundle_network(bundle, "default")
    torch.manual_seed(0)
    with torch.no_grad():
        for p in built.network.parameters():
            p.add_(0.02 * torch.randn_like(p))
    ckpt = tmp_path / "model.pt"
    torch.save(built.network.state_dict(), ckpt)  # what the bundles' CheckpointSaver writes

    _bundle_cli(bundle, "ckpt_export", "network_def", "--filepath", str(tmp_path / "model.ts"), "--ckpt_file", str(ckpt))
    extra = {"metadata.json": "", "inference.json": ""}
    ts = torch.jit.load(str(tmp_path / "model.ts"), _extra_files=extra)
    assert json.loads(extra["metadata.json"])["name"] == json.loads((bundle / "configs" / "metadata.json").read_text())["name"]
    assert "evaluator" in json.loads(extra["inference.json"])

    axes = {"image": {0: "batch", 2: "time"} if case["time"] else {0: "batch"}, "pred": {0: "batch"}}
    # a Python literal (fire parses it): JSON would turn the axis numbers into strings; dynamo=False keeps
    # the TorchScript-based exporter, which takes dynamic_axes (the dynamo one wants dynamic_shapes)
    kwargs = {"dynamic_axes": axes, "input_names": ["image"], "output_names": ["pred"], "dynamo": False}
    _bundle_cli(bundle, "onnx_export", "network_def", "--filepath", str(tmp_path / "model.onnx"), "--ckpt_file", str(ckpt),
                "--input_shape", json.dumps(case["input_shape"]), "--converter_kwargs", repr(kwargs))
    shape = list(case["input_shape"])
    shape[0] = 2
    if case["time"]:
        shape[2] += 4  # the view bundle's default network takes any clip length
    x = torch.rand(shape)
    with torch.no_grad():
        ref = built.network.eval()(x).numpy()
        np.testing.assert_allclose(ts(x).numpy(), ref, atol=1e-4)
    got = onnx_runtime_session(tmp_path / "model.onnx", num_threads=1).run(["pred"], {"image": x.numpy()})[0]
    np.testing.assert_allclose(got, ref, atol=1e-4)
