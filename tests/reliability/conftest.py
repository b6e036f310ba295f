"""Shared fixtures of the reliability tests: the bad-input corpus and a tiny synthetic dataset."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from echo_monai.testing.corpus import BadCase, make_bad_corpus

REPO = Path(__file__).resolve().parents[2]


def load_script(name: str) -> ModuleType:
    """A ``data_scripts/<name>.py`` front end as a module, so its ``main(argv)`` runs in this process."""
    spec = importlib.util.spec_from_file_location(f"data_scripts_{name}", REPO / "data_scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BadCase]:
    """The bad-input corpus, written once per session: ``{case name: BadCase}``."""
    cases = make_bad_corpus(tmp_path_factory.mktemp("bad_corpus"))
    return {c.name: c for c in cases}


@pytest.fixture(scope="session")
def script() -> Callable[[str], ModuleType]:
    return load_script


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic dataset small enough for the fast suite: 3 views x 1 clip, 2 patients, 20 frames, 64 px.

    Its DICOM files carry fake patient identifiers (``fake_identifiers.json``).
    """
    from echo_monai.synthetic.dataset import make_dataset

    out = tmp_path_factory.mktemp("tiny_synthetic") / "synthetic"
    make_dataset(out, n_patients=2, clips_per_view=1, n_frames=20, size=64, seed=3,
                 views=("A4C", "PLAX", "A2C"), workers=1, figure=True)
    return out
