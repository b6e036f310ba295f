"""Shared fixtures of the converter tests: a tiny synthetic dataset and file-tree fingerprints."""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory) -> Path:
    """4 patients x one clip each of A4C, A2C and PLAX, 20 frames of 80x80: small, but real DICOM and truth."""
    from echo_monai.synthetic.dataset import make_dataset

    out = tmp_path_factory.mktemp("synthetic") / "dataset"
    # Clip j of every view belongs to patient j % n_patients: 4 clips per view, one per patient.
    make_dataset(out, n_patients=4, clips_per_view=4, n_frames=20, size=(80, 80), seed=7,
                 views=["A4C", "A2C", "PLAX"], workers=1, figure=False)
    return out


def _tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _output_bytes(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def tree_hashes() -> Callable[[Path], dict[str, str]]:
    """SHA-256 of every file below a folder (to prove that a converter left its input untouched)."""
    return _tree_hashes


@pytest.fixture(scope="session")
def output_bytes() -> Callable[[Path], dict[str, bytes]]:
    """Every file below a folder with its bytes (to prove that a re-run writes the same output)."""
    return _output_bytes


@pytest.fixture(scope="session")
def load_script() -> Callable[[str], ModuleType]:
    """Import ``data_scripts/<name>.py`` (not a package) so a test can call its ``main(argv)`` in-process."""
    scripts = Path(__file__).resolve().parents[2] / "data_scripts"

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(f"data_scripts_{name}", scripts / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
