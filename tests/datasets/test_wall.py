"""Synthetic A4C -> NIfTI wall-segmentation pairs, and the per-recording pair check."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from echo_monai.datasets.wall import check_wall_pair, one_cycle, prepare_wall_dataset
from echo_monai.errors import EchoDataError
from echo_monai.io.frames import resize_frames
from echo_monai.io.nifti import read_nifti_cine


def test_converts_a4c_clips_with_masks_segments_and_the_patient_split(synthetic_dataset, tmp_path, tree_hashes,
                                                                       output_bytes, load_script):
    before = tree_hashes(synthetic_dataset)
    out = tmp_path / "wall"
    rc = load_script("prepare_wall_dataset").main(["--input", str(synthetic_dataset), "--out", str(out),
                                                   "--size", "48"])
    assert rc == 0
    assert tree_hashes(synthetic_dataset) == before  # the input is never written to

    source = json.loads((synthetic_dataset / "datalist.json").read_text())
    datalist = json.loads((out / "datalist.json").read_text())
    report = json.loads((out / "report.json").read_text())
    a4c = {s: [i for i in source[s] if i.get("has_wall_mask")] for s in ("training", "validation", "test")}
    assert report["n_converted"] == sum(len(v) for v in a4c.values()) == 4
    assert report["n_other_views"] == 8  # the A2C and PLAX clips
    for split in ("training", "validation", "test"):
        # Same clips in the same split: the generator's patient split is kept.
        assert [i["recording"] for i in datalist[split]] == [i["image"].split("/")[-1][:-4] for i in a4c[split]]
    cases = {s: {i["case"] for i in datalist[s]} for s in ("training", "validation", "test")}
    assert not (cases["training"] & (cases["validation"] | cases["test"]))

    item = next(i for s in ("training", "validation", "test") for i in datalist[s])
    truth = np.load(synthetic_dataset / "truth" / f"{item['recording']}.npz")
    image = read_nifti_cine(out / item["image"])
    wall = read_nifti_cine(out / item["label"], labels=True)
    segments = read_nifti_cine(out / item["segments"], labels=True)
    assert image.frames.shape == wall.frames.shape == (truth["wall_mask"].shape[0], 48, 48)
    expected = resize_frames(truth["wall_mask"].astype(np.uint8), (48, 48), Image.Resampling.NEAREST)
    np.testing.assert_array_equal(wall.frames, expected)
    assert set(np.unique(segments.frames)) <= set(range(7)) and segments.frames.max() == 6
    # The spacing follows the resize (80 -> 48 pixels); the frame interval is kept.
    np.testing.assert_allclose(wall.spacing_mm, truth["spacing_mm"] * 80 / 48, rtol=1e-4)
    assert item["frame_time_ms"] == pytest.approx(np.median(np.diff(truth["frame_times_ms"])), rel=1e-3)
    assert item["infarcted"] == [int(v) for v in truth["infarcted"]]
    assert item["mi"] == int(truth["infarcted"].any())
    assert item["ed_frames"] == truth["ed_frames"].tolist()
    if one_cycle(truth["ed_frames"], truth["es_frames"]) is None:
        assert "ed_frame" not in item
    else:
        assert (item["ed_frame"], item["es_frame"]) == one_cycle(truth["ed_frames"], truth["es_frames"])

    first = output_bytes(out)
    assert load_script("prepare_wall_dataset").main(["--input", str(synthetic_dataset), "--out", str(out),
                                                     "--size", "48"]) == 0
    assert output_bytes(out) == first  # a re-run gives the same bytes


def test_missing_truth_is_skipped_and_reported(synthetic_dataset, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(synthetic_dataset, copy)
    datalist = json.loads((copy / "datalist.json").read_text())
    victim = next(i for s in datalist.values() for i in s if i.get("has_wall_mask"))
    (copy / victim["truth"]).unlink()
    report = prepare_wall_dataset(copy, tmp_path / "out", size=40)
    assert report["n_converted"] == 3
    assert [s["source"] for s in report["skipped"]] == [victim["image"]]
    assert "truth file" in report["skipped"][0]["reason"]


def test_refuses_a_folder_that_is_not_a_synthetic_dataset(tmp_path):
    with pytest.raises(EchoDataError, match="datalist.json"):
        prepare_wall_dataset(tmp_path, tmp_path / "out")


@pytest.mark.parametrize(
    ("image_shape", "mask", "message"),
    [
        ((10, 64, 64), np.ones((9, 64, 64)), "9 frames but the video has 10"),
        ((10, 64, 64), np.zeros((10, 64, 64)), "empty in every frame"),
        ((10, 24, 64), np.ones((10, 24, 64)), "smaller than a usable A4C"),
        ((10, 64, 64), np.ones((10, 32, 32)), "32x32 pixels but the video frames are 64x64"),
    ],
)
def test_pair_check_names_the_problem(image_shape, mask, message):
    with pytest.raises(EchoDataError, match=message):
        check_wall_pair(image_shape, mask, path="rec.nii.gz")


def test_pair_check_lists_empty_frames_one_based():
    mask = np.ones((5, 40, 40))
    mask[[1, 3]] = 0
    with pytest.raises(EchoDataError, match=r"frame\(s\) \[2, 4\]"):
        check_wall_pair((5, 40, 40), mask)
    check_wall_pair((5, 40, 40), np.ones((5, 40, 40)))  # a good pair passes


def test_one_cycle():
    assert one_cycle([3, 20], [10, 28]) == (3, 10)
    assert one_cycle([20], [10]) == (20, 10)  # a clip that starts in systole
    assert one_cycle([5], [1, 12]) == (5, 12)
    assert one_cycle([], [4]) is None
