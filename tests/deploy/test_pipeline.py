"""The SDK-free pipeline of the echo study app on a synthetic study."""

from __future__ import annotations

import contextlib
import csv
import io
import logging
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch

from apps.echo_study_app.__main__ import main as app_main
from apps.echo_study_app.pipeline import (
    ExportedModel,
    classify_view,
    find_cine_series,
    run_study,
    segment_wall,
    study_folder_name,
    write_wall_seg,
)
from echo_monai.errors import EchoDataError
from echo_monai.testing.phi import find_identifiers, load_fake_identifiers

from .conftest import read_json, run_view_bundle


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def test_find_cine_series_lists_cines_and_skips_other_files(synthetic_study, tmp_path: Path) -> None:
    dicom_dir, datalist = synthetic_study
    cines, skipped = find_cine_series(dicom_dir)
    n_clips = sum(len(v) for v in datalist.values())
    assert len(cines) == n_clips
    assert all(c.n_frames == 32 for c in cines)
    assert ("case0000/notes.txt", "not a DICOM file") in skipped
    with pytest.raises(EchoDataError, match="no ultrasound multi-frame cine"):
        find_cine_series(tmp_path)


def test_wrong_model_task_is_refused(exported_models) -> None:
    with pytest.raises(EchoDataError, match="'wall' model was given where a 'view' model"):
        ExportedModel(exported_models["wall"], "view")


@pytest.mark.slow
def test_run_study_matches_bundle_and_writes_reports(synthetic_study, exported_models, bundle_view_predictions,
                                                     tmp_path: Path) -> None:
    dicom_dir, _ = synthetic_study
    reports = run_study(dicom_dir, tmp_path, ExportedModel(exported_models["view"], "view"),
                        ExportedModel(exported_models["wall"], "wall"), wall_views=("A4C",))
    assert len(reports) == 1
    folder = tmp_path / next(iter(reports))
    report = read_json(folder / "report.json")
    rows = {r["file"]: r for r in report["series"]}
    # the bundle names clips by their path relative to its dataset_dir, the same folder here
    assert set(rows) == set(bundle_view_predictions)
    for clip, bundle_row in bundle_view_predictions.items():
        assert rows[clip]["view"] == bundle_row["predicted_view"], clip
        assert rows[clip]["probability"] == pytest.approx(float(bundle_row["probability"]), abs=1e-4)
        assert rows[clip]["ecg_source"] == bundle_row["ecg_source"]
    assert len({r["view"] for r in rows.values()}) > 1  # the fitted model tells clips apart
    sources = {r["ecg_source"] for r in rows.values()}
    assert {"dicom_waveform", "burned_in"} <= sources
    with open(folder / "report.csv", newline="") as fh:
        csv_rows = list(csv.DictReader(fh))
    assert [r["view"] for r in csv_rows] == [r["view"] for r in report["series"]]
    for row in report["series"]:
        if row["view"] != "A4C":
            assert "wall" not in row
            continue
        wall = row["wall"]
        assert len(wall["segments"]) == 6 or wall["problem"]
        seg = pydicom.dcmread(folder / wall["seg_file"])
        assert seg.NumberOfFrames == wall["wall_frames"]
        ref = seg.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0].SourceImageSequence[0]
        assert ref.ReferencedSOPInstanceUID == row["sop_instance_uid"]
        assert (folder / wall["overlay_file"]).stat().st_size > 0
    text = (folder / "report.json").read_text() + (folder / "report.csv").read_text()
    assert "ZZFAKE" not in text and "SYN0" not in text  # no patient name or ID in the reports


@pytest.mark.slow
def test_bundle_onnx_inference_matches_torch(synthetic_study, exported_models, bundle_view_predictions,
                                             tmp_path: Path) -> None:
    onnx_rows = run_view_bundle(synthetic_study[0], exported_models["ckpt_dir"], tmp_path,
                                onnx=exported_models["view_onnx"])
    assert set(onnx_rows) == set(bundle_view_predictions)
    for clip, row in bundle_view_predictions.items():
        assert onnx_rows[clip]["predicted_view"] == row["predicted_view"]
        assert float(onnx_rows[clip]["probability"]) == pytest.approx(float(row["probability"]), abs=1e-4)


