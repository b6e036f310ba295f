"""The LV-wall segmentation bundle: metadata, network shapes, workflow properties, losses, data checks,
per-recording outputs, and (slow) train / evaluate / inference / two-process runs of the bundle itself."""

from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser, ConfigWorkflow, verify_metadata, verify_net_in_out
from monai.data import MetaTensor
from PIL import Image

from echo_monai.datasets.wall import one_cycle, prepare_wall_dataset
from echo_monai.errors import EchoDataError
from echo_monai.inference.wall import (
    WallHausdorff95,
    WallResultsWriter,
    analyse_wall_masks,
    ed_es_from_masks,
    load_wall_items,
    wall_input_items,
)
from echo_monai.io.nifti import read_nifti_cine, write_nifti_cine
from echo_monai.testing.processes import run_distributed

BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "echo_lv_wall_segmentation"
CONFIGS = BUNDLE / "configs"
META = str(CONFIGS / "metadata.json")
TRAIN = str(CONFIGS / "train.json")
# A tiny network and frame size for the runs below (the bundle's defaults are the reference UNet at 224 px).
TINY = ["--image_size", "[32,32]", "--network_def#channels", "[4,8,16]", "--frames_per_clip", "2"]


@pytest.fixture(scope="module")
def synthetic_a4c(tmp_path_factory) -> Path:
    """Four synthetic patients with one A4C clip each (40 frames, 96 px): DICOM cines and truth."""
    from echo_monai.synthetic.dataset import make_dataset

    out = tmp_path_factory.mktemp("wall") / "synthetic"
    make_dataset(out, n_patients=4, clips_per_view=4, n_frames=40, size=96, seed=3, views=["A4C"], workers=1,
                 figure=False)
    return out


@pytest.fixture(scope="module")
def wall_dataset(synthetic_a4c, tmp_path_factory) -> Path:
    """The clips above as NIfTI wall pairs at 48 px (2 training, 1 validation, 1 test clip)."""
    out = tmp_path_factory.mktemp("wall") / "nifti"
    report = prepare_wall_dataset(synthetic_a4c, out, size=48)
    assert report["n_converted"] == 4 and report["n_skipped"] == 0
    return out


# -- configuration --------------------------------------------------------------------------------------

def test_metadata_verifies_offline_and_a_broken_one_does_not(tmp_path):
    schema = BUNDLE / "docs" / "meta_schema.json"
    verify_metadata(meta_file=META, filepath=str(schema))  # no download: the schema file exists
    broken = json.loads(Path(META).read_text())
    del broken["network_data_format"]["inputs"]["image"]["num_channels"]
    (tmp_path / "metadata.json").write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="num_channels"):
        verify_metadata(meta_file=str(tmp_path / "metadata.json"), filepath=str(schema))


@pytest.mark.parametrize(("network", "channels"), [(None, 1), ("wall_unet", 1), ("monai_unet", 1),
                                                   ("wall_unet_2dt", 3)])
def test_networks_match_the_metadata_shapes(network, channels):
    configs = [TRAIN] + ([str(CONFIGS / "networks" / f"{network}.json")] if network else [])
    verify_net_in_out(net_id="network_def", meta_file=META, config_file=configs, device="cpu", n=2,
                      **{"_meta_#network_data_format#inputs#image#num_channels": channels,
                         "network_def#channels": [4, 8, 16] if network != "monai_unet" else [4, 8, 16, 32]})


@pytest.mark.parametrize(("extra", "kind"), [((), "train"), (("evaluate.json",), "infer"),
                                             (("inference.json",), "infer"),
                                             (("losses/focal_tversky.json", "networks/wall_unet_2dt.json"), "train")])
def test_workflows_have_the_bundle_properties(extra, kind, wall_dataset, tmp_path):
    image = next(wall_dataset.glob("images/*.nii.gz"))
    # bundle_root in tmp_path: the checkpoint saver creates models/ under it (not in the working directory).
    workflow = ConfigWorkflow(config_file=[TRAIN, *(str(CONFIGS / e) for e in extra)], meta_file=META,
                              logging_file=str(CONFIGS / "logging.conf"), workflow_type=kind,
                              dataset_dir=str(wall_dataset), input_files=[str(image)], bundle_root=str(tmp_path))
    workflow.initialize()
    assert not workflow.check_properties()  # None or an empty list: nothing missing or mis-referenced


_MULTI_GPU_CHECK = """
import sys, torch.distributed as dist
from monai.bundle import ConfigWorkflow
configs, meta, data, port, root = sys.argv[1:6]
dist.init_process_group("gloo", init_method="tcp://127.0.0.1:" + port, rank=0, world_size=1)
workflow = ConfigWorkflow(config_file=configs.split(","), meta_file=meta, workflow_type="train", dataset_dir=data,
                          bundle_root=root)
workflow.initialize()
missing = workflow.check_properties()
dist.destroy_process_group()
sys.exit(1 if missing else 0)
"""


