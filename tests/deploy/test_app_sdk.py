"""The echo study app run through the MONAI Deploy App SDK (its own venv: .venv-deploy; see the app README)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

from echo_monai.testing.phi import find_identifiers, load_fake_identifiers

from .conftest import ROOT, read_json

pytestmark = pytest.mark.deploy
pytest.importorskip("monai.deploy", reason="MONAI Deploy App SDK not installed in this environment")


def test_sdk_app_matches_bundle_views_and_writes_seg(synthetic_study, exported_models, bundle_view_predictions,
                                                     tmp_path: Path) -> None:
    hd = pytest.importorskip("highdicom")
    dicom_dir, _ = synthetic_study
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "apps.echo_study_app", "-i", str(dicom_dir), "-o", str(out),
                           "--view-model", str(exported_models["view"]), "--wall-model", str(exported_models["wall"])],
                          check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = tmp_path / "app.log"
    log.write_text(proc.stdout + proc.stderr, encoding="utf-8")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Graph execution finished" in proc.stdout + proc.stderr  # it really ran as a Holoscan graph
    (study,) = [p for p in out.iterdir() if p.is_dir()]
    report = read_json(study / "report.json")
    views = {r["file"]: r["view"] for r in report["series"]}
    assert views == {clip: row["predicted_view"] for clip, row in bundle_view_predictions.items()}
    a4c = [r for r in report["series"] if r["view"] == "A4C"]
    assert a4c, "the synthetic study should have an A4C-classified cine for the wall branch"
    for row in a4c:
        seg_path = study / row["wall"]["seg_file"]
        seg = hd.seg.segread(seg_path)
        assert seg.get_segment_description(1).segment_label == "LV wall"
        assert [u[2] for u in seg.get_source_image_uids()] == [row["sop_instance_uid"]]
        ds = pydicom.dcmread(seg_path)
        frames = [f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedFrameNumber
                  for f in ds.PerFrameFunctionalGroupsSequence]
        assert len(frames) == row["wall"]["wall_frames"] and frames == sorted(frames)
        assert 1 <= frames[0] and frames[-1] <= row["n_frames"]
        assert (study / row["wall"]["overlay_file"]).is_file()
    assert (study / "report.csv").is_file() and (study / "wall_segments.csv").is_file()
    # no patient identifier of the inputs in any output or in the log (the SEGs are de-identified by default)
    ids = load_fake_identifiers(dicom_dir.parent / "fake_identifiers.json")
    assert find_identifiers([dicom_dir], ids), "the inputs must carry the fakes, or the scan proves nothing"
    outputs = sorted(p for p in out.rglob("*") if p.is_file())
    assert {p.suffix for p in outputs} >= {".json", ".csv", ".png", ".dcm"}
    hits = find_identifiers([*outputs, log], ids)
    assert not hits, "\n".join(f"{h.path} [{h.layer}]: {h.field} {h.value!r} in ...{h.context}..." for h in hits)
    assert all(pydicom.dcmread(p, stop_before_pixels=True).PatientIdentityRemoved == "YES"
               for p in outputs if p.suffix == ".dcm")
