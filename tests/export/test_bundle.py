"""Every network of both bundles exports to TorchScript and ONNX and reproduces eager mode (tiny sizes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from echo_monai.errors import EchoDataError
from echo_monai.export import (
    OnnxRuntimeNetwork,
    build_bundle_network,
    bundle_variants,
    export_bundle,
    read_model_settings,
)

ROOT = Path(__file__).resolve().parents[2]
VIEW = ROOT / "bundles" / "echo_view_classification"
WALL = ROOT / "bundles" / "echo_lv_wall_segmentation"
# Tiny inputs keep the whole module within its time budget; the networks are the bundles' own.
SLOW_VARIANTS = {"gated_efficientnet_b2", "image"}
# 64 px for the view networks: the default Plain3DCNN pools its 4 x 4 last feature map to a 4 x 4 grid
TINY = {VIEW: {"image_size": [64, 64], "num_frames": 8}, WALL: {"image_size": [32, 32]}}


def _cases() -> list:
    cases = []
    for bundle in (VIEW, WALL):
        for variant in bundle_variants(bundle):
            if variant == "default":  # the same network as one of the named variants
                continue
            # EfficientNet-b2 (7.7 M parameters) takes most of this module's time: run with -m slow
            marks = [pytest.mark.slow] if variant in SLOW_VARIANTS else []
            cases.append(pytest.param(bundle, variant, id=f"{bundle.name.split('_')[1]}-{variant}", marks=marks))
    return cases


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.mark.parametrize("bundle,variant", _cases())
def test_bundle_network_exports_and_matches_eager(bundle: Path, variant: str, tmp_path: Path) -> None:
    report = export_bundle(bundle, tmp_path, variant, overrides=TINY[bundle])
    assert report.torchscript_method in ("script", "trace")
    assert report.torchscript_method == "script" or report.torchscript_reason
    assert report.onnx_path is not None, report.onnx_reason
    assert report.onnx_dynamic_axes["image"][0] == "batch"
    if len(report.input_shape) == 5:
        # either the time axis is dynamic (and checked at a second length) or the reason is recorded
        assert ("time" in report.onnx_dynamic_axes["image"].values()) != bool(report.onnx_time_reason)
    if variant == "video_vit":  # learned position embeddings for a fixed number of frames
        assert "takes only 8 frames" in report.onnx_time_reason
    shapes = [c.input_shape for c in report.checks]
    assert [2, *report.input_shape[1:]] in shapes
    for check in report.checks:
        assert check.max_abs_torchscript is not None and check.max_abs_torchscript <= 1e-4, check
        assert check.max_abs_onnx is not None and check.max_abs_onnx <= 1e-4, check
    saved = json.loads((tmp_path / "model.export.json").read_text())
    assert saved["ok"] is True and saved["name"] == "model"


def test_exported_torchscript_loads_in_fresh_process_without_echo_monai(tmp_path: Path) -> None:
    built = build_bundle_network(VIEW, "gated", TINY[VIEW])
    export_bundle(VIEW, tmp_path, "gated", overrides=TINY[VIEW])
    x = torch.rand(3, *built.input_shape[1:], generator=torch.Generator().manual_seed(5))
    # the exported file has random initial weights of the same seed-free build: compare to its own eager twin
    net = torch.jit.load(str(tmp_path / "model.ts"))
    np.save(tmp_path / "x.npy", x.numpy())
    code = (
        "import sys, numpy as np, torch\n"
        "m = torch.jit.load(sys.argv[1]); x = torch.from_numpy(np.load(sys.argv[2]))\n"
        "np.save(sys.argv[3], m(x).detach().numpy())\n"
        "assert not any(k.startswith('echo_monai') for k in sys.modules), 'echo_monai was imported'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "model.ts"), str(tmp_path / "x.npy"),
                    str(tmp_path / "y.npy")], check=True, cwd=tmp_path, env=env, timeout=120)
    with torch.no_grad():
        expected = net(x).numpy()
    got = np.load(tmp_path / "y.npy")
    assert got.shape == (3, 11)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_onnx_runtime_network_and_settings(tmp_path: Path) -> None:
    narrow = {**TINY[WALL], "network_def#channels": [8, 16]}  # the 2D+t input layout is what is tested
    built = build_bundle_network(WALL, "wall_unet_2dt", narrow)
    report = export_bundle(WALL, tmp_path, "wall_unet_2dt", overrides=narrow)
    assert report.input_shape == [1, 3, 32, 32]  # 2D+t: the frame and one neighbour each side
    ort_net = OnnxRuntimeNetwork(tmp_path / "model.onnx", num_threads=1)
    ts = torch.jit.load(str(tmp_path / "model.ts"))
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        np.testing.assert_allclose(ort_net(x).numpy(), ts(x).numpy(), atol=1e-4)
    for path in (tmp_path / "model.ts", tmp_path / "model.onnx"):
        settings = read_model_settings(path)
        assert settings["task"] == "wall" and settings["temporal_context"] == 1
        assert settings["image_size"] == [32, 32] and settings["weights"] == "untrained"
    assert built.settings["input_shape"] == report.input_shape


def test_checkpoint_weights_reach_the_export(tmp_path: Path) -> None:
    built = build_bundle_network(VIEW, "default", TINY[VIEW])
    with torch.no_grad():
        for p in built.network.parameters():
            p.add_(0.05 * torch.randn_like(p))
    torch.save({"model": built.network.state_dict()}, tmp_path / "model.pt")  # nested, as some savers write
    export_bundle(VIEW, tmp_path / "out", "default", ckpt=tmp_path / "model.pt", overrides=TINY[VIEW])
    x = torch.rand(2, *built.input_shape[1:])
    with torch.no_grad():
        np.testing.assert_allclose(torch.jit.load(str(tmp_path / "out" / "model.ts"))(x).numpy(),
                                   built.network.eval()(x).numpy(), atol=1e-5)
    assert read_model_settings(tmp_path / "out" / "model.ts")["weights"] == "model.pt"


def test_bad_inputs_raise_echo_data_error(tmp_path: Path) -> None:
    with pytest.raises(EchoDataError, match="no network variant"):
        build_bundle_network(VIEW, "nope")
    with pytest.raises(EchoDataError, match="not an echo bundle"):
        bundle_variants(tmp_path)
    with pytest.raises(EchoDataError, match="ONNX model not found"):
        OnnxRuntimeNetwork(tmp_path / "missing.onnx")
    bad = tmp_path / "model.pt"
    torch.save({"weight": torch.zeros(1)}, bad)
    with pytest.raises(EchoDataError, match="does not fit"):
        export_bundle(VIEW, tmp_path / "out", "default", ckpt=bad, overrides=TINY[VIEW])
