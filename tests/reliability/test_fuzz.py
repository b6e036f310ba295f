"""Bounded fuzzing of the DICOM cine reader and the ECG chain (the long run is benchmarks/bench_fuzz.py).

Properties, for every generated input: only documented errors escape (EchoDataError / ECGError /
ValueError), each call ends within a deadline, and the process's peak resident memory grows by less than
a bound (a corrupt header must not make a reader allocate what it claims). Examples are derandomized so
that CI sees the same inputs on every run.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings

from echo_monai.errors import EchoDataError
from echo_monai.io.dicom_read import read_echo_cine
from echo_monai.testing.corpus import write_valid_cine
from echo_monai.testing.fuzz import (
    FuzzBudget,
    PropertyViolation,
    apply_tag_mutations,
    base_cine_bytes,
    check_dicom_bytes,
    check_ecg,
    dicom_byte_mutations,
    dicom_tag_mutations,
    ecg_inputs,
)

BUDGET = FuzzBudget(seconds=10.0, peak_mb=256.0)
FUZZ = settings(max_examples=300, deadline=timedelta(seconds=20), derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_WORKDIR = tempfile.mkdtemp(prefix="echo_fuzz_")


@FUZZ
@given(data=dicom_byte_mutations(base_cine_bytes()))
def test_dicom_reader_survives_mutated_bytes(data):
    check_dicom_bytes(data, _WORKDIR, BUDGET)


@FUZZ
@given(changes=dicom_tag_mutations())
def test_dicom_reader_survives_mutated_tag_values(changes):
    data = apply_tag_mutations(base_cine_bytes(), changes)
    if data is not None:
        check_dicom_bytes(data, _WORKDIR, BUDGET)


@settings(FUZZ, max_examples=300)
@given(inp=ecg_inputs())
def test_ecg_chain_survives_any_signal_and_rate(inp):
    signal, fs = inp
    check_ecg(signal, fs, BUDGET)


def test_the_fuzz_checks_can_fail():
    # A property check that never fires proves nothing: a non-documented exception must be reported.
    from echo_monai.testing.fuzz import _run_checked

    with pytest.raises(PropertyViolation, match="KeyError escaped"):
        _run_checked("probe", lambda: {}["missing"], BUDGET)
    with pytest.raises(PropertyViolation, match="MB"):
        _run_checked("probe", lambda: np.ones(64 * 2**20)[::4096].sum(), FuzzBudget(peak_mb=100.0))
    assert _run_checked("probe", lambda: (_ for _ in ()).throw(EchoDataError("x.dcm", "bad")), BUDGET) is None


# ---- findings of the fuzzing, pinned as single deterministic inputs (code owned elsewhere) ----


def test_multi_valued_number_of_frames_is_a_clear_error(tmp_path):
    path = write_valid_cine(tmp_path / "multi.dcm", n_frames=6, ecg=False, tag=21)
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = [6, 7]
    ds.save_as(path)
    with pytest.raises(EchoDataError, match="multi.dcm"):
        read_echo_cine(path)


def test_corrupt_value_representation_is_a_clear_error(tmp_path):
    path = write_valid_cine(tmp_path / "vr.dcm", n_frames=6, ecg=False, tag=22)
    raw = path.read_bytes()
    at = raw.index(b"\x08\x00\x70\x00LO")  # (0008,0070) Manufacturer, explicit VR little endian
    path.write_bytes(raw[:at + 4] + b"L\x83" + raw[at + 6:])
    with pytest.raises(EchoDataError, match="vr.dcm"):
        read_echo_cine(path)


def test_huge_number_of_frames_is_refused_before_allocating(tmp_path):
    path = write_valid_cine(tmp_path / "huge.dcm", n_frames=6, ecg=False, tag=23)
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = 2**31 - 1
    ds.save_as(path)
    # The check caps the address space while it reads, so this fails with MemoryError, not an OOM kill.
    check_dicom_bytes(path.read_bytes(), tmp_path, BUDGET)
