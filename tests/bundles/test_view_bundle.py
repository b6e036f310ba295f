"""The view-classification bundle: metadata, network shapes, input checks, and (slow) real runs.

Slow tests train on a tiny synthetic dataset (11 views x 2 clips, 48 frames, read at 32 px, 8-frame
windows): ``python -m monai.bundle run`` with the default network, one iteration with every network
override, evaluation, folder inference with a broken file, and a 2-process gloo run with torchrun.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from echo_monai.errors import EchoDataError
from echo_monai.inference.config_check import check_cli_overrides
from echo_monai.inference.datalist import load_view_items, view_class_weights
from echo_monai.inference.views import collect_inference_items, load_network_weights
from echo_monai.io.dicom_write import write_echo_dicom
from echo_monai.testing.processes import run_distributed
from echo_monai.views import VIEW_NAMES

torch.set_num_threads(1)

BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "echo_view_classification"
CONFIGS = BUNDLE / "configs"
NETWORK_CONFIGS = sorted((CONFIGS / "networks").glob("*.json"))
PYTHON = sys.executable
TINY = {"image_size": [32, 32], "num_frames": 8, "batch_size": 4, "val_batch_size": 4}


def _write_cine(path: Path, n_frames: int = 6, size: int = 32, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 255, size=(n_frames, size, size), dtype=np.uint8)
    return write_echo_dicom(path, frames, np.arange(n_frames) * 25.0, compression="none")


# ---- metadata and network shapes (fast) ----------------------------------------------------------


def test_metadata_verifies_against_the_local_schema():
    from monai.bundle import verify_metadata

    verify_metadata(meta_file=str(CONFIGS / "metadata.json"), filepath=str(CONFIGS / "meta_schema.json"))


def test_metadata_schema_rejects_metadata_without_a_network_format(tmp_path):
    from monai.bundle import verify_metadata

    meta = json.loads((CONFIGS / "metadata.json").read_text())
    del meta["network_data_format"]
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="network_data_format"):
        verify_metadata(meta_file=str(tmp_path / "meta.json"), filepath=str(CONFIGS / "meta_schema.json"))


@pytest.mark.parametrize("network", [None, *NETWORK_CONFIGS], ids=lambda p: "default" if p is None else p.stem)
def test_every_network_maps_the_documented_input_to_11_logits(network):
    from monai.bundle import verify_net_in_out

    files = [str(CONFIGS / "train.json")] + ([str(network)] if network else [])
    verify_net_in_out(net_id="network_def", meta_file=str(CONFIGS / "metadata.json"), config_file=files, device="cpu")


def test_image_network_maps_a_frame_to_11_logits():
    from monai.bundle import verify_net_in_out

    verify_net_in_out(net_id="network_def", meta_file=str(CONFIGS / "metadata.json"), device="cpu",
                      config_file=[str(CONFIGS / "train.json"), str(CONFIGS / "train_image.json")],
                      **{"_meta_#network_data_format#inputs#image#spatial_shape": [64, 64]})


# ---- checks before training (fast) --------------------------------------------------------------


def test_a_misspelt_command_line_key_is_refused_with_a_suggestion():
    argv = ["/x/monai/bundle/__main__.py", "run", "--config_file", str(CONFIGS / "train.json"),
            "--dataset_dir", "/data", "--max_epoch", "3"]
    with pytest.raises(ValueError, match=r"--max_epoch \(did you mean --max_epochs"):
        check_cli_overrides(argv)
    ok = argv[:-2] + ["--max_epochs", "3", "--train#dataloader#num_workers", "0"]
    assert check_cli_overrides(ok) is True
    assert check_cli_overrides(["pytest"]) is False  # not a bundle run: nothing to check


def test_a_view_folder_that_is_not_a_view_is_refused(tmp_path):
    for view in ("A4C", "4CH"):
        (tmp_path / "training" / view).mkdir(parents=True)
        _write_cine(tmp_path / "training" / view / "c.dcm")
    with pytest.raises(EchoDataError, match=r"4CH.*not one of the 11 views"):
        load_view_items(tmp_path, "training")


def test_folder_tree_items_carry_view_and_frame_checks(tmp_path):
    _write_cine(tmp_path / "train" / "psax_mid" / "p1" / "a.dcm", n_frames=6)
    items = load_view_items(tmp_path, "training", min_frames=4)
    assert [(i["view"], i["label"], i["clip"]) for i in items] == [("PSAX-mid", 3, "train/psax_mid/p1/a.dcm")]
    with pytest.raises(EchoDataError, match=r"shorter than the 8-frame window.*a.dcm \(6 frames\)"):
        load_view_items(tmp_path, "training", min_frames=8)


def test_an_empty_class_is_refused_before_training(tmp_path):
    items = []
    for k, view in enumerate(VIEW_NAMES[:-1]):  # no Subcostal clip
        items.append({"image": _write_cine(tmp_path / f"{k}.dcm").name, "view": view, "frames": 6})
    (tmp_path / "datalist.json").write_text(json.dumps({"training": items}))
    with pytest.raises(EchoDataError, match="no clip of view.*Subcostal"):
        load_view_items(tmp_path, "training", require_all_views=True)
    assert len(load_view_items(tmp_path, "training")) == 10


def test_datalist_problems_are_named(tmp_path):
    _write_cine(tmp_path / "a.dcm")
    cases = [
        ({"image": "a.dcm", "view": "A4C", "label": 5}, "contradicts view"),
        ({"image": "a.dcm", "view": "A6C"}, "unknown view name"),
        ({"image": "gone.dcm", "view": "A4C"}, "not found.*gone.dcm"),
        ({"image": "a.dcm"}, "needs 'image' and 'view' or 'label'"),
    ]
    for item, message in cases:
        (tmp_path / "datalist.json").write_text(json.dumps({"training": [item]}))
        with pytest.raises(EchoDataError, match=message):
            load_view_items(tmp_path, "training")
    with pytest.raises(EchoDataError, match="no 'test' list"):
        load_view_items(tmp_path, "test")


def test_class_weights_are_inverse_frequency_with_mean_one():
    w = view_class_weights([{"label": 0}] * 3 + [{"label": 1}], num_classes=3)
    assert w.tolist() == pytest.approx([4 / 6, 4 / 2, 0.0])


def test_inference_inputs_skip_unreadable_files_with_a_reason(tmp_path):
    data = tmp_path / "in"
    _write_cine(data / "p1" / "good.dcm")
    (data / "p1" / "garbage.dcm").write_bytes(b"not a dicom at all")
    cut = _write_cine(data / "p2" / "cut.dcm", seed=1)
    cut.write_bytes(cut.read_bytes()[:900])
    _write_cine(data / "still.dcm", n_frames=1)
    items = collect_inference_items(data, tmp_path / "out")
    assert [i["clip"] for i in items] == ["p1/good.dcm"]
    with open(tmp_path / "out" / "skipped.csv") as fh:
        skipped = {r["file"]: r["reason"] for r in csv.DictReader(fh)}
    assert set(skipped) == {"p1/garbage.dcm", "p2/cut.dcm", "still.dcm"}
    assert "not a DICOM" in skipped["p1/garbage.dcm"] and "still image" in skipped["still.dcm"]
    assert "truncated" in skipped["p2/cut.dcm"] or "corrupt" in skipped["p2/cut.dcm"]


def test_weights_of_another_network_are_refused_by_name(tmp_path):
    from echo_monai.networks import Plain3DCNN

    torch.save({"model": Plain3DCNN(widths=(8, 16)).state_dict()}, tmp_path / "m.pt")
    with pytest.raises(EchoDataError, match="do not fit Plain3DCNN"):
        load_network_weights(Plain3DCNN(widths=(16, 32)), tmp_path / "m.pt")
    net = Plain3DCNN(widths=(8, 16))
    torch.save({"model": net.state_dict()}, tmp_path / "ok.pt")
    loaded = load_network_weights(Plain3DCNN(widths=(8, 16)), tmp_path / "ok.pt")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), net.state_dict().values()))


# ---- real runs on a tiny synthetic dataset (slow) ------------------------------------------------


@pytest.fixture(scope="module")
def tiny_views(tmp_path_factory) -> Path:
    """11 views x 2 clips; one clip of each view trains, the other validates and tests."""
    from echo_monai.synthetic.dataset import make_dataset

    root = tmp_path_factory.mktemp("views")
    data = make_dataset(root, n_patients=2, clips_per_view=2, n_frames=48, size=96, seed=5, workers=2, figure=False)
    by_view: dict[str, list[dict]] = {}
    for item in sorted((i for split in data.values() for i in split), key=lambda i: i["image"]):
        by_view.setdefault(item["view"], []).append(item)
    first, second = [v[0] for v in by_view.values()], [v[1] for v in by_view.values()]
    (root / "views.json").write_text(json.dumps({"training": first, "validation": second, "test": second}))
    return root


def _bundle_cmd(config_files: list[str], data: Path, out: Path, **overrides) -> list[str]:
    args = ["--config_file", repr(config_files) if len(config_files) > 1 else config_files[0],
            "--meta_file", "configs/metadata.json", "--logging_file", "configs/logging.conf",
            "--dataset_dir", str(data), "--datalist", str(data / "views.json"), "--bundle_root", str(out)]
    for key, value in {**TINY, **overrides}.items():
        args += [f"--{key}", json.dumps(value) if isinstance(value, list) else str(value)]
    return args


def _run(args: list[str], timeout: int = 200, launcher: list[str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = (launcher or [PYTHON]) + ["-m", "monai.bundle", "run", *args]
    proc = run_distributed(cmd, cwd=BUNDLE, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_train_evaluate_and_infer_from_the_command_line(tiny_views, tmp_path):
    out = tmp_path / "run"
    _run(_bundle_cmd(["configs/train.json"], tiny_views, out, max_epochs=1))
    assert (out / "models" / "model.pt").is_file()
    assert any((out / "output" / "tensorboard").iterdir())

    _run(_bundle_cmd(["configs/train.json", "configs/evaluate.json"], tiny_views, out))
    metrics = json.loads((out / "output" / "eval_test" / "metrics.json").read_text())
    assert metrics["n_clips"] == 11 and set(metrics["clip"]) == {"mean", "vote"}
    assert 0.0 <= metrics["clip"]["mean"]["micro_f1"] <= 1.0
    assert (out / "output" / "eval_test" / "confusion_clip.png").is_file()

    folder = tmp_path / "folder"
    for item in json.loads((tiny_views / "views.json").read_text())["test"][:3]:
        dest = folder / Path(item["image"]).name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes((tiny_views / item["image"]).read_bytes())
    (folder / "broken.dcm").write_bytes(b"\x00" * 200)
    _run(_bundle_cmd(["configs/train.json", "configs/inference.json"], tiny_views, out, input_dir=str(folder)))
    with open(out / "output" / "predictions" / "clip_predictions.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 and all(r["predicted_view"] in VIEW_NAMES for r in rows)
    assert all(abs(sum(float(r[f"p_{v}"]) for v in VIEW_NAMES) - 1.0) < 1e-3 for r in rows)
    assert all(r["ecg_source"] for r in rows)
    skipped = (out / "output" / "predictions" / "skipped.csv").read_text()
    assert "broken.dcm" in skipped


@pytest.mark.slow
def test_a_misspelt_key_stops_the_run_before_any_data_is_read(tiny_views, tmp_path):
    args = _bundle_cmd(["configs/train.json"], tiny_views, tmp_path, max_epoch=1)
    proc = subprocess.run([PYTHON, "-m", "monai.bundle", "run", *args], check=False, cwd=BUNDLE, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode != 0
    assert "did you mean --max_epochs" in proc.stdout + proc.stderr
    assert not (tmp_path / "models").exists()


@pytest.mark.slow
@pytest.mark.parametrize("extra", [*NETWORK_CONFIGS, CONFIGS / "train_image.json"], ids=lambda p: p.stem)
def test_one_training_iteration_with_every_network(tiny_views, tmp_path, extra):
    from monai.bundle import ConfigWorkflow

    overrides = {**TINY, "dataset_dir": str(tiny_views), "datalist": str(tiny_views / "views.json"),
                 "bundle_root": str(tmp_path), "max_epochs": 1, "val_interval": 2, "batch_size": 8,
                 "train#dataset#cache_rate": 0.0, "validate#dataset#cache_rate": 0.0}
    workflow = ConfigWorkflow(config_file=[str(CONFIGS / "train.json"), str(extra)], workflow_type="train",
                              meta_file=str(CONFIGS / "metadata.json"), logging_file=False, **overrides)
    workflow.initialize()
    assert workflow.check_properties() == []
    workflow.run()
    trainer = workflow.parser.get_parsed_content("train#trainer")
    assert trainer.state.iteration == 1
    assert np.isfinite(trainer.state.output["loss"].item())
    workflow.finalize()


@pytest.mark.slow
def test_evaluate_and_inference_configs_have_the_infer_properties(tiny_views, tmp_path):
    from monai.bundle import ConfigWorkflow

    for extra in ("evaluate.json", "inference.json"):
        overrides = {"dataset_dir": str(tiny_views), "datalist": str(tiny_views / "views.json"),
                     "bundle_root": str(tmp_path), "validate#dataset#cache_rate": 0.0, **TINY}
        workflow = ConfigWorkflow(config_file=[str(CONFIGS / "train.json"), str(CONFIGS / extra)],
                                  workflow_type="infer", meta_file=str(CONFIGS / "metadata.json"),
                                  logging_file=False, **overrides)
        workflow.initialize()
        assert workflow.check_properties() == [], extra


@pytest.mark.slow
def test_two_process_gloo_training_with_torchrun(tiny_views, tmp_path):
    out = tmp_path / "ddp"
    args = _bundle_cmd(["configs/train.json", "configs/multi_gpu_train.json"], tiny_views, out, max_epochs=1)
    launcher = [PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    proc = _run(args, timeout=240, launcher=launcher)
    assert (out / "models" / "model.pt").is_file()
    # Only rank 0 validates and logs: one key-metric line per epoch.
    assert (proc.stdout + proc.stderr).count("Key metric: val_micro_f1 best value") == 1


@pytest.mark.slow
def test_run_view_demo_trains_evaluates_and_infers_within_its_budget(tiny_views, tmp_path):
    from echo_monai.inference.demo import run_view_demo

    folder = tmp_path / "new"
    item = json.loads((tiny_views / "views.json").read_text())["test"][0]
    folder.mkdir()
    (folder / "one.dcm").write_bytes((tiny_views / item["image"]).read_bytes())
    result = run_view_demo(tiny_views, tmp_path / "demo", minutes=5, max_epochs=1, infer_dir=folder,
                           overrides={**TINY, "datalist": str(tiny_views / "views.json")}, explain_samples=2)
    assert result["epochs"] == 1 and result["train_seconds"] > 0
    assert result["metrics"]["n_clips"] == 11
    assert Path(result["paths"]["model"]).is_file()
    explain = Path(result["paths"]["explanations"])
    method = json.loads((BUNDLE / "configs" / "explain.json").read_text())["saliency_method"]
    assert len(list((explain / method).glob(f"*_{method}_strip.png"))) == 2
    assert list((explain / "filters").glob("first_conv_*.png"))
    with open(Path(result["paths"]["predictions"]) / "clip_predictions.csv") as fh:
        assert [r["clip"] for r in csv.DictReader(fh)] == ["one.dcm"]
    with pytest.raises(ValueError, match="unknown network 'resnet99'"):
        run_view_demo(tiny_views, tmp_path / "x", network="resnet99")


@pytest.mark.slow
def test_run_view_demo_out_of_time_before_any_validation_still_evaluates(tiny_views, tmp_path):
    from echo_monai.inference.demo import run_view_demo

    # A zero budget stops after the first iteration, before the epoch's validation (seen in the full demo on
    # a busy machine: no model.pt, and the evaluation failed).
    result = run_view_demo(tiny_views, tmp_path / "demo", minutes=0.0, max_epochs=3,
                           overrides={**TINY, "datalist": str(tiny_views / "views.json")})
    assert result["epochs"] == 1
    assert Path(result["paths"]["model"]).is_file()
    assert result["metrics"]["n_clips"] == 11
