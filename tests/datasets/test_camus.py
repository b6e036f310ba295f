"""prepare_camus on CAMUS-format fixtures (both layouts) written from the generator's A4C / A2C clips."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from echo_monai.datasets.camus import prepare_camus, read_camus_image
from echo_monai.datasets.metaimage import read_metaimage
from echo_monai.errors import EchoDataError
from echo_monai.io.dicom_read import read_echo_cine
from echo_monai.io.nifti import read_nifti_cine
from echo_monai.synthetic.camus import write_camus_fixture


@pytest.fixture(scope="module")
def camus_nifti(synthetic_dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("camus_nifti") / "CAMUS_public"
    patients = write_camus_fixture(synthetic_dataset, root, layout="nifti")
    assert patients == ["patient0001", "patient0002", "patient0003", "patient0004"]
    return root


@pytest.fixture(scope="module")
def camus_mhd(synthetic_dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("camus_mhd") / "camus"
    write_camus_fixture(synthetic_dataset, root, layout="mhd")
    return root


def _datalist_items(out):
    data = json.loads((out / "datalist.json").read_text())
    return data, [i for key in ("training", "validation", "test") for i in data.get(key, [])]


def test_fixture_is_in_camus_format(camus_nifti, camus_mhd, synthetic_dataset):
    # NIfTI as SimpleITK stores it: nibabel sees (W, H) for ED and (W, H, T) for the half sequence.
    folder = camus_nifti / "database_nifti" / "patient0001"
    ed = nib.load(folder / "patient0001_4CH_ED.nii.gz")
    seq = nib.load(folder / "patient0001_4CH_half_sequence_gt.nii.gz")
    assert ed.shape == (80, 80) and seq.ndim == 3
    assert set(np.unique(np.asarray(seq.dataobj))) <= {0, 1, 2, 3} and 2 in np.asarray(seq.dataobj)
    info = (folder / "Info_4CH.cfg").read_text()
    assert "ED: 1" in info and f"NbFrame: {seq.shape[2]}" in info
    assert (camus_nifti / "database_split" / "subgroup_testing.txt").read_text().split() == ["patient0003"]
    # MetaImage: DimSize W H 1 for ED, and a ground-truth-free "_sequence".
    meta = read_metaimage(camus_mhd / "training" / "patient0001" / "patient0001_2CH_ED_gt.mhd")
    assert meta.header["DimSize"] == "80 80 1" and meta.array.shape == (1, 80, 80)
    assert (camus_mhd / "training" / "patient0001" / "patient0001_4CH_sequence.raw").is_file()
    assert not list(camus_mhd.rglob("*_sequence_gt*"))


def test_nifti_layout_wall_masks_orientation_and_official_split(camus_nifti, synthetic_dataset, tmp_path,
                                                               tree_hashes, output_bytes):
    before = tree_hashes(camus_nifti)
    out = tmp_path / "out"
    report = prepare_camus(camus_nifti, out)
    data, items = _datalist_items(out)
    assert report["split_source"].startswith("official")
    assert {i["case"] for i in data["test"]} == {"patient0003"}
    assert {i["view"] for i in items} == {"A4C"}
    assert sorted({i["phase"] for i in items}) == ["ED", "ES", "half_sequence"]
    assert len(items) == 4 * 3 and report["n_skipped"] == 0

    for item in items:
        source = camus_nifti / "database_nifti" / item["case"] / f"{item['case']}_4CH_{item['phase']}"
        gt, _ = read_camus_image(f"{source}_gt.nii.gz")
        image, _ = read_camus_image(f"{source}.nii.gz")
        wall = read_nifti_cine(out / item["label"]).frames
        frames = read_nifti_cine(out / item["image"]).frames
        gt = gt[None] if gt.ndim == 2 else gt
        image = image[None] if image.ndim == 2 else image
        np.testing.assert_array_equal(wall, (gt == 2).astype(np.uint8))  # label 2 -> wall, nothing else
        np.testing.assert_array_equal(frames, image)
        assert wall.shape[0] == item["n_frames"]

    # Orientation end to end: the converted ED frame is the DICOM frame the generator drew, and the wall
    # is where the generator's truth says the LV wall is (not transposed or flipped).
    datalist = json.loads((synthetic_dataset / "datalist.json").read_text())
    clips = sorted((i for k in ("training", "validation", "test") for i in datalist[k] if i["view"] == "A4C"),
                   key=lambda i: i["case"])
    ed_item = next(i for i in items if i["case"] == "patient0001" and i["phase"] == "half_sequence")
    cine = read_echo_cine(synthetic_dataset / clips[0]["image"], grey=True, with_ecg=False)
    with np.load(synthetic_dataset / clips[0]["truth"]) as truth:
        anatomy = truth["anatomy"]
    converted = read_nifti_cine(out / ed_item["image"]).frames
    wall = read_nifti_cine(out / ed_item["label"]).frames
    match = [t for t in range(cine.num_frames) if np.array_equal(cine.frames[t], converted[0])]
    assert match, "the first half-sequence frame is not one of the clip's frames"
    np.testing.assert_array_equal(wall[0], (anatomy[match[0]] == 2).astype(np.uint8))
    assert ed_item["ed_frame"] == 0 and ed_item["es_frame"] == ed_item["n_frames"] - 1

    first = output_bytes(out)
    prepare_camus(camus_nifti, out)
    assert output_bytes(out) == first
    assert tree_hashes(camus_nifti) == before


def test_metaimage_layout_with_both_views_and_a_patient_split(camus_mhd, tmp_path, tree_hashes):
    before = tree_hashes(camus_mhd)
    out = tmp_path / "out"
    report = prepare_camus(camus_mhd / "training", out, views=("A4C", "A2C"), val_fraction=0.25,
                           test_fraction=0.25, seed=2)
    data, items = _datalist_items(out)
    assert report["input_layouts"] == ["metaimage"] and report["split_source"].startswith("seeded")
    assert {i["view"] for i in items} == {"A4C", "A2C"} and {i["phase"] for i in items} == {"ED", "ES"}
    cases = [{i["case"] for i in data[k]} for k in ("training", "validation", "test")]
    assert all(cases) and not (cases[0] & cases[1] or cases[0] & cases[2] or cases[1] & cases[2])
    # The old layout has no half-sequence ground truth: reported, not silently dropped.
    reasons = [s["reason"] for s in report["skipped"]]
    assert len(reasons) == 8 and all("no matching ground truth" in r for r in reasons)
    for item in items:
        code = "4CH" if item["view"] == "A4C" else "2CH"
        gt = read_metaimage(camus_mhd / "training" / item["case"] / f"{item['case']}_{code}_{item['phase']}_gt.mhd")
        np.testing.assert_array_equal(read_nifti_cine(out / item["label"]).frames, (gt.array == 2).astype(np.uint8))
    assert tree_hashes(camus_mhd) == before


def test_bad_ground_truth_is_reported_and_the_rest_converted(camus_nifti, tmp_path):
    import shutil

    root = tmp_path / "camus"
    shutil.copytree(camus_nifti, root)
    folder = root / "database_nifti" / "patient0002"
    gt_path = folder / "patient0002_4CH_ES_gt.nii.gz"
    img = nib.load(gt_path)
    data = np.asarray(img.dataobj).copy()
    data[0, 0] = 7
    nib.save(nib.Nifti1Image(data, img.affine), gt_path)
    (folder / "patient0002_4CH_ED_gt.nii.gz").unlink()
    info = root / "database_nifti" / "patient0004" / "Info_4CH.cfg"
    info.write_text(info.read_text().replace("NbFrame:", "NbFrame: 99\nOldNbFrame:"))
    out = tmp_path / "out"
    report = prepare_camus(root, out)
    reasons = {s["source"]: s["reason"] for s in report["skipped"]}
    # A frame count that disagrees with the info file is a caveat, not a reason to drop the sequence.
    assert [w["source"] for w in report["warnings"]] == [
        "database_nifti/patient0004/patient0004_4CH_half_sequence.nii.gz"]
    seq = next(i for i in _datalist_items(out)[1] if i["case"] == "patient0004" and i["phase"] == "half_sequence")
    assert "ed_frame" not in seq
    assert "outside CAMUS's 0..3" in reasons["database_nifti/patient0002/patient0002_4CH_ES_gt.nii.gz"]
    assert "no matching ground truth" in reasons["database_nifti/patient0002/patient0002_4CH_ED.nii.gz"]
    assert sum(report["n_items"].values()) == 4 * 3 - 2


def test_refusals(camus_nifti, tmp_path):
    with pytest.raises(EchoDataError, match="overlaps the input"):
        prepare_camus(camus_nifti, camus_nifti / "database_nifti" / "converted")
    with pytest.raises(EchoDataError, match="no CAMUS files"):
        (tmp_path / "empty").mkdir()
        prepare_camus(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(ValueError, match="views"):
        prepare_camus(camus_nifti, tmp_path / "out2", views=("PLAX",))
