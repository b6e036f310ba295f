"""No patient identifier leaves the pipeline: generator, data scripts, gating figures and the demo
(with training: bundle logs, TensorBoard events, checkpoints, evaluation reports).

The synthetic DICOM files carry fake identifiers on purpose (``fake_identifiers.json``); every output
derived from them — CSV, JSON, NIfTI headers and extensions, PNG metadata, NumPy archives, logs — is
searched for every spelling of them and must hold none.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image, PngImagePlugin

from echo_monai.testing.phi import find_identifiers, load_fake_identifiers

REPO = Path(__file__).resolve().parents[2]
FAKE = {"name": "ZZFAKEQUDAR^HUGO", "id": "SYN000055283", "birth_date": "19421212", "sex": "F",
        "accession": "SYNACC75023545", "institution": "Synthetic Hillcrest Hospital",
        "referring_physician": "ZZFAKEDOC^FRITZ"}


def _outputs(root: Path) -> list[Path]:
    """Every file under ``root`` except the synthetic DICOM inputs and the record of their fakes."""
    keep = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        is_input_dicom = path.suffix == ".dcm" and "dicom" in path.relative_to(root).parts
        if not is_input_dicom and path.name != "fake_identifiers.json":
            keep.append(path)
    return keep


def test_scanner_finds_identifiers_in_every_layer(tmp_path):
    # Without this, "no hits" below could mean a blind scanner.
    (tmp_path / "run.log").write_text("INFO loaded clip of Hugo Zzfakequdar\n")
    (tmp_path / "items.csv").write_text("image,born\nx.dcm,1942-12-12\n")
    img = nib.Nifti1Image(np.zeros((4, 4, 1, 2), np.uint8), np.eye(4))
    img.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"PatientID=SYN000055283"))
    nib.save(img, str(tmp_path / "cine.nii.gz"))
    info = PngImagePlugin.PngInfo()
    info.add_text("Title", "ZZFAKEQUDAR, HUGO", zip=True)
    Image.new("L", (8, 8)).save(tmp_path / "fig.png", pnginfo=info)
    np.savez_compressed(tmp_path / "truth.npz", who=np.array(["SYNACC75023545"]))
    ds = pydicom.Dataset()
    ds.InstitutionName = "Synthetic Hillcrest Hospital"
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian  # values compressed
    ds.file_meta.MediaStorageSOPClassUID = "1.2.3"
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    ds.save_as(tmp_path / "x.dcm", enforce_file_format=True)
    (tmp_path / "clean.txt").write_text("lines, 3194212120, HUGO alone, F, 0.1942121234 are not identifiers\n")

    hits = find_identifiers([tmp_path], FAKE)
    found = {(Path(h.path).name, h.field) for h in hits}
    assert {("run.log", "name"), ("items.csv", "birth_date"), ("cine.nii.gz", "id"), ("fig.png", "name"),
            ("truth.npz", "accession"), ("x.dcm", "institution")} <= found
    assert not any(Path(h.path).name == "clean.txt" for h in hits)


def _run_script(script, name: str, argv: list[str], log: Path) -> int:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = script(name).main(argv)
    with open(log, "a") as fh:
        fh.write(out.getvalue() + err.getvalue())
    return rc


def test_no_identifiers_in_data_script_outputs(tiny_dataset, script, tmp_path):
    ids = load_fake_identifiers(tiny_dataset / "fake_identifiers.json")
    dicoms = sorted((tiny_dataset / "dicom").rglob("*.dcm"))
    assert dicoms and find_identifiers(dicoms[:1], ids), "the inputs must carry the fakes, or the test is empty"
    work = tmp_path / "outputs"
    log = work / "logs" / "scripts.log"
    log.parent.mkdir(parents=True)
    assert _run_script(script, "prepare_view_dataset", ["--input", str(tiny_dataset / "datalist.json"),
                                                        "--out", str(work / "views")], log) == 0
    assert _run_script(script, "prepare_wall_dataset", ["--input", str(tiny_dataset), "--out", str(work / "wall"),
                                                        "--size", "48"], log) == 0
    cines = [p for p in dicoms if "ecg" not in p.name.lower()][:3]
    assert _run_script(script, "plot_gating", [*map(str, cines), "--out", str(work / "figures")], log) == 0
    outputs = _outputs(work) + _outputs(tiny_dataset)
    kinds = {p.name.split(".", 1)[-1] for p in outputs}
    assert {"json", "csv", "png", "nii.gz", "log", "npz"} <= kinds, kinds  # every kind of output was searched
    hits = find_identifiers(outputs, ids)
    assert not hits, "\n".join(f"{h.path} [{h.layer}]: {h.field} {h.value!r} in ...{h.context}..." for h in hits)


@pytest.mark.slow
def test_no_identifiers_in_the_quick_demo_with_training(tmp_path):
    # The demo as users run it, training included (about 100 s on 2 shared cores): the data and gating
    # outputs of `--no-train` plus what training writes — bundle logs, TensorBoard event files, checkpoints
    # (model.pt and the resume file last.pt, searched inside their zip members), evaluation CSV / JSON,
    # NIfTI masks, GIF overlays and PNG figures.
    out = tmp_path / "demo"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    run = subprocess.run([sys.executable, "-m", "echo_monai.demo", "--output-dir", str(out), "--quick"],
                         check=False, capture_output=True, text=True, env=env, timeout=900, cwd=tmp_path)
    (out / "demo.log").write_text(run.stdout + run.stderr)
    assert run.returncode == 0, run.stderr[-2000:]
    ids = load_fake_identifiers(out / "synthetic" / "fake_identifiers.json")
    outputs = _outputs(out)
    names = [p.name for p in outputs]
    assert any(p.suffix == ".png" for p in outputs) and "gating.json" in names
    assert {"model.pt", "last.pt", "metrics.csv", "metrics.json", "summary.json", "demo.log"} <= set(names)
    assert any(".tfevents." in n for n in names) and any(n.endswith(".nii.gz") for n in names)
    assert any(n.endswith(".gif") for n in names)
    hits = find_identifiers(outputs, ids)
    assert not hits, "\n".join(f"{h.path} [{h.layer}]: {h.field} {h.value!r} in ...{h.context}..." for h in hits)
    assert json.loads((out / "metrics" / "gating.json").read_text())
