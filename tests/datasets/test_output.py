"""The converters' output folder: never overlaps an input, never takes over a user's folder, atomic."""

from __future__ import annotations

import json

import pytest

from echo_monai.datasets.output import MARKER_NAME, ConversionOutput
from echo_monai.errors import EchoDataError


def test_output_overlapping_the_input_is_refused(tmp_path):
    inp = tmp_path / "data"
    inp.mkdir()
    for out in (inp, inp / "converted", tmp_path):
        with pytest.raises(EchoDataError, match="overlaps the input"):
            ConversionOutput(out, inputs=[inp], tool="t")
    assert sorted(p.name for p in inp.iterdir()) == []


def test_a_foreign_non_empty_folder_is_refused_and_left_alone(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(EchoDataError, match="not empty"):
        ConversionOutput(out, inputs=[tmp_path / "in"], tool="t")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_a_folder_of_another_converter_is_refused(tmp_path):
    out = tmp_path / "out"
    ConversionOutput(out, inputs=[tmp_path / "in"], tool="a").finish({})
    with pytest.raises(EchoDataError, match="written by 'a'"):
        ConversionOutput(out, inputs=[tmp_path / "in"], tool="b")


def test_rerun_replaces_own_outputs_and_drops_stale_ones(tmp_path):
    out = tmp_path / "out"
    first = ConversionOutput(out, inputs=[tmp_path / "in"], tool="t")
    first.write_text("images/a.txt", "a")
    first.write_text("images/old/b.txt", "b")
    first.skip("x.dcm", "unreadable")
    first.warn("y.dcm", "no frame rate")
    report = first.finish({"n": 2})
    assert report["warnings"] == [{"source": "y.dcm", "reason": "no frame rate"}]
    assert report["n_skipped"] == 1 and report["skipped"] == [{"source": "x.dcm", "reason": "unreadable"}]
    assert (out / "skipped.csv").read_text() == "source,reason\nx.dcm,unreadable\n"

    second = ConversionOutput(out, inputs=[tmp_path / "in"], tool="t")
    second.write_text("images/a.txt", "A")
    second.finish({"n": 1})
    assert (out / "images" / "a.txt").read_text() == "A"
    assert not (out / "images" / "old").exists()  # stale file and its empty folder removed
    marker = json.loads((out / MARKER_NAME).read_text())
    assert marker["outputs"] == ["images/a.txt", "report.json", "skipped.csv"]
    assert json.loads((out / "report.json").read_text())["n_skipped"] == 0


def test_a_failed_write_leaves_neither_file_nor_temporary(tmp_path):
    out = ConversionOutput(tmp_path / "out", inputs=[tmp_path / "in"], tool="t")

    def broken(path):
        path.write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        out.write_with("images/x.nii.gz", broken)
    assert list((tmp_path / "out" / "images").iterdir()) == []
    with pytest.raises(ValueError, match="leaves the output folder"):
        out.write_text("../escape.txt", "x")
