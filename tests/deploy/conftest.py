"""Fixtures for the echo study app: a small synthetic study, exported tiny models, bundle predictions."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from echo_monai.export import build_bundle_network, export_bundle
from echo_monai.io.cine import read_cine

ROOT = Path(__file__).resolve().parents[2]
VIEW_BUNDLE = ROOT / "bundles" / "echo_view_classification"
WALL_BUNDLE = ROOT / "bundles" / "echo_lv_wall_segmentation"
# At 32 px the default network's last feature map is 2 x 2: its spatial grid (4 x 4 in the bundle, at 64 px)
# must divide that for the ONNX export (adaptive pooling exports only with whole-number windows).
VIEW_TINY = {"image_size": [32, 32], "num_frames": 8, "network_def#spatial_pool": 2}
WALL_TINY = {"image_size": [32, 32], "network_def#channels": [8, 16, 32]}  # the bundle's WallUNet, narrow


@pytest.fixture(scope="session")
def synthetic_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """(DICOM folder, datalist): one synthetic patient, A4C / PLAX / A2C cines with DICOM-waveform,
    burned-in (review and sweep) and no ECG, plus a file that is not a cine."""
    from echo_monai.synthetic import make_dataset

    root = tmp_path_factory.mktemp("study")
    datalist = make_dataset(root / "synthetic", n_patients=1, clips_per_view=2, n_frames=32, size=64,
                            views=["A4C", "PLAX", "A2C"], workers=1, figure=False, seed=3)
    (root / "synthetic" / "dicom" / "case0000" / "notes.txt").write_text("not DICOM\n")
    return root / "synthetic" / "dicom", datalist


@pytest.fixture(scope="session")
def exported_models(synthetic_study, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny view (default network) and wall models: ``model.pt`` checkpoint, ``view.ts``/``.onnx``, ``wall.ts``.

    Both are fitted for a few steps to the study's own clips (view: the bundle's preprocessing and true
    labels; wall: the synthetic wall truth), so that the cines get different, mostly right, views, an A4C
    reaches the wall branch, and its masks are neither empty nor full; the tests check the plumbing.
    """
    from apps.echo_study_app.pipeline import _view_preprocessing

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("models")
    built = build_bundle_network(VIEW_BUNDLE, "default", VIEW_TINY)
    dicom_dir, datalist = synthetic_study
    prep = _view_preprocessing(built.settings)
    xs, ys = [], []
    for item in (i for v in datalist.values() for i in v):
        for window in prep({"image": str(dicom_dir.parent / item["image"])}):
            xs.append(torch.as_tensor(window["image"]))
            ys.append(int(item["label"]))
    x, y = torch.stack(xs), torch.tensor(ys)
    net = built.network.train()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(40):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    net.eval()
    torch.save(net.state_dict(), out / "model.pt")
    export_bundle(VIEW_BUNDLE, out, "default", ckpt=out / "model.pt", overrides=VIEW_TINY, name="view")
    wall = build_bundle_network(WALL_BUNDLE, "default", WALL_TINY).network.train()
    frames, masks = [], []
    for item in (i for v in datalist.values() for i in v if i.get("has_wall_mask")):
        cine = read_cine(dicom_dir.parent / item["image"], grey=True)
        frames.append(torch.as_tensor(cine.frames, dtype=torch.float32)[:, None] / 255.0)
        truth = np.load(dicom_dir.parent / item["truth"])["wall_mask"]
        masks.append(torch.as_tensor(truth > 0, dtype=torch.float32)[:, None])
    size = tuple(WALL_TINY["image_size"])
    fx = torch.nn.functional.interpolate(torch.cat(frames), size=size, mode="area")
    fy = (torch.nn.functional.interpolate(torch.cat(masks), size=size, mode="area") > 0.5).float()
    opt = torch.optim.Adam(wall.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    pos_weight = (1 - fy.mean()) / fy.mean()  # the wall is a small part of the frame: do not learn "empty"
    for _ in range(30):
        pick = torch.randint(0, fx.shape[0], (16,), generator=gen)
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(wall(fx[pick]), fy[pick], pos_weight=pos_weight).backward()
        opt.step()
    torch.save(wall.eval().state_dict(), out / "wall.pt")
    export_bundle(WALL_BUNDLE, out, "default", ckpt=out / "wall.pt", overrides=WALL_TINY, name="wall")
    return {"ckpt_dir": out, "view": out / "view.ts", "view_onnx": out / "view.onnx", "wall": out / "wall.ts"}


def run_view_bundle(dicom_dir: Path, ckpt_dir: Path, out_dir: Path, onnx: Path | None = None) -> dict[str, dict]:
    """Run the view bundle's inference (``inference_onnx.json`` when ``onnx`` is given); clip -> row."""
    from monai.bundle import ConfigWorkflow

    configs = ["configs/train.json", "configs/inference.json"] + (["configs/inference_onnx.json"] if onnx else [])
    overrides = {"bundle_root": str(VIEW_BUNDLE), "dataset_dir": str(dicom_dir), "ckpt_dir": str(ckpt_dir),
                 "output_dir": str(out_dir), **VIEW_TINY}
    if onnx is not None:  # inference_onnx.json replaces network_def: the graph carries the architecture
        overrides = {k: v for k, v in overrides.items() if not k.startswith("network_def#")}
        overrides.update(onnx_path=str(onnx), onnx_threads=1)
    wf = ConfigWorkflow(config_file=[str(VIEW_BUNDLE / c) for c in configs],
                        meta_file=str(VIEW_BUNDLE / "configs" / "metadata.json"), workflow_type="infer", **overrides)
    wf.initialize()
    wf.run()
    wf.finalize()
    with open(out_dir / "predictions" / "clip_predictions.csv", newline="") as fh:
        return {row["clip"]: row for row in csv.DictReader(fh)}


@pytest.fixture(scope="session")
def bundle_view_predictions(synthetic_study, exported_models, tmp_path_factory) -> dict[str, dict]:
    """The view bundle's own inference on the synthetic study with the same (checkpoint) weights."""
    torch.set_num_threads(1)
    return run_view_bundle(synthetic_study[0], exported_models["ckpt_dir"], tmp_path_factory.mktemp("bundle_out"))


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
