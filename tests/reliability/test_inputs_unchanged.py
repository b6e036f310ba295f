"""Data scripts never modify their inputs, write only under their output folder, and repeat exactly."""

from __future__ import annotations

import contextlib
import hashlib
import io
from pathlib import Path

import pytest


def _tree_hashes(root: Path) -> dict[str, str]:
    """{relative path: sha256 of the bytes} for every file, plus each file's mode and mtime."""
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        st = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        out[path.relative_to(root).as_posix()] = f"{digest} {st.st_mode:o} {st.st_mtime_ns}"
    return out


def _content_hashes(root: Path) -> dict[str, str]:
    return {k: v.split()[0] for k, v in _tree_hashes(root).items()}


def _quiet(script, name: str, argv: list[str]) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return script(name).main(argv)


RUNS = {
    "prepare_view_dataset": lambda data, out: ["--input", str(data / "datalist.json"), "--out", str(out)],
    "prepare_wall_dataset": lambda data, out: ["--input", str(data), "--out", str(out), "--size", "48"],
}


@pytest.mark.parametrize("name", list(RUNS))
def test_script_leaves_inputs_alone_and_repeats_exactly(tiny_dataset, script, tmp_path, name):
    before = _tree_hashes(tiny_dataset)
    siblings_before = sorted(p.name for p in tiny_dataset.parent.iterdir())
    first, second = tmp_path / "run1", tmp_path / "run2"
    assert _quiet(script, name, RUNS[name](tiny_dataset, first)) == 0
    assert _quiet(script, name, RUNS[name](tiny_dataset, second)) == 0
    assert _tree_hashes(tiny_dataset) == before, "an input file was changed, added or removed"
    assert sorted(p.name for p in tiny_dataset.parent.iterdir()) == siblings_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run1", "run2"]  # nothing beside the outputs
    one, two = _content_hashes(first), _content_hashes(second)
    assert one and one == two, "two runs on the same input differ"
    # A re-run into its own earlier output gives the same bytes again and leaves nothing stale.
    assert _quiet(script, name, RUNS[name](tiny_dataset, first)) == 0
    assert _content_hashes(first) == one


def test_plot_gating_writes_only_its_figures(tiny_dataset, script, tmp_path):
    before = _tree_hashes(tiny_dataset)
    cines = sorted(p for p in (tiny_dataset / "dicom").rglob("*.dcm") if "ecg" not in p.name.lower())[:2]
    out = tmp_path / "figs"
    assert _quiet(script, "plot_gating", [*map(str, cines), "--out", str(out)]) == 0
    assert _tree_hashes(tiny_dataset) == before
    written = {p.name for p in out.glob("*.png")}
    assert written and written <= {f"{c.name}_gating.png" for c in cines}  # a clip that cannot be gated is skipped
    assert {p.name for p in out.iterdir()} - written == {"skipped.csv", "report.json", ".echo_monai_output.json"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figs"]


def test_output_inside_the_input_is_refused(tiny_dataset, script, tmp_path):
    before = _tree_hashes(tiny_dataset)
    rc = _quiet(script, "prepare_view_dataset", ["--input", str(tiny_dataset / "datalist.json"),
                                                 "--out", str(tiny_dataset / "derived")])
    assert rc == 2
    assert _tree_hashes(tiny_dataset) == before
