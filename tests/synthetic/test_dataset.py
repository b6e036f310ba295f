"""make_dataset on disk: DICOM round trips in every ECG form and storage, datalist, determinism, safety."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread

from echo_monai.errors import EchoDataError
from echo_monai.io.dicom_read import read_echo_cine
from echo_monai.synthetic.anatomy import random_heart
from echo_monai.synthetic.cli import main as cli_main
from echo_monai.synthetic.dataset import make_dataset, write_clip
from echo_monai.synthetic.generator import ECG_FORMS, random_settings, render_clip
from echo_monai.views import VIEW_NAMES

SMALL = {"n_patients": 4, "clips_per_view": 1, "n_frames": 6, "size": (80, 96), "seed": 3, "workers": 1}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "ds"
    make_dataset(out, **SMALL)
    return out


def test_layout_and_datalist(dataset):
    datalist = json.loads((dataset / "datalist.json").read_text())
    items = [it for split in ("training", "validation", "test") for it in datalist[split]]
    assert len(items) == len(VIEW_NAMES)
    assert sorted(it["label"] for it in items) == list(range(len(VIEW_NAMES)))
    cases = {split: {it["case"] for it in datalist[split]} for split in datalist}
    assert not (cases["training"] & cases["validation"]) and not (cases["training"] & cases["test"])
    assert not (cases["validation"] & cases["test"])
    ids = json.loads((dataset / "fake_identifiers.json").read_text())
    for it in items:
        assert (dataset / it["image"]).is_file() and (dataset / it["truth"]).is_file()
        assert it["case"] not in {v["id"] for v in ids.values()}  # the key is not the fake PatientID
        assert VIEW_NAMES[it["label"]] == it["view"]
        assert it.get("has_wall_mask", False) == (it["view"] == "A4C")
        assert it["view"] not in it["image"]  # file names do not give the label away
    assert (dataset / "figures" / "views_ed_es.png").stat().st_size > 10_000
    assert "| A4C |" in (dataset / "README.md").read_text()


def test_dicom_matches_truth_and_carries_fake_identity(dataset):
    datalist = json.loads((dataset / "datalist.json").read_text())
    ids = json.loads((dataset / "fake_identifiers.json").read_text())
    for it in [i for s in datalist.values() for i in s]:
        cine = read_echo_cine(dataset / it["image"], ecg_search_dir=(dataset / it["image"]).parent)
        truth = np.load(dataset / it["truth"])
        assert cine.frames.shape[:3] == truth["anatomy"].shape
        np.testing.assert_allclose(cine.frame_times_ms, truth["frame_times_ms"], atol=1e-3)
        assert cine.spacing_mm == pytest.approx(tuple(truth["spacing_mm"]), rel=1e-4)
        assert int(truth["view_index"]) == it["label"]
        tissue = [r for r in cine.regions if r.data_type == 1]
        assert len(tissue) == 1 and tissue[0].spatial_format == 1  # one sector region
        rows = np.nonzero(truth["sector_mask"].any(axis=1))[0]
        apex_col = np.nonzero(truth["sector_mask"][rows[0]])[0].mean()
        assert abs(tissue[0].x0 + tissue[0].reference_pixel_x0 - apex_col) <= 2  # transducer = sector apex
        ds = dcmread(dataset / it["image"], stop_before_pixels=True)
        assert str(ds.PatientName) == ids[it["case"]]["name"] and ds.PatientName.family_name.startswith("ZZFAKE")
        if it["ecg_form"] == "waveform":
            assert cine.ecg is not None and cine.ecg.signal.shape[-1] == truth["ecg_mv"].shape[0]
            assert cine.ecg.t0_ms == pytest.approx(float(truth["ecg_t0_ms"]), abs=1.0)


@pytest.mark.parametrize("form", ECG_FORMS)
def test_every_ecg_form_and_storage_round_trips(tmp_path, form):
    settings = random_settings("A4C", np.random.default_rng(1), n_frames=5, size=(72, 88), ecg_form=form)
    settings = dataclasses.replace(settings, irregular_frames=form == "none")
    clip = render_clip(settings, random_heart(np.random.default_rng(2)))
    colour = clip.frames.ndim == 4
    storages = [("jpeg_baseline", "YBR_FULL_422"), ("none", "RGB")] if colour else [
        ("jpeg_baseline", "MONOCHROME2"), ("none", "MONOCHROME2"), ("none", "PALETTE COLOR"), ("rle", "MONOCHROME2"),
        ("jpeg_lossless", "MONOCHROME2")]
    for k, storage in enumerate(storages):
        path = tmp_path / f"c{k}.dcm"
        written = write_clip(clip, path, seed=0, case="case0000", clip_id=f"c{k}", patient={"name": "ZZFAKE^X"},
                             rng=np.random.default_rng(k), study_time=dt.datetime(2022, 1, 1),
                             storage=storage, separate_ecg=(k % 2 == 1))
        cine = read_echo_cine(path, ecg_search_dir=tmp_path)
        assert cine.frames.shape[0] == 5 and cine.frames.shape[1:3] == (72, 88)
        np.testing.assert_allclose(cine.frame_times_ms, clip.frame_times_ms, atol=1e-3)
        grey = cine.frames if cine.frames.ndim == 3 else cine.frames.mean(axis=-1)
        ref = clip.frames if clip.frames.ndim == 3 else clip.frames.mean(axis=-1)
        tol = 12 if storage[0] == "jpeg_baseline" else (40 if storage[1] == "PALETTE COLOR" else 0.5)
        assert np.abs(grey.astype(float) - ref).mean() < tol
        if form == "waveform":
            assert cine.ecg is not None and cine.ecg.signal.size > 0
            assert (written["ecg_file"] is not None) == (k % 2 == 1)
        elif form == "none":
            assert cine.ecg is None
        if form.startswith("burned"):
            assert any(r.data_type == 10 for r in cine.regions)  # the trace's ultrasound region


def test_deterministic_including_uids(tmp_path):
    kw = dict(SMALL, views=["A4C", "PLAX"], n_patients=2)
    make_dataset(tmp_path / "a", **kw, figure=False)
    make_dataset(tmp_path / "b", **kw, figure=False)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.dcm"))
    assert files
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    for rel in sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.npz")):
        a, b = np.load(tmp_path / "a" / rel), np.load(tmp_path / "b" / rel)
        assert a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files)
    c = tmp_path / "c"
    make_dataset(c, **dict(kw, seed=kw["seed"] + 1), figure=False)
    other = {p.read_bytes() for p in c.rglob("*.dcm")}
    assert other and not other & {(tmp_path / "a" / rel).read_bytes() for rel in files}


def test_refuses_a_folder_it_did_not_create(tmp_path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("precious")
    with pytest.raises(EchoDataError, match="not empty"):
        make_dataset(user, **SMALL)
    assert sorted(p.name for p in user.iterdir()) == ["notes.txt"]
    assert cli_main(["--out", str(user), "--patients", "2", "--clips-per-view", "1", "--frames", "4"]) == 2
    assert sorted(p.name for p in user.iterdir()) == ["notes.txt"]
