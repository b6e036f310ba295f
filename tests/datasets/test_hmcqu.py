"""prepare_hmcqu on the generator's HMC-QU-format export: round trip, cycle cropping, bad recordings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pytest
import scipy.io
from PIL import Image

from echo_monai.datasets.hmcqu import HMCQU_SEGMENTS, prepare_hmcqu
from echo_monai.errors import EchoDataError
from echo_monai.io.nifti import read_nifti_cine
from echo_monai.io.video import read_video, write_video
from echo_monai.synthetic.hmcqu import export_hmcqu


@pytest.fixture(scope="module")
def hmcqu(tmp_path_factory):
    """Six recordings (some ids with a space), every one with a mask; videos 240x320 at 25 fps."""
    root = tmp_path_factory.mktemp("hmcqu") / "HMC-QU-root"
    records = export_hmcqu(root, n_recordings=6, n_frames=30, size=(240, 320), seed=3, mask_fraction=1.0)
    assert any(" " in r["id"] for r in records)
    return root, records


def _items(out: Path) -> dict[str, dict]:
    data = json.loads((out / "datalist.json").read_text())
    return {i["recording"]: i for key in ("training", "validation", "test") for i in data[key]}


def test_round_trip_gives_back_masks_labels_and_the_annotated_cycle(hmcqu, tmp_path, tree_hashes, output_bytes):
    root, records = hmcqu
    before = tree_hashes(root)
    out = tmp_path / "out"
    report = prepare_hmcqu(root, out, val_fraction=0.2, test_fraction=0.2)
    assert report["n_converted"] == 6 and report["n_skipped"] == 0
    items = _items(out)
    assert sorted(items) == sorted(r["id"].replace(" ", "") for r in records)
    data = json.loads((out / "datalist.json").read_text())
    assert data["segments"] == list(HMCQU_SEGMENTS) and data["segment_aha"] == [3, 9, 14, 16, 12, 6]
    splits = [{i["case"] for i in data[k]} for k in ("training", "validation", "test")]
    assert not (splits[0] & splits[1] or splits[0] & splits[2] or splits[1] & splits[2])

    for rec in records:
        item = items[rec["id"].replace(" ", "")]
        assert item["infarcted"] == [int(v) for v in rec["infarcted"]]
        assert item["mi"] == int(any(rec["infarcted"]))
        assert item["cycle_frames"] == [rec["start_frame"], rec["end_frame"]]
        assert item["case"] == rec["id"].split("_")[0].strip()
        wall = read_nifti_cine(out / item["label"])
        np.testing.assert_array_equal(wall.frames, scipy.io.loadmat(rec["mask"])["predicted"])
        image = read_nifti_cine(out / item["image"])
        n = rec["end_frame"] - rec["start_frame"] + 1
        assert image.frames.shape == (n, 224, 224) and item["n_frames"] == n
        np.testing.assert_allclose(np.diff(image.frame_times_ms), 40.0)  # 25 fps kept in the header

        # Cycle cropping: each converted frame is closest to the video frame it should come from
        # (the video resized here with Pillow, independently of the converter's OpenCV resize).
        video = read_video(rec["video"], grey=True).frames
        small = np.stack([np.asarray(Image.fromarray(f).resize((224, 224), Image.BILINEAR)) for f in video])
        for k in (0, n // 2, n - 1):
            diffs = np.abs(small.astype(np.int16) - image.frames[k].astype(np.int16)).mean(axis=(1, 2))
            assert int(np.argmin(diffs)) == rec["start_frame"] - 1 + k

    first = output_bytes(out)
    prepare_hmcqu(root, out, val_fraction=0.2, test_fraction=0.2)
    assert output_bytes(out) == first
    assert tree_hashes(root) == before


def test_bad_recordings_are_reported_and_the_rest_converted(hmcqu, tmp_path):
    source, records = hmcqu
    root = tmp_path / "hmcqu"
    shutil.copytree(source, root)
    masks = root / "LV Ground-truth Segmentation Masks"
    videos = root / "HMC-QU" / "A4C"
    ids = [r["id"] for r in records]

    # 0: one mask frame too few for the cycle in the spreadsheet.
    mask0 = scipy.io.loadmat(masks / f"Mask_{ids[0]}.mat")["predicted"]
    scipy.io.savemat(masks / f"Mask_{ids[0]}.mat", {"predicted": mask0[:-1]})
    # 1: an empty mask.
    mask1 = scipy.io.loadmat(masks / f"Mask_{ids[1]}.mat")["predicted"]
    scipy.io.savemat(masks / f"Mask_{ids[1]}.mat", {"predicted": np.zeros_like(mask1)})
    # 2: a video far smaller than an HMC-QU A4C video.
    write_video(videos / f"{ids[2]}.avi", np.zeros((30, 96, 128), dtype=np.uint8), 25.0)
    # 3: no mask file.
    (masks / f"Mask_{ids[3]}.mat").unlink()
    # A video and a mask without a spreadsheet row, and a row without files.
    shutil.copy(videos / f"{ids[4]}.avi", videos / "ES0098_4CH_1.avi")
    shutil.copy(masks / f"Mask_{ids[4]}.mat", masks / "Mask_ES0098_4CH_1.mat")
    wb = openpyxl.load_workbook(root / "A4C.xlsx")
    wb.active.append(["ES0099 _4CH_1", 0, 0, 0, 0, 0, 0, 1, 20])
    # 5: a row whose cycle frames are not numbers (its files exist).
    for row in wb.active.iter_rows():
        if row[0].value == ids[5]:
            row[7].value = "see notes"
    wb.save(root / "A4C.xlsx")

    out = tmp_path / "out"
    report = prepare_hmcqu(root, out)
    reasons = {s["source"]: s["reason"] for s in report["skipped"]}
    mask_dir = "LV Ground-truth Segmentation Masks"
    assert "mask frames but the cycle" in reasons[f"{mask_dir}/Mask_{ids[0]}.mat"]
    assert "empty in every frame" in reasons[f"{mask_dir}/Mask_{ids[1]}.mat"]
    assert "smaller than an HMC-QU A4C video" in reasons[f"HMC-QU/A4C/{ids[2]}.avi"]
    assert "no ground-truth mask" in reasons[f"HMC-QU/A4C/{ids[3]}.avi"]
    assert reasons["HMC-QU/A4C/ES0098_4CH_1.avi"] == "video without a row in A4C.xlsx"
    assert reasons[f"{mask_dir}/Mask_ES0098_4CH_1.mat"] == "mask without a row in A4C.xlsx"
    row_label = next(k for k in reasons if "ES0099" in k)
    assert reasons[row_label] == "no video file for this spreadsheet row"
    row5 = next(k for k in reasons if ids[5] in k and k.startswith("A4C.xlsx"))
    assert "not numbers" in reasons[row5]
    assert f"HMC-QU/A4C/{ids[5]}.avi" not in reasons  # reported once, as its row
    assert report["n_skipped"] == 8
    assert sorted(_items(out)) == [ids[4].replace(" ", "")]

    # The recording without a mask can still serve MI classification: image only, flagged.
    report = prepare_hmcqu(root, tmp_path / "with_unmasked", include_unmasked=True)
    items = _items(tmp_path / "with_unmasked")
    unmasked = items[ids[3].replace(" ", "")]
    assert unmasked["has_mask"] is False and "label" not in unmasked
    assert read_nifti_cine(tmp_path / "with_unmasked" / unmasked["image"]).frames.shape[1:] == (224, 224)
    assert report["n_converted"] == 2 and report["n_with_mask"] == 1


def test_missing_layout_and_overlapping_output_are_refused(hmcqu, tmp_path):
    root, _ = hmcqu
    with pytest.raises(EchoDataError, match="overlaps the input"):
        prepare_hmcqu(root, root / "converted")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EchoDataError, match="A4C.xlsx not found"):
        prepare_hmcqu(tmp_path / "empty", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_command_line_front_end(hmcqu, tmp_path, load_script, capsys):
    root, _ = hmcqu
    main = load_script("prepare_hmcqu").main
    assert main(["--input", str(root), "--out", str(tmp_path / "o"), "--folds", "2", "--test-fraction", "0.2"]) == 0
    assert "converted 6 recording(s)" in capsys.readouterr().out
    folds = {i["fold"] for i in json.loads((tmp_path / "o" / "datalist.json").read_text())["training"]}
    assert folds == {0, 1}
