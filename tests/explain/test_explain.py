"""Explaining a batch and writing the files: names, captions, NIfTI and GIF contents."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from echo_monai.explain.explain import explain_batch, output_stem, write_explanation
from echo_monai.explain.figures import feature_grid, heat_overlay, kernel_grid
from echo_monai.networks import GatedSpatioTemporalNet, SmallFrameCNN, WallUNet
from echo_monai.views import VIEW_NAMES

torch.set_num_threads(1)


@pytest.mark.parametrize(
    ("source", "stem"),
    [
        ("/data/HMC-QU/A4C/ES0001 _4CH_1.avi", "ES0001__4CH_1"),
        ("study/IM_0007.dcm", "IM_0007"),
        ("patient_3/cine.nii.gz", "cine"),
        ("C:/x/.hidden", "hidden"),
        (None, "fallback"),
        ("", "fallback"),
    ],
)
def test_output_stem_is_the_base_name_without_folders(source, stem) -> None:
    assert output_stem(source, "fallback") == stem


def test_image_explanations_carry_prediction_and_label() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(SmallFrameCNN(1, (4, 8)), nn.Linear(8, 11)).eval()
    x = torch.rand(3, 1, 24, 24)
    with torch.no_grad():
        probs = torch.softmax(net(x), 1)
    out = explain_batch(net, x, "Saliency", labels=torch.tensor([[8], [7], [0]]), class_names=VIEW_NAMES)
    assert [e.prediction for e in out] == [VIEW_NAMES[int(i)] for i in probs.argmax(1)]
    assert [e.label for e in out] == ["A5C", "A4C", "PLAX"]
    assert out[0].probability == pytest.approx(float(probs[0].max()), rel=1e-5)
    assert out[0].maps.shape == (24, 24) and out[0].importance is None
    by_label = explain_batch(net, x, "Saliency", target="label", labels=[8, 7, 0], class_names=VIEW_NAMES)
    assert by_label[0].target == "A5C (true)"
    assert by_label[0].caption()[0].startswith(f"predicted {out[0].prediction}  p=")
    with pytest.raises(ValueError, match="needs the true labels"):
        explain_batch(net, x, "Saliency", target="label")


def test_clip_explanation_files(tmp_path) -> None:
    torch.manual_seed(0)
    net = GatedSpatioTemporalNet(1, 11, encoder_widths=(4, 8), temporal_channels=8)
    x = torch.rand(1, 1, 6, 24, 24)
    (expl,) = explain_batch(net, x, "IntegratedGradients", class_names=VIEW_NAMES, method_args={"n_steps": 4})
    assert expl.is_clip and expl.importance.shape == (6,)
    assert expl.importance.sum() == pytest.approx(1.0)
    paths = write_explanation(expl, tmp_path, "clip_a", frame_ms=30)
    assert sorted(p.name for p in paths) == sorted(
        ["clip_a_IntegratedGradients_strip.png", "clip_a_IntegratedGradients.gif", "clip_a_IntegratedGradients.nii.gz"])
    with Image.open(tmp_path / "clip_a_IntegratedGradients.gif") as gif:
        assert gif.n_frames == 6
    raw = nib.load(tmp_path / "clip_a_IntegratedGradients.nii.gz")
    data = np.asarray(raw.dataobj)  # NIfTI (x, y, z=1, t) = (W, H, 1, T)
    assert np.allclose(data[:, :, 0, :].transpose(2, 1, 0), expl.maps)
    assert raw.header.get_zooms()[3] == pytest.approx(30.0)
    assert not list(tmp_path.glob(".*"))  # no temp files left behind


def test_segmentation_explanation(tmp_path) -> None:
    torch.manual_seed(1)
    net = WallUNet(2, 1, 2, channels=(4, 8))
    x = torch.rand(2, 1, 32, 32)
    out = explain_batch(net, x, "LayerGradCam", task="segmentation", layer="down.1")
    with torch.no_grad():
        logits = net(x)
        region = logits.argmax(1) == 1
        expected = (torch.softmax(logits, 1)[:, 1] * region).flatten(1).sum(1)
    assert [e.region_pixels for e in out] == region.flatten(1).sum(1).tolist()
    assert out[0].score == pytest.approx(float(expected[0]), rel=1e-4)
    assert out[0].prediction is None and out[0].caption()[0].startswith("wall score")
    paths = write_explanation(out[0], tmp_path, "frame", nifti=False)
    assert [p.name for p in paths] == ["frame_LayerGradCam.png"]


def test_overlay_leaves_unattributed_pixels_as_they_were() -> None:
    frame = np.linspace(0, 1, 64).reshape(8, 8)
    attr = np.zeros((8, 8))
    attr[2, 3] = 5.0
    img = heat_overlay(frame, attr)
    assert img.shape == (8, 8, 3) and img.dtype == np.uint8
    grey = (frame * 255).round().astype(np.uint8)
    untouched = np.ones((8, 8), bool)
    untouched[2, 3] = False
    assert np.array_equal(img[untouched][:, 0], grey[untouched])
    assert not np.array_equal(img[2, 3], np.repeat(grey[2, 3], 3))


def test_kernel_grid_draws_each_kernel_at_its_value() -> None:
    w = np.zeros((4, 1, 3, 3))
    w[0, 0, 0, 0] = 1.0  # brightest
    w[1, 0, 1, 1] = -1.0  # darkest
    grid = kernel_grid(w, zoom=2)
    # 2x2 tiles of 6x6 px with a 2 px gap: tile 0 at (2, 2), tile 1 at (2, 10)
    assert grid.shape == (2 + 2 * 8, 2 + 2 * 8, 3)
    assert tuple(grid[2, 2]) == (255, 255, 255)
    assert tuple(grid[2 + 2, 10 + 2]) == (0, 0, 0)
    assert tuple(grid[2 + 4, 2 + 4]) == (128, 128, 128)  # zero weight: mid-grey
    # 3D kernels: the 3 time slices side by side, one 3x9 tile per kernel
    video = kernel_grid(np.zeros((2, 1, 3, 3, 3)), zoom=1)
    assert video.shape == (2 + 3 + 2, 2 + 2 * (9 + 2), 3)


def test_feature_grid_shows_the_most_active_channels() -> None:
    act = np.zeros((5, 4, 4))
    act[3] = 2.0
    act[1] = 1.0
    act[4, 0, 0] = 0.5
    _, shown = feature_grid(act, max_maps=3)
    assert shown == [3, 1, 4]


def test_segmentation_of_clips_explains_evenly_spaced_frames() -> None:
    # The wall bundle evaluates whole clips (B, C, T, H, W) with a 2D network applied frame by frame.
    torch.manual_seed(2)
    net = WallUNet(2, 1, 1, channels=(4, 8))  # one sigmoid output, as the wall bundle trains it
    clip = torch.rand(2, 1, 6, 32, 32)
    out = explain_batch(net, clip, "Saliency", task="segmentation", clip_frames=3, region_channel=0)
    frames = [0, 2, 5]  # np.linspace(0, 5, 3) rounded
    assert len(out) == 2 and out[0].maps.shape == (3, 32, 32) and out[0].frames.shape == (3, 32, 32)
    assert "frames 0, 2, 5" in out[0].target
    with torch.no_grad():
        x = clip[1, :, frames].transpose(0, 1)  # (3, 1, H, W)
        logits = net(x)[:, 0]
        region = logits > 0
        expected = float((torch.sigmoid(logits) * region).sum())
    assert region.any()
    assert out[1].score == pytest.approx(expected, rel=1e-4)
    assert out[1].region_pixels == int(region.sum())
    assert np.array_equal(out[1].frames, clip[1, 0, frames].numpy())
    assert out[1].importance.sum() == pytest.approx(1.0)
