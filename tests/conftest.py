"""Shared fixtures. Tests use real files: DICOM written by pydicom, NIfTI by nibabel."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Keep the 2-core CI machine responsive: one intra-op thread per test process.
os.environ.setdefault("OMP_NUM_THREADS", "2")

SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"
MITBIH_DIR = SHARED_DIR / "data" / "mitbih-dev"


@pytest.fixture(scope="session")
def mitbih_dir() -> Path:
    if not (MITBIH_DIR / "100.hea").exists():
        pytest.skip(f"MIT-BIH development records not found at {MITBIH_DIR}")
    return MITBIH_DIR
