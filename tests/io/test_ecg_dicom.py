"""read_dicom_ecg on a real 12-lead ECG, our own waveforms, separate objects, R-wave times and Curve data."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from echo_monai.errors import EchoDataError
from echo_monai.io.dicom_write import write_ecg_waveform_dicom, write_echo_dicom
from echo_monai.io.ecg_dicom import find_ecg_file, read_dicom_ecg
from echo_monai.io.types import EcgSignal

T = 4
TIMES = np.arange(T) * 25.0
FRAMES = np.zeros((T, 16, 16), dtype=np.uint8)


def _ecg(t0_ms: float, fs: float = 250.0) -> EcgSignal:
    t = np.arange(int(2 * fs)) / fs
    return EcgSignal(signal=(1.1 * np.sin(2 * np.pi * 1.3 * t)).astype(np.float32)[None], fs=fs, t0_ms=t0_ms,
                     channel_names=["II"])


def test_real_twelve_lead_ecg():
    ds = pydicom.dcmread(get_testdata_file("waveform_ecg.dcm"))
    ecg = read_dicom_ecg(ds)
    assert ecg.signal.shape == (12, 10000) and ecg.fs == 1000.0  # the RHYTHM group, not the median beat
    assert ecg.channel_names == ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    # The file stores microvolts; we return millivolts.
    np.testing.assert_allclose(ecg.signal, ds.waveform_array(0).T / 1000.0, rtol=1e-6, atol=1e-7)
    assert 0.2 < np.abs(ecg.signal[1]).max() < 5.0


@pytest.mark.parametrize("t0_ms", [-733.25, 0.0, 12.5])
def test_waveform_inside_cine_round_trips(tmp_path, t0_ms):
    ecg = _ecg(t0_ms)
    ds = pydicom.dcmread(write_echo_dicom(tmp_path / "c.dcm", FRAMES, TIMES, ecg=ecg))
    got = read_dicom_ecg(ds, tmp_path / "c.dcm")
    assert got.source == "dicom_waveform" and got.channel_names == ["II"] and got.fs == 250.0
    assert got.t0_ms == t0_ms
    np.testing.assert_allclose(got.signal, ecg.signal, atol=0.0006)


def test_ecg_group_chosen_among_other_waveforms(tmp_path):
    ds = pydicom.dcmread(write_echo_dicom(tmp_path / "c.dcm", FRAMES, TIMES, ecg=_ecg(-40.0)))
    resp = Dataset()  # a longer respiration group listed first: must not be taken for the ECG
    resp.MultiplexGroupLabel = "RESP"
    resp.MultiplexGroupTimeOffset = "0"
    resp.WaveformOriginality = "ORIGINAL"
    resp.NumberOfWaveformChannels = 1
    resp.NumberOfWaveformSamples = 2000
    resp.SamplingFrequency = "100"
    channel = Dataset()
    source = Dataset()
    source.CodeValue, source.CodingSchemeDesignator, source.CodeMeaning = "RESP", "99TEST", "Respiration"
    channel.ChannelSourceSequence = [source]
    channel.ChannelSensitivity, channel.ChannelSensitivityCorrectionFactor = "1", "1"
    channel.ChannelBaseline, channel.ChannelSampleSkew, channel.WaveformBitsStored = "0", "0", 16
    resp.ChannelDefinitionSequence = [channel]
    resp.WaveformBitsAllocated, resp.WaveformSampleInterpretation = 16, "SS"
    resp.WaveformData = np.zeros(2000, "<i2").tobytes()
    ds.WaveformSequence.insert(0, resp)
    got = read_dicom_ecg(ds)
    assert got.channel_names == ["II"] and got.signal.shape == (1, 500) and got.t0_ms == -40.0


def test_separate_ecg_object_matched_by_study_and_sync(tmp_path):
    folder = tmp_path / "export"
    cine = write_echo_dicom(folder / "cine.dcm", FRAMES, TIMES, study_uid="1.2.826.0.1.3680043.9.7")
    write_ecg_waveform_dicom(folder / "ecg_right.dcm", _ecg(-250.0), cine)
    # Decoys: another study, and the same study with another synchronisation frame of reference.
    other = write_echo_dicom(tmp_path / "other.dcm", FRAMES, TIMES, study_uid="1.2.826.0.1.3680043.9.8")
    write_ecg_waveform_dicom(folder / "ecg_other_study.dcm", _ecg(0.0), other)
    unsynced = write_echo_dicom(tmp_path / "unsynced.dcm", FRAMES, TIMES, study_uid="1.2.826.0.1.3680043.9.7")
    write_ecg_waveform_dicom(folder / "a_ecg_unsynced.dcm", _ecg(0.0), unsynced)
    (folder / "readme.txt").write_text("not DICOM")

    ds = pydicom.dcmread(cine)
    assert find_ecg_file(ds, folder).name == "ecg_right.dcm"
    got = read_dicom_ecg(ds, cine, search_dir=folder)
    assert got.source == "dicom_waveform_file" and got.t0_ms == pytest.approx(-250.0, abs=1e-9)
    assert read_dicom_ecg(ds, cine) is None  # nothing in the cine itself, no folder to search


def test_ecg_search_sees_files_added_later(tmp_path):
    folder = tmp_path / "study"
    first = write_echo_dicom(folder / "a.dcm", FRAMES, TIMES, study_uid="1.2.826.0.1.3680043.9.21")
    write_ecg_waveform_dicom(folder / "a_ecg.dcm", _ecg(-10.0), first)
    assert find_ecg_file(pydicom.dcmread(first), folder).name == "a_ecg.dcm"
    second = write_echo_dicom(folder / "b.dcm", FRAMES, TIMES, study_uid="1.2.826.0.1.3680043.9.22")
    assert find_ecg_file(pydicom.dcmread(second), folder) is None
    write_ecg_waveform_dicom(folder / "b_ecg.dcm", _ecg(-20.0), second)  # immediately after the scan
    assert find_ecg_file(pydicom.dcmread(second), folder).name == "b_ecg.dcm"
    with pytest.raises(EchoDataError, match="missing: ECG search folder not found"):
        find_ecg_file(pydicom.dcmread(second), tmp_path / "missing")


def test_r_wave_time_vector_only(tmp_path):
    ds = pydicom.dcmread(write_echo_dicom(tmp_path / "c.dcm", FRAMES, TIMES, r_wave_times_ms=[40.0, 870.5]))
    got = read_dicom_ecg(ds)
    assert got.source == "r_wave_time_vector" and got.fs == 0 and got.signal.shape == (0, 0)
    assert got.r_times_ms.tolist() == [40.0, 870.5]
    assert got.times_ms.size == 0


def test_retired_curve_data(tmp_path):
    ds = pydicom.dcmread(write_echo_dicom(tmp_path / "c.dcm", FRAMES, TIMES))
    values = (300 * np.sin(np.arange(400) / 20.0)).astype("<i2")
    ds.add_new(0x50000005, "US", 1)  # CurveDimensions
    ds.add_new(0x50000010, "US", values.size)  # NumberOfPoints
    ds.add_new(0x50000020, "CS", "ECG")  # TypeOfData
    ds.add_new(0x50000103, "US", 1)  # DataValueRepresentation: signed short
    ds.add_new(0x50000114, "DS", "-120")  # CoordinateStartValue, ms
    ds.add_new(0x50000116, "DS", "4")  # CoordinateStepValue, ms per sample
    ds.add_new(0x50003000, "OW", values.tobytes())
    ds.save_as(tmp_path / "curve.dcm")
    got = read_dicom_ecg(pydicom.dcmread(tmp_path / "curve.dcm"))
    assert got.source == "curve" and got.fs == 250.0 and got.t0_ms == -120.0
    np.testing.assert_array_equal(got.signal[0], values.astype(np.float32))

    pairs = np.stack([np.arange(100) * 2.0 + 10.0, np.cos(np.arange(100) / 5.0)], axis=1).astype("<f4")
    ds2 = pydicom.dcmread(write_echo_dicom(tmp_path / "c2.dcm", FRAMES, TIMES))
    ds2.add_new(0x50020005, "US", 2)
    ds2.add_new(0x50020010, "US", 100)
    ds2.add_new(0x50020103, "US", 2)  # float
    ds2.add_new(0x50023000, "OB", pairs.tobytes())
    got = read_dicom_ecg(ds2)
    assert got.fs == pytest.approx(500.0) and got.t0_ms == 10.0
    np.testing.assert_allclose(got.signal[0], pairs[:, 1])

    ds2[0x50020005].value = 1  # a 1-D curve needs a time step, and this one has none
    with pytest.raises(EchoDataError, match="no CoordinateStepValue"):
        read_dicom_ecg(ds2, tmp_path / "c2.dcm")


def test_missing_channel_definitions_is_a_clear_error(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("waveform_ecg.dcm"))
    del ds.WaveformSequence[0].ChannelDefinitionSequence
    del ds.WaveformSequence[1].ChannelDefinitionSequence
    with pytest.raises(EchoDataError, match="ecg.dcm: waveform multiplex group 0 has no ChannelDefinitionSequence"):
        read_dicom_ecg(ds, "ecg.dcm")
