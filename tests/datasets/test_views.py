"""prepare_view_dataset on real files: DICOM written by the io writer, AVI by OpenCV, the generator's datalist."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from echo_monai.datasets.views import prepare_view_dataset, resolve_view_folder
from echo_monai.errors import EchoDataError
from echo_monai.io.dicom_write import write_echo_dicom
from echo_monai.views import VIEW_NAMES

SALT = "test-salt"


def _fake_patient(p: int) -> dict[str, str]:
    return {"name": f"Fakeperson^Patient{p:02d}", "id": f"FAKE-MRN-{p:05d}", "birth_date": "19600101",
            "institution": "Fake General Hospital"}


def _frames(seed: int, n: int = 3, size: int = 24) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, size=(n, size, size), dtype=np.uint8)


def _dicom(path: Path, patient: int, seed: int) -> None:
    write_echo_dicom(path, _frames(seed), np.arange(3) * 20.0, compression="none", patient=_fake_patient(patient))


@pytest.fixture()
def view_tree(tmp_path: Path) -> Path:
    """8 patients, folders 'A4C', 'plax', 'psax_mid' (names as sites write them), plus bad entries."""
    root = tmp_path / "site"
    seed = 0
    for folder, patients in (("A4C", range(8)), ("plax", range(8)), ("psax_mid", range(0, 8, 2))):
        for p in patients:
            for clip in range(2 if folder == "A4C" else 1):
                seed += 1
                # Named as PACS exports name them: no extension, or a UID.
                name = f"IM_{clip:04d}" if clip == 0 else f"1.2.826.0.1.3680043.{p}.{seed}"
                _dicom(root / folder / f"p{p}" / name, p, seed)
    (root / "A4C" / "notes.txt").write_text("acquired on the night shift")
    good = (root / "A4C" / "p0" / "IM_0000").read_bytes()
    (root / "A4C" / "p0" / "truncated.dcm").write_bytes(good[:400])
    (root / "stray.dcm").write_bytes(good)
    return root


def test_patient_disjoint_split_without_identifiers_and_with_a_skip_report(view_tree, tmp_path, tree_hashes,
                                                                          output_bytes):
    before = tree_hashes(view_tree)
    out = tmp_path / "out"
    report = prepare_view_dataset(view_tree, out, salt=SALT, val_fraction=0.25, test_fraction=0.25, seed=1)

    datalist = json.loads((out / "datalist.json").read_text())
    cases = {name: {i["case"] for i in datalist[name]} for name in ("training", "validation", "test")}
    assert all(cases.values())
    assert not cases["training"] & cases["validation"] and not cases["training"] & cases["test"]
    assert not cases["validation"] & cases["test"]
    items = [i for name in cases for i in datalist[name]]
    assert len(items) == 8 * 2 + 8 + 4
    assert {(i["view"], i["label"]) for i in items} == {("A4C", 7), ("PLAX", 0), ("PSAX-mid", 3)}
    assert all((view_tree / i["image"]).is_file() and i["n_frames"] == 3 for i in items)
    # All clips of one patient (one PatientID) share one key, across views.
    by_folder = {}
    for i in items:
        by_folder.setdefault(i["image"].split("/")[1], set()).add(i["case"])
    assert all(len(keys) == 1 for keys in by_folder.values()) and len(by_folder) == 8

    # No identifier from the DICOM headers anywhere in the output.
    text = b"".join(output_bytes(out).values())
    for p in range(8):
        for value in _fake_patient(p).values():
            if value != "19600101":
                assert value.encode() not in text
        assert f"{p:05d}".encode() not in text

    with open(out / "skipped.csv", newline="") as fh:
        skipped = {row["source"]: row["reason"] for row in csv.DictReader(fh)}
    assert skipped["stray.dcm"] == "not inside a view folder"
    assert "not a DICOM" in skipped["A4C/notes.txt"]
    assert "truncated" in skipped["A4C/p0/truncated.dcm"]
    assert report["n_skipped"] == 3
    assert set(report["empty_views"]) == set(VIEW_NAMES) - {"A4C", "PLAX", "PSAX-mid"}
    assert tree_hashes(view_tree) == before  # inputs untouched


def test_rerun_gives_identical_bytes(view_tree, tmp_path, output_bytes):
    out = tmp_path / "out"
    prepare_view_dataset(view_tree, out, salt=SALT, folds=3, seed=4)
    first = output_bytes(out)
    prepare_view_dataset(view_tree, out, salt=SALT, folds=3, seed=4)
    assert output_bytes(out) == first


def test_folds_group_patients(view_tree, tmp_path):
    out = tmp_path / "out"
    report = prepare_view_dataset(view_tree, out, salt=SALT, test_fraction=0.2, folds=3, seed=0)
    datalist = json.loads((out / "datalist.json").read_text())
    assert "validation" not in datalist
    fold_of: dict[str, set[int]] = {}
    for item in datalist["training"]:
        fold_of.setdefault(item["case"], set()).add(item["fold"])
    assert all(len(f) == 1 for f in fold_of.values())
    assert {f for fs in fold_of.values() for f in fs} == {0, 1, 2}
    assert not set(fold_of) & {i["case"] for i in datalist["test"]}
    assert sum(report["patients_per_fold"].values()) == len(fold_of)


def test_a_folder_that_is_not_a_view_fails_before_writing(view_tree, tmp_path):
    (view_tree / "Apical 4 chamber").mkdir()
    (view_tree / "misc").mkdir()
    out = tmp_path / "out"
    with pytest.raises(EchoDataError) as err:
        prepare_view_dataset(view_tree, out, salt=SALT)
    message = str(err.value)
    assert "'Apical 4 chamber'" in message and "'misc'" in message
    assert all(name in message for name in VIEW_NAMES)
    assert not out.exists()


def test_mapping_file_maps_and_ignores_site_folders(tmp_path):
    root = tmp_path / "site"
    for folder, p in (("4CH", 1), ("LAX", 2), ("LAX", 3), ("4ch", 4), ("junk", 5)):
        _dicom(root / folder / f"clip{p}.dcm", p, p)
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"4CH": "a4c", "LAX": "PLAX", "JUNK": None}))
    out = tmp_path / "out"
    report = prepare_view_dataset(root, out, mapping=mapping, salt=SALT, val_fraction=0, test_fraction=0)
    items = json.loads((out / "datalist.json").read_text())["training"]
    assert sorted((i["image"], i["view"]) for i in items) == [
        ("4CH/clip1.dcm", "A4C"), ("4ch/clip4.dcm", "A4C"), ("LAX/clip2.dcm", "PLAX"), ("LAX/clip3.dcm", "PLAX")]
    assert report["ignored_folders"] == ["junk"]

    mapping.write_text(json.dumps({"4CH": "apical four", "LAX": "PLAX"}))
    with pytest.raises(EchoDataError, match="unknown view names"):
        prepare_view_dataset(root, tmp_path / "out2", mapping=mapping, salt=SALT)
    assert not (tmp_path / "out2").exists()


def test_view_folder_names_are_matched_loosely():
    assert resolve_view_folder("psax_MID") == "PSAX-mid"
    assert resolve_view_folder("Psax Apical") == "PSAX-apical"
    assert resolve_view_folder("subcostal") == "Subcostal"
    with pytest.raises(ValueError, match="valid names"):
        resolve_view_folder("4 chamber")


def test_refusals_output_in_input_missing_salt_and_bad_fractions(view_tree):
    with pytest.raises(EchoDataError, match="overlaps the input"):
        prepare_view_dataset(view_tree, view_tree / "out", salt=SALT)
    with pytest.raises(ValueError, match="salt"):
        prepare_view_dataset(view_tree, view_tree.parent / "out", salt=None)
    with pytest.raises(ValueError, match="fractions"):
        prepare_view_dataset(view_tree, view_tree.parent / "out", salt=SALT, val_fraction=0.5, test_fraction=0.5)
    assert not (view_tree / "out").exists() and not (view_tree.parent / "out").exists()


def test_command_line_front_end(view_tree, tmp_path, load_script, capsys):
    main = load_script("prepare_view_dataset").main
    out = tmp_path / "cli_out"
    assert main(["--input", str(view_tree), "--out", str(out), "--salt", SALT, "--no-decode-check"]) == 0
    assert "items per split" in capsys.readouterr().out and (out / "datalist.json").is_file()
    assert main(["--input", str(view_tree), "--out", str(view_tree / "inside"), "--salt", SALT]) == 2
    assert "overlaps the input" in capsys.readouterr().err


def test_synthetic_datalist_input_is_resplit_by_case(synthetic_dataset, tmp_path, tree_hashes, output_bytes):
    before = tree_hashes(synthetic_dataset)
    out = tmp_path / "out"
    report = prepare_view_dataset(synthetic_dataset / "datalist.json", out, test_fraction=0.25, folds=3, seed=5)
    datalist = json.loads((out / "datalist.json").read_text())
    items = datalist["training"] + datalist["test"]
    assert len(items) == 12 and report["n_skipped"] == 0
    assert {i["case"] for i in items} == {"case0000", "case0001", "case0002", "case0003"}
    assert not {i["case"] for i in datalist["training"]} & {i["case"] for i in datalist["test"]}
    for item in items:
        assert (synthetic_dataset / item["image"]).is_file() and (synthetic_dataset / item["truth"]).is_file()
        assert VIEW_NAMES[item["label"]] == item["view"] and item["n_frames"] == 20
    # The generator's fake identifiers (in every DICOM header) never reach the output.
    fake = json.loads((synthetic_dataset / "fake_identifiers.json").read_text())
    text = b"".join(output_bytes(out).values())
    for identifiers in fake.values():
        for key in ("name", "id", "accession", "institution", "referring_physician"):
            assert identifiers[key].encode() not in text
    assert tree_hashes(synthetic_dataset) == before
    with pytest.raises(ValueError, match="apply to folder trees"):
        prepare_view_dataset(synthetic_dataset / "datalist.json", tmp_path / "out2", patient_regex="p")


def test_videos_and_nifti_take_the_patient_from_a_regex_and_bad_files_are_reported(tmp_path):
    from echo_monai.io.dicom_write import write_ecg_waveform_dicom
    from echo_monai.io.nifti import write_nifti_cine
    from echo_monai.io.types import EcgSignal
    from echo_monai.io.video import write_video

    root = tmp_path / "site"
    for name, seed in (("p01_a.avi", 1), ("p01_b.avi", 2), ("p02_a.avi", 3)):
        write_video(root / "A4C" / name, _frames(seed, n=4, size=32), 25.0)
    write_nifti_cine(root / "PLAX" / "p01_c.nii.gz", _frames(4, n=4, size=32), frame_time_ms=20.0)
    write_video(root / "PLAX" / "clip_without_id.avi", _frames(5, n=4, size=32), 25.0)
    (root / "A4C" / "p03_garbage.avi").write_bytes(b"RIFF" + bytes(200))
    _dicom(root / "PLAX" / "p04_cine.dcm", 4, 6)
    ecg = EcgSignal(signal=np.zeros((1, 500), dtype=np.float32), fs=500.0, channel_names=["II"])
    write_ecg_waveform_dicom(root / "PLAX" / "p04_ecg.dcm", ecg, root / "PLAX" / "p04_cine.dcm")

    without = prepare_view_dataset(root, tmp_path / "no_regex", salt=SALT, val_fraction=0, test_fraction=0)
    reasons = {s["source"]: s["reason"] for s in without["skipped"]}
    assert "pass --patient-regex" in reasons["A4C/p01_a.avi"] and "pass --patient-regex" in reasons["PLAX/p01_c.nii.gz"]
    assert without["n_items"]["training"] == 1  # only the DICOM cine has a PatientID

    report = prepare_view_dataset(root, tmp_path / "out", salt=SALT, patient_regex=r"^(?P<patient>p\d+)_",
                                  val_fraction=0, test_fraction=0)
    items = {i["image"]: i for i in json.loads((tmp_path / "out" / "datalist.json").read_text())["training"]}
    assert sorted(items) == ["A4C/p01_a.avi", "A4C/p01_b.avi", "A4C/p02_a.avi", "PLAX/p01_c.nii.gz",
                             "PLAX/p04_cine.dcm"]
    assert items["A4C/p01_a.avi"]["case"] == items["A4C/p01_b.avi"]["case"] == items["PLAX/p01_c.nii.gz"]["case"]
    assert items["A4C/p01_a.avi"]["case"] != items["A4C/p02_a.avi"]["case"]
    assert items["A4C/p01_a.avi"]["frame_rate_hz"] == pytest.approx(25.0) and items["A4C/p01_a.avi"]["n_frames"] == 4
    reasons = {s["source"]: s["reason"] for s in report["skipped"]}
    assert "does not match" in reasons["PLAX/clip_without_id.avi"]
    assert "not a video" in reasons["A4C/p03_garbage.avi"]
    assert "no pixel data" in reasons["PLAX/p04_ecg.dcm"] or "not an image" in reasons["PLAX/p04_ecg.dcm"]
