"""CaptumSaliencyHandler built from a JSON bundle config and run inside a real SupervisedEvaluator."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from PIL import Image

from echo_monai.handlers.saliency import CaptumSaliencyHandler
from echo_monai.io.nifti import write_nifti_cine
from echo_monai.transforms import LoadEchoCine

torch.set_num_threads(1)
SIZE = 32
FRAMES = 6
# A folder named like a patient: nothing of it may reach the outputs.
PATIENT_DIR = "DOE^JOHN_1960"


def _cines(root: Path, names: list[str], frames: int = FRAMES) -> list[Path]:
    rng = np.random.default_rng(0)
    folder = root / PATIENT_DIR
    return [write_nifti_cine(folder / n, rng.integers(0, 255, (frames, 40, 40), dtype=np.uint8), frame_time_ms=20.0)
            for n in names]


def _config(tmp_path: Path, files: list[Path], network: dict, handler: dict, *, image: bool = False,
            batch_size: int = 2, decollate: bool = False) -> ConfigParser:
    transforms = [
        {"_target_": "echo_monai.transforms.LoadEchoCined", "keys": "image", "size": [SIZE, SIZE], "gating": False},
    ]
    if image:  # single-frame cines -> (1, H, W) frames
        transforms.append({"_target_": "SqueezeDimd", "keys": "image", "dim": 1})
    config = {
        "imports": ["$import torch", "$import echo_monai", "$import echo_monai.views"],
        "class_names": "$list(echo_monai.views.VIEW_NAMES)",
        "network": network,
        "data": [{"image": str(f), "label": i + 5} for i, f in enumerate(files)],
        "dataset": {"_target_": "Dataset", "data": "@data",
                    "transform": {"_target_": "Compose", "transforms": transforms}},
        "loader": {"_target_": "DataLoader", "dataset": "@dataset", "batch_size": batch_size, "shuffle": False},
        "handlers": [handler],
        "evaluator": {"_target_": "SupervisedEvaluator", "device": "$torch.device('cpu')",
                      "val_data_loader": "@loader", "network": "@network", "val_handlers": "@handlers",
                      "decollate": decollate},
    }
    path = tmp_path / "explain_test.json"
    path.write_text(json.dumps(config, indent=1))  # a real JSON file, read back as a bundle would be
    parser = ConfigParser()
    parser.read_config(str(path))
    parser.parse()
    parser.get_parsed_content("imports")
    return parser


VIDEO_NET = {"_target_": "echo_monai.networks.GatedSpatioTemporalNet", "in_channels": 1, "num_classes": 11,
             "encoder_widths": [4, 8], "temporal_channels": 8}


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_video_saliency_in_an_evaluator_run(tmp_path) -> None:
    files = _cines(tmp_path, ["ES0001 _4CH_1.nii.gz", "IM_0002.nii.gz", "IM_0003.nii.gz"])
    out = tmp_path / "saliency"
    handler = {"_target_": "echo_monai.handlers.saliency.CaptumSaliencyHandler", "output_dir": str(out),
               "method": "LayerGradCam", "layer": "frames.encoder.features.1", "max_samples": 8,
               "class_names": "@class_names", "frame_ms": 25}
    parser = _config(tmp_path, files, VIDEO_NET, handler)
    evaluator = parser.get_parsed_content("evaluator")
    net = parser.get_parsed_content("network")
    # Gradients a trainer left on the parameters must come out of the explanation untouched.
    net(torch.rand(2, 1, FRAMES, SIZE, SIZE)).sum().backward()
    grads = {n: p.grad.clone() for n, p in net.named_parameters()}
    evaluator.run()

    for n, p in net.named_parameters():
        assert torch.equal(p.grad, grads[n]) and p.requires_grad
    stems = ["ES0001__4CH_1", "IM_0002", "IM_0003"]
    for stem in stems:
        assert (out / f"{stem}_LayerGradCam_strip.png").is_file()
        with Image.open(out / f"{stem}_LayerGradCam.gif") as gif:
            assert gif.n_frames == FRAMES
        raw = np.asarray(nib.load(out / f"{stem}_LayerGradCam.nii.gz").dataobj)
        assert raw.shape == (SIZE, SIZE, 1, FRAMES) and np.isfinite(raw).all() and raw.max() > 0
    rows = _rows(out / "saliency_LayerGradCam.csv")
    assert [r["output"] for r in rows] == [f"{s}_LayerGradCam" for s in stems]
    assert [r["input_file"] for r in rows] == [f.name for f in files]
    assert [r["label"] for r in rows] == ["A2C", "A3C", "A4C"]  # labels 5, 6, 7
    # The caption's prediction is the network's own, computed here independently.
    loader = LoadEchoCine(size=(SIZE, SIZE), gating=False)
    with torch.no_grad():
        net.eval()
        x = torch.stack([loader(f).as_tensor() for f in files])
        probs = torch.softmax(net(x), 1)
    from echo_monai.views import VIEW_NAMES
    assert [r["prediction"] for r in rows] == [VIEW_NAMES[int(i)] for i in probs.argmax(1)]
    assert float(rows[0]["probability"]) == pytest.approx(float(probs[0].max()), abs=1e-4)
    importance = np.array([float(v) for v in rows[0]["temporal_importance"].split(";")])
    assert importance.shape == (FRAMES,) and importance.sum() == pytest.approx(1.0, abs=1e-3)
    # no patient folder in any name or table
    everything = " ".join(p.name for p in out.iterdir()) + (out / "saliency_LayerGradCam.csv").read_text()
    assert "DOE" not in everything and "JOHN" not in everything


def test_iterations_and_max_samples_choose_the_samples(tmp_path) -> None:
    files = _cines(tmp_path, ["a.nii.gz", "b.nii.gz", "c.nii.gz"], frames=1)
    out = tmp_path / "sal"
    net = {"_target_": "echo_monai.networks.efficientnet", "model_name": "efficientnet-b0", "in_channels": 1,
           "num_classes": 11}
    handler = {"_target_": "echo_monai.handlers.saliency.CaptumSaliencyHandler", "output_dir": str(out),
               "method": "NoiseTunnel", "iterations": [2, 3], "max_samples": 1, "class_names": "@class_names",
               "method_args": {"nt_samples": 2}}
    # decollate=True: the handler finds the samples in a list of dicts
    _config(tmp_path, files, net, handler, image=True, batch_size=1, decollate=True).get_parsed_content(
        "evaluator").run()
    assert sorted(p.name for p in out.iterdir()) == ["b_NoiseTunnel.nii.gz", "b_NoiseTunnel.png",
                                                     "saliency_NoiseTunnel.csv"]
    raw = np.asarray(nib.load(out / "b_NoiseTunnel.nii.gz").dataobj)
    assert raw.shape == (SIZE, SIZE, 1, 1)
    with Image.open(out / "b_NoiseTunnel.png") as png:
        # the 32 px frame is enlarged to 128 px for reading, with the caption band above it
        assert png.width >= 128 and png.height > 128


def test_segmentation_saliency(tmp_path) -> None:
    files = _cines(tmp_path, ["wall_01.nii.gz", "wall_01.nii"], frames=1)  # one name twice: _2 suffix
    out = tmp_path / "seg"
    net = {"_target_": "echo_monai.networks.WallUNet", "in_channels": 1, "out_channels": 2, "channels": [4, 8]}
    handler = {"_target_": "echo_monai.handlers.saliency.CaptumSaliencyHandler", "output_dir": str(out),
               "method": "Occlusion", "task": "segmentation", "label_key": None,
               "method_args": {"occlusion_fraction": 0.5}}
    _config(tmp_path, files, net, handler, image=True).get_parsed_content("evaluator").run()
    rows = _rows(out / "saliency_Occlusion.csv")
    assert [r["output"] for r in rows] == ["wall_01_Occlusion", "wall_01_2_Occlusion"]
    assert all(r["prediction"] == "" and float(r["wall_score"]) >= 0 for r in rows)
    assert (out / "wall_01_2_Occlusion.png").is_file()


def test_segmentation_of_whole_clips(tmp_path) -> None:
    files = _cines(tmp_path, ["A4C_0001.nii.gz"])
    out = tmp_path / "segclip"
    net = {"_target_": "echo_monai.networks.WallUNet", "in_channels": 1, "out_channels": 1, "channels": [4, 8]}
    handler = {"_target_": "echo_monai.handlers.saliency.CaptumSaliencyHandler", "output_dir": str(out),
               "method": "LayerGradCam", "task": "segmentation", "label_key": None, "clip_frames": 3,
               "region_channel": 0}
    parser = _config(tmp_path, files, net, handler, batch_size=1, decollate=True)
    # the evaluator runs the 2D network frame by frame on the (B, C, T, H, W) clips, as the wall bundle does
    parser["evaluator"]["inferer"] = {"_target_": "SliceInferer", "roi_size": [SIZE, SIZE], "spatial_dim": 0}
    parser.parse()
    parser.get_parsed_content("evaluator").run()
    with Image.open(out / "A4C_0001_LayerGradCam.gif") as gif:
        assert gif.n_frames == 3
    raw = np.asarray(nib.load(out / "A4C_0001_LayerGradCam.nii.gz").dataobj)
    assert raw.shape == (SIZE, SIZE, 1, 3)
    (row,) = _rows(out / "saliency_LayerGradCam.csv")
    assert "frames 0, 2, 5" in row["target"] and len(row["temporal_importance"].split(";")) == 3


def test_configuration_errors() -> None:
    with pytest.raises(ValueError, match="unknown attribution method"):
        CaptumSaliencyHandler("x", method="GradCam")
    with pytest.raises(ValueError, match="task"):
        CaptumSaliencyHandler("x", task="regression")
