"""echo_monai.utils.files: atomic writes and containment of datalist paths."""

from __future__ import annotations

import os

import pytest

from echo_monai.errors import EchoDataError
from echo_monai.utils.files import atomic_write, resolve_inside


def test_atomic_write_replaces_in_one_step_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "report.json"
    atomic_write(target, "old")
    atomic_write(target, b"new bytes")
    assert target.read_bytes() == b"new bytes"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.json"]


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "keep.txt"
    atomic_write(target, "intact")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)  # the OS failing mid-write, after the data went out
    with pytest.raises(OSError, match="No space"):
        atomic_write(target, "half-written replacement")
    assert target.read_text() == "intact"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_atomic_write_refuses_what_is_not_text_or_bytes(tmp_path):
    with pytest.raises(TypeError):
        atomic_write(tmp_path / "x.bin", 12345)  # bytes(12345) would be 12345 zero bytes
    assert not list(tmp_path.iterdir())


def test_resolve_inside_accepts_paths_below_the_root(tmp_path):
    (tmp_path / "a").mkdir()
    assert resolve_inside(tmp_path, "a/b.dcm") == (tmp_path / "a" / "b.dcm").resolve()
    assert resolve_inside(tmp_path, "a/../c.dcm") == (tmp_path / "c.dcm").resolve()
    assert resolve_inside(tmp_path, tmp_path / "a" / "x.dcm") == (tmp_path / "a" / "x.dcm").resolve()


@pytest.mark.parametrize("entry", ["../../etc/passwd", "/etc/passwd", "a/../../x.dcm", "", "a\x00b"])
def test_resolve_inside_refuses_escapes_naming_the_source(tmp_path, entry):
    with pytest.raises(EchoDataError) as info:
        resolve_inside(tmp_path, entry, source=tmp_path / "datalist.json")
    assert str(info.value).startswith("datalist.json: ")


def test_resolve_inside_follows_symbolic_links_out_of_the_root(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret.dcm").write_bytes(b"x")
    os.symlink(tmp_path / "secret.dcm", root / "link.dcm")
    with pytest.raises(EchoDataError, match="leaves the data root"):
        resolve_inside(root, "link.dcm")