@pytest.mark.slow
def test_multi_gpu_workflow_has_the_bundle_properties(wall_dataset, tmp_path):
    # In its own process with a one-process gloo group (as torchrun gives each process), so that the
    # process group does not leak into the other tests.
    configs = f"{TRAIN},{CONFIGS / 'multi_gpu_train.json'}"
    args = [sys.executable, "-c", _MULTI_GPU_CHECK, configs, META, str(wall_dataset), str(_free_port()), str(tmp_path)]
    proc = subprocess.run(args, check=False, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _loss(*extra: str, **override):
    parser = ConfigParser()
    parser.read_config([TRAIN, *(str(CONFIGS / "losses" / e) for e in extra)])
    for key, value in override.items():
        parser[key] = value
    return parser.get_parsed_content("loss")


def test_focal_tversky_default_differs_from_dice_and_reduces_to_it():
    torch.manual_seed(0)
    logits = torch.randn(4, 1, 24, 24)
    target = (torch.rand(4, 1, 24, 24) > 0.7).float()
    dice = float(_loss("dice.json")(logits, target))
    focal = float(_loss("focal_tversky.json")(logits, target))
    assert abs(dice - focal) > 0.01  # gamma 0.75 and alpha 0.3 / beta 0.7: another loss
    assert float(_loss()(logits, target)) == pytest.approx(dice)  # train.json's default is the Dice loss
    same = float(_loss("focal_tversky.json", tversky_alpha=0.5, tversky_beta=0.5, tversky_gamma=1.0)(logits, target))
    assert same == pytest.approx(dice, abs=1e-5)


# -- data checks ------------------------------------------------------------------------------------------

def _pair(root: Path, name: str, frames: int = 6, size: int = 40, mask_frames: int | None = None,
          empty: bool = False) -> dict:
    rng = np.random.default_rng(0)
    write_nifti_cine(root / f"{name}.nii.gz", rng.integers(0, 255, (frames, size, size), dtype=np.uint8),
                     frame_time_ms=40.0)
    mask = np.zeros((mask_frames or frames, size, size), dtype=np.uint8)
    if not empty:
        mask[:, size // 4: size // 2, size // 4: 3 * size // 4] = 1
    write_nifti_cine(root / f"{name}_wall.nii.gz", mask, frame_time_ms=40.0)
    return {"image": f"{name}.nii.gz", "label": f"{name}_wall.nii.gz", "recording": name}


def test_bad_recordings_are_reported_one_by_one_and_left_out(tmp_path, caplog):
    items = [_pair(tmp_path, "good"), _pair(tmp_path, "short_mask", mask_frames=5),
             _pair(tmp_path, "empty_mask", empty=True), _pair(tmp_path, "tiny_video", size=20),
             {"image": "gone.nii.gz", "label": "gone_wall.nii.gz", "recording": "gone"},
             {"image": "x.nii.gz", "has_mask": False, "recording": "unmasked"}]
    (tmp_path / "datalist.json").write_text(json.dumps({"training": items}))
    with caplog.at_level(logging.WARNING, logger="echo_monai.inference.wall"):
        kept = load_wall_items(tmp_path, "training")
    assert [i["recording"] for i in kept] == ["good"]
    assert Path(kept[0]["image"]).is_absolute()
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert "short_mask" in messages and "5 frames but the video has 6" in messages
    assert "empty_mask" in messages and "empty in every frame" in messages
    assert "tiny_video" in messages and "smaller than a usable A4C" in messages
    assert "gone" in messages and "not found" in messages
    assert "unmasked" not in messages  # image-only items are not errors
    with pytest.raises(EchoDataError, match="no split 'test'"):
        load_wall_items(tmp_path, "test")


def test_inference_inputs_skip_unusable_cines(tmp_path, caplog):
    _pair(tmp_path, "a")
    _pair(tmp_path, "small", size=16)
    (tmp_path / "broken.nii.gz").write_bytes(b"not a nifti")
    with caplog.at_level(logging.WARNING, logger="echo_monai.inference.wall"):
        items = wall_input_items([tmp_path / "a.nii.gz", tmp_path / "small.nii.gz", tmp_path / "broken.nii.gz"])
    assert [i["recording"] for i in items] == ["a"]
    assert "small.nii.gz" in caplog.text and "broken.nii.gz" in caplog.text
    with pytest.raises(EchoDataError, match="no usable input cine"):
        wall_input_items([tmp_path / "small.nii.gz"])


# -- metric and per-recording outputs -------------------------------------------------------------------

def test_hd95_uses_each_recordings_spacing():
    label = torch.zeros(1, 3, 40, 40)
    label[:, :, 10:20, 10:20] = 1
    pred = torch.roll(label, shifts=4, dims=3)  # 4 pixels to the right in every frame
    metric = WallHausdorff95()
    for spacing in ((0.5, 0.5), (2.0, 2.0)):
        metric([MetaTensor(pred)], [MetaTensor(label, meta={"spacing_mm": spacing})])
    values = metric.get_buffer().flatten().tolist()
    assert values == pytest.approx([2.0, 8.0])
    assert float(metric.aggregate()) == pytest.approx(5.0)
    empty = WallHausdorff95()
    empty([MetaTensor(torch.zeros_like(label))], [MetaTensor(label, meta={"spacing_mm": (1.0, 1.0)})])
    assert np.isnan(float(empty.aggregate()))  # no frame with two masks: unknown, not 0 mm


def _beating_ring(n_frames: int, period: int, ed: int) -> np.ndarray:
    """(T, 64, 64) rings 3 px thick whose cavity radius is largest at ``ed`` (+ k * period)."""
    yy, xx = np.mgrid[:64, :64]
    dist = np.hypot(yy - 32, xx - 32)
    radii = 14 + 5 * np.cos(2 * np.pi * (np.arange(n_frames) - ed) / period)
    return np.stack([(dist >= r) & (dist < r + 3) for r in radii]).astype(np.uint8)


@pytest.mark.parametrize(("n_frames", "period", "ed", "expected"),
                         [(30, 20, 5, (5, 15)),    # a whole systole after ED
                          (30, 40, 25, (25, 5))])  # ED near the end: the systole before it, not the last frame
def test_ed_es_from_the_cavity_of_the_masks(n_frames, period, ed, expected):
    assert ed_es_from_masks(_beating_ring(n_frames, period, ed)) == expected
    with pytest.raises(EchoDataError, match="fewer than two frames"):
        ed_es_from_masks(np.zeros((5, 32, 32), np.uint8))


def test_regional_analysis_of_true_masks_and_the_results_writer(synthetic_a4c, wall_dataset, tmp_path):
    datalist = json.loads((synthetic_a4c / "datalist.json").read_text())
    item = next(i for s in datalist.values() for i in s
                if one_cycle(*(np.load(synthetic_a4c / i["truth"])[k] for k in ("ed_frames", "es_frames"))))
    truth = np.load(synthetic_a4c / item["truth"])
    ed, es = one_cycle(truth["ed_frames"], truth["es_frames"])
    spacing = tuple(truth["spacing_mm"])
    result = analyse_wall_masks(truth["wall_mask"], spacing, ed, es)
    assert result.motion is not None and result.timing == "given"
    assert result.motion.peak_displacement_mm.shape == (6,)

    image = MetaTensor(torch.rand(1, *truth["wall_mask"].shape), meta={"filename_or_obj": "x/clip.dcm"})
    label = MetaTensor(torch.as_tensor(truth["wall_mask"][None]).float(), meta={"spacing_mm": spacing})
    pred = label.clone()
    pred[:, :, :2] = 0  # two rows off the top: not a perfect prediction
    writer = WallResultsWriter(tmp_path, figures=True)
    row = writer.add({"pred": pred, "label": label, "image": image},
                     {"recording": "clip a", "ed_frame": ed, "es_frame": es, "frame_time_ms": 20.0,
                      "infarcted": [int(v) for v in truth["infarcted"]]})
    summary = writer.finish()
    assert row["recording"] == "clip_a" and 0.5 < row["dice"] <= 1.0
    saved = read_nifti_cine(tmp_path / "masks" / "clip_a_wall.nii.gz", labels=True)
    np.testing.assert_array_equal(saved.frames, pred[0].numpy().astype(np.uint8))
    np.testing.assert_allclose(saved.spacing_mm, spacing, rtol=1e-5)
    gif = Image.open(tmp_path / "overlays" / "clip_a.gif")
    assert gif.n_frames == truth["wall_mask"].shape[0]
    segments = list(csv.DictReader((tmp_path / "regional" / "clip_a_segments.csv").open()))
    assert [int(r["segment"]) for r in segments] == [1, 2, 3, 4, 5, 6]
    assert [int(r["infarcted"]) for r in segments] == [int(v) for v in truth["infarcted"]]
    assert (tmp_path / "regional" / "clip_a.png").stat().st_size > 1000
    frames = list(csv.DictReader((tmp_path / "frame_metrics.csv").open()))
    assert len(frames) == truth["wall_mask"].shape[0]
    assert summary["n_recordings"] == 1
    assert summary["regional_ground_truth"]["tp"] + summary["regional_ground_truth"]["fn"] \
        + summary["regional_ground_truth"]["tn"] + summary["regional_ground_truth"]["fp"] \
        == summary["regional_ground_truth"]["segments_assessed"]


# -- the bundle run as users run it (slow) -----------------------------------------------------------------

def _bundle_run(*args: str, configs: list[str], bundle_root: Path, torchrun: int = 0, timeout: int = 240):
    files = "[" + ",".join(f"'{CONFIGS / c}'" for c in configs) + "]"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={torchrun}"] \
        if torchrun else [sys.executable]
    cmd = [*launcher, "-m", "monai.bundle", "run", "--config_file", files, "--meta_file", META,
           "--logging_file", str(CONFIGS / "logging.conf"), "--bundle_root", str(bundle_root), *args]
    proc = run_distributed(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                           cwd=bundle_root.parent)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_train_evaluate_and_infer_with_the_bundle(wall_dataset, synthetic_a4c, tmp_path):
    root = tmp_path / "bundle"
    common = ["--dataset_dir", str(wall_dataset), *TINY]
    _bundle_run("--max_epochs", "1", *common, configs=["train.json"], bundle_root=root)
    assert (root / "models" / "model.pt").is_file()

    _bundle_run(*common, "--write_figures", "False", configs=["train.json", "evaluate.json"], bundle_root=root)
    eval_dir = root / "output" / "eval"
    metrics = dict(line.split(",") for line in (eval_dir / "metrics.csv").read_text().split())
    assert set(metrics) == {"val_mean_dice", "val_mean_iou", "val_accuracy", "val_precision", "val_recall",
                            "val_f1", "val_hd95_mm"}
    assert 0.0 <= float(metrics["val_accuracy"]) <= 1.0
    test_items = json.loads((wall_dataset / "datalist.json").read_text())["test"]
    frames = list(csv.DictReader((eval_dir / "frame_metrics.csv").open()))
    assert len(frames) == sum(i["n_frames"] for i in test_items)  # every frame at the stored size
    assert (eval_dir / "val_hd95_mm_raw.csv").is_file() and (eval_dir / "summary.json").is_file()
    recordings = list(csv.DictReader((eval_dir / "recordings.csv").open()))
    assert [r["recording"] for r in recordings] == [i["recording"] for i in test_items]

    # Inference straight from the DICOM cine (96 px, ECG inside), plus an unusable file reported and skipped.
    dicom = synthetic_a4c / next(i["image"] for s in json.loads((synthetic_a4c / "datalist.json").read_text())
                                 .values() for i in s)
    tiny = tmp_path / "tiny.nii.gz"
    write_nifti_cine(tiny, np.zeros((5, 12, 12), np.uint8), frame_time_ms=40.0)
    proc = _bundle_run(*common, "--input_files", f"['{dicom}','{tiny}']",
                       configs=["train.json", "inference.json"], bundle_root=root)
    assert "tiny.nii.gz" in proc.stdout + proc.stderr
    out = root / "output" / "inference"
    mask = read_nifti_cine(out / "masks" / f"{dicom.stem}_wall.nii.gz", labels=True)
    assert mask.frames.shape == (40, 96, 96)  # back at the cine's own size
    assert Image.open(out / "overlays" / f"{dicom.stem}.gif").n_frames == 40
    row = next(csv.DictReader((out / "recordings.csv").open()))
    assert row["recording"] == dicom.stem and row["timing"] in {"dicom_waveform", "dicom_waveform_file",
                                                                "r_wave_time_vector", "burned_in", "masks"}


@pytest.mark.slow
def test_two_process_gloo_training(wall_dataset, tmp_path):
    root = tmp_path / "ddp"
    _bundle_run("--max_epochs", "1", "--dataset_dir", str(wall_dataset), *TINY,
                configs=["train.json", "multi_gpu_train.json"], bundle_root=root, torchrun=2, timeout=300)
    state = torch.load(root / "models" / "model.pt", map_location="cpu", weights_only=True)
    assert not any(k.startswith("module.") for k in state)  # saved unwrapped, loadable without DDP


@pytest.mark.slow
def test_wall_demo_trains_evaluates_and_reports(synthetic_a4c, tmp_path):
    from echo_monai.inference.wall_demo import run_wall_demo

    result = run_wall_demo(synthetic_a4c, tmp_path / "demo", quick=True, seed=1)
    assert result["epochs"] == 2
    assert set(result["metrics"]) >= {"val_mean_dice", "val_hd95_mm"}
    assert 0.0 <= result["metrics"]["val_mean_dice"] <= 1.0
    for key in ("metrics.csv", "summary.json", "recordings.csv", "overlay"):
        assert Path(result["paths"][key]).is_file()
    text = "\n".join(result["summary_lines"])
    assert f"wall Dice {result['metrics']['val_mean_dice']:.3f}" in text
    assert "quick mode" in text