def test_wall_seg_references_source_frames(synthetic_study, tmp_path: Path) -> None:
    import highdicom as hd

    cines, _ = find_cine_series(synthetic_study[0])
    cine = cines[0]
    src = pydicom.dcmread(cine.path, stop_before_pixels=True)
    masks = np.zeros((cine.n_frames, int(src.Rows), int(src.Columns)), dtype=bool)
    kept = [2, 3, 10, 31]
    for i, t in enumerate(kept):
        masks[t, 5 + i:20, 8:30 + i] = True
    path = write_wall_seg(cine.path, masks, tmp_path / "seg.dcm")
    seg = pydicom.dcmread(path)
    assert seg.Modality == "SEG" and seg.SegmentationType == "BINARY" and seg.NumberOfFrames == len(kept)
    frames = [f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedFrameNumber
              for f in seg.PerFrameFunctionalGroupsSequence]
    assert frames == [t + 1 for t in kept]
    np.testing.assert_array_equal(seg.pixel_array.astype(bool), masks[kept])
    read = hd.seg.segread(path)
    assert read.get_segment_description(1).segment_label == "LV wall"
    assert [u[2] for u in read.get_source_image_uids()] == [cine.sop_instance_uid]
    # de-identified by default: same study, no patient; "source" copies the patient and study modules
    assert seg.StudyInstanceUID == src.StudyInstanceUID
    assert seg.PatientID == seg.PatientName == study_folder_name(cine.study_uid)
    assert (seg.PatientBirthDate, seg.AccessionNumber, seg.ReferringPhysicianName, seg.StudyDate) == ("",) * 4
    assert seg.PatientIdentityRemoved == "YES" and "UIDs retained" in seg.DeidentificationMethod
    assert all(len(v) <= 64 for v in seg.DeidentificationMethod)  # LO
    copied = pydicom.dcmread(write_wall_seg(cine.path, masks, tmp_path / "source.dcm", patient="source"))
    assert (copied.PatientID, copied.PatientName, copied.PatientBirthDate, copied.AccessionNumber) == (
        src.PatientID, src.PatientName, src.PatientBirthDate, src.AccessionNumber)
    assert "PatientIdentityRemoved" not in copied and src.PatientID
    with pytest.raises(ValueError, match="choose from"):
        write_wall_seg(cine.path, masks, tmp_path / "x.dcm", patient="pseudonymised")
    with pytest.raises(EchoDataError, match="does not match the cine"):
        write_wall_seg(cine.path, masks[:, :10], tmp_path / "bad.dcm")
    with pytest.raises(EchoDataError, match="empty in every frame"):
        write_wall_seg(cine.path, np.zeros_like(masks), tmp_path / "empty.dcm")
    assert not (tmp_path / "bad.dcm").exists() and not (tmp_path / "empty.dcm").exists()


def test_study_folder_name_hides_the_uid() -> None:
    name = study_folder_name("1.2.826.0.1.3680043.8.498.1")
    assert name.startswith("study_") and "1.2.826" not in name and name == study_folder_name("1.2.826.0.1.3680043.8.498.1")


def test_app_outputs_carry_no_patient_identifier(synthetic_study, exported_models, tmp_path: Path) -> None:
    """The SDK-free app on a study whose DICOMs carry the generator's fake identifiers: none of them is in
    any output (reports, CSV, PNG, DICOM SEG patient and study modules, the run's log)."""
    dicom_dir, _ = synthetic_study
    ids = load_fake_identifiers(dicom_dir.parent / "fake_identifiers.json")
    assert find_identifiers([dicom_dir], ids), "the inputs must carry the fakes, or the test is empty"
    args = ["--no-sdk", "-i", str(dicom_dir), "--view-model", str(exported_models["view"]),
            "--wall-model", str(exported_models["wall"])]
    out, log = tmp_path / "out", tmp_path / "app.log"
    handler = logging.FileHandler(log)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            assert app_main([*args, "-o", str(out)]) == 0
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(printed.getvalue())
    outputs = sorted(p for p in out.rglob("*") if p.is_file())
    assert {p.suffix for p in outputs} >= {".json", ".csv", ".png", ".dcm"}
    hits = find_identifiers([*outputs, log], ids)
    assert not hits, "\n".join(f"{h.path} [{h.layer}]: {h.field} {h.value!r} in ...{h.context}..." for h in hits)
    for seg in (p for p in outputs if p.suffix == ".dcm"):
        assert pydicom.dcmread(seg, stop_before_pixels=True).PatientIdentityRemoved == "YES"
    # the scan sees into the SEG: the same run with the patient copied is caught
    with contextlib.redirect_stdout(io.StringIO()):
        assert app_main([*args, "-o", str(tmp_path / "copied"), "--seg-patient", "source"]) == 0
    leaked = find_identifiers([tmp_path / "copied"], ids)
    assert leaked and {Path(h.path).suffix for h in leaked} == {".dcm"}


def test_wall_step_reuses_the_view_gating(synthetic_study, exported_models) -> None:
    """Gating once (view step) gives the wall step the same ED/ES, masks and ECG source as gating again."""
    dicom_dir, datalist = synthetic_study
    view, wall = ExportedModel(exported_models["view"], "view"), ExportedModel(exported_models["wall"], "wall")
    a4c = [i for v in datalist.values() for i in v if i["view"] == "A4C"]
    sources = set()
    for item in a4c:
        path = dicom_dir.parent / item["image"]
        gating = classify_view(path, view).gating
        assert gating is not None
        reused, again = segment_wall(path, wall, gating=gating), segment_wall(path, wall)
        assert (reused.regional.ed_frame, reused.regional.es_frame, reused.regional.timing, reused.ecg_source) == (
            again.regional.ed_frame, again.regional.es_frame, again.regional.timing, again.ecg_source)
        np.testing.assert_array_equal(reused.masks, again.masks)
        sources.add(again.ecg_source)
    assert sources - {"none"}, "no A4C cine was gated from an ECG: the comparison would be empty"
