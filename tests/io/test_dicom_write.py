"""The DICOM writer produces real, standard-conformant echo files that pydicom itself reads back."""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pydicom
import pytest
from pydicom.encaps import parse_basic_offsets
from pydicom.filebase import DicomBytesIO
from pydicom.pixels import apply_color_lut

from echo_monai.io.dicom_codes import GENERAL_ECG_STORAGE, US_MULTIFRAME_STORAGE
from echo_monai.io.dicom_write import write_ecg_waveform_dicom, write_echo_dicom
from echo_monai.io.ecg_dicom import acquisition_datetime
from echo_monai.io.types import EcgSignal, UltrasoundRegion

T, H, W = 4, 40, 56
WHEN = dt.datetime(2024, 3, 1, 10, 20, 30, 123456)


@pytest.fixture(scope="module")
def grey() -> np.ndarray:
    # Smooth content so JPEG baseline errors stay small and meaningful.
    yy, xx = np.mgrid[:H, :W]
    return np.stack([((xx * 3 + yy * 2 + 20 * t) % 200 + 20) for t in range(T)]).astype(np.uint8)


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    yy, xx = np.mgrid[:H, :W]
    frames = [np.stack([xx * 4, yy * 5, np.full_like(xx, 60 * t)], axis=-1) for t in range(T)]
    return np.clip(frames, 0, 255).astype(np.uint8)


def _ecg(t0_ms: float) -> EcgSignal:
    t = np.arange(600) / 500.0
    sig = np.stack([np.sin(2 * np.pi * 1.2 * t), 0.5 * np.cos(2 * np.pi * 1.2 * t)]).astype(np.float32)
    return EcgSignal(signal=sig, fs=500.0, t0_ms=t0_ms, channel_names=["II", "V5"])


@pytest.mark.parametrize("compression", ["none", "rle", "jpeg_lossless"])
def test_lossless_round_trip(tmp_path, grey, rgb, compression):
    for frames, photometric in ((grey, "MONOCHROME2"), (rgb, "RGB")):
        path = write_echo_dicom(tmp_path / "c.dcm", frames, np.arange(T) * 20.0, compression=compression)
        ds = pydicom.dcmread(path)
        assert ds.SOPClassUID == US_MULTIFRAME_STORAGE
        assert ds.PhotometricInterpretation == photometric
        assert int(ds.NumberOfFrames) == T
        np.testing.assert_array_equal(ds.pixel_array, frames)


def test_jpeg_baseline_colour_is_ybr422_with_offset_table(tmp_path, rgb):
    path = write_echo_dicom(tmp_path / "c.dcm", rgb, np.arange(T) * 20.0, jpeg_quality=95)
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.JPEGBaseline8Bit
    assert ds.PhotometricInterpretation == "YBR_FULL_422"
    assert ds.LossyImageCompression == "01"
    arr = ds.pixel_array  # pydicom converts YBR to RGB
    assert arr.shape == (T, H, W, 3)
    assert np.abs(arr.astype(int) - rgb).mean() < 3.0
    # The Basic Offset Table points at each frame's first item.
    fp = DicomBytesIO(ds.PixelData)
    fp.is_little_endian = True
    offsets = parse_basic_offsets(fp)
    assert len(offsets) == T and offsets[0] == 0 and all(np.diff(offsets) > 0)
    frames = list(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=T))
    assert all(f.startswith(b"\xff\xd8") for f in frames)
    assert offsets[1] == len(frames[0]) + len(frames[0]) % 2 + 8


def test_monochrome1_and_palette(tmp_path, grey):
    ds = pydicom.dcmread(write_echo_dicom(tmp_path / "m1.dcm", grey, np.arange(T) * 20.0,
                                          compression="none", photometric="MONOCHROME1"))
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    np.testing.assert_array_equal(ds.pixel_array, 255 - grey)

    palette = np.stack([np.arange(256), 255 - np.arange(256), np.full(256, 7)], axis=1).astype(np.uint8)
    ds = pydicom.dcmread(write_echo_dicom(tmp_path / "p.dcm", grey, np.arange(T) * 20.0, compression="rle",
                                          photometric="PALETTE COLOR", palette=palette))
    assert ds.PhotometricInterpretation == "PALETTE COLOR"
    rgb16 = apply_color_lut(ds.pixel_array, ds)
    np.testing.assert_array_equal(rgb16 // 257, palette[grey])


def test_frame_timing_regular_and_irregular(tmp_path, grey):
    ds = pydicom.dcmread(write_echo_dicom(tmp_path / "r.dcm", grey, np.arange(T) * 20.0, heart_rate_bpm=72.4))
    assert float(ds.FrameTime) == 20.0 and ds.FrameIncrementPointer == 0x00181063
    assert "FrameTimeVector" not in ds
    assert int(ds.CineRate) == 50 and int(ds.RecommendedDisplayFrameRate) == 50 and int(ds.HeartRate) == 72

    times = [0.0, 17.9, 53.7, 71.6]
    ds = pydicom.dcmread(write_echo_dicom(tmp_path / "i.dcm", grey, times))
    assert ds.FrameIncrementPointer == 0x00181065 and "FrameTime" not in ds
    assert [float(v) for v in ds.FrameTimeVector] == [0.0, 17.9, 35.8, 17.9]


def test_regions_and_r_waves(tmp_path, grey):
    trace = UltrasoundRegion(x0=0, y0=30, x1=55, y1=39, spatial_format=4, data_type=10, units_x=4, units_y=0,
                             delta_x=0.00675, delta_y=0.0)
    path = write_echo_dicom(tmp_path / "c.dcm", grey, np.arange(T) * 20.0, spacing_mm=(0.25, 0.3),
                            scan_region=(5, 2, 50, 28), extra_regions=[trace], r_wave_times_ms=[12.5, 845.0])
    ds = pydicom.dcmread(path)
    tissue, ecg_region = ds.SequenceOfUltrasoundRegions
    assert (tissue.RegionLocationMinX0, tissue.RegionLocationMinY0) == (5, 2)
    assert (tissue.RegionLocationMaxX1, tissue.RegionLocationMaxY1) == (50, 28)
    assert (tissue.RegionSpatialFormat, tissue.RegionDataType, tissue.PhysicalUnitsXDirection) == (1, 1, 3)
    assert tissue.PhysicalDeltaY == pytest.approx(0.025) and tissue.PhysicalDeltaX == pytest.approx(0.03)
    assert (ecg_region.RegionDataType, ecg_region.RegionSpatialFormat, ecg_region.PhysicalUnitsXDirection) == (
        10, 4, 4)
    assert ecg_region.PhysicalDeltaX == pytest.approx(0.00675)
    assert list(ds.RWaveTimeVector) == [12.5, 845.0]


@pytest.mark.parametrize("t0_ms", [-312.5, 0.0, 41.75])
def test_embedded_ecg_and_synchronisation(tmp_path, grey, t0_ms):
    ecg = _ecg(t0_ms)
    ds = pydicom.dcmread(write_echo_dicom(tmp_path / "c.dcm", grey, np.arange(T) * 20.0, ecg=ecg,
                                          acquisition_datetime=WHEN))
    group = ds.WaveformSequence[0]
    assert group.NumberOfWaveformChannels == 2 and float(group.SamplingFrequency) == 500.0
    assert [c.ChannelSourceSequence[0].CodeValue for c in group.ChannelDefinitionSequence] == [
        "5.6.3-9-2", "5.6.3-9-7"]
    assert group.ChannelDefinitionSequence[0].ChannelSensitivityUnitsSequence[0].CodeValue == "mV"
    assert group.WaveformSampleInterpretation == "SS" and group.WaveformBitsAllocated == 16
    assert float(ds.FrameDelay) >= 0 and float(group.MultiplexGroupTimeOffset) >= 0
    # The documented convention gives back t0 exactly.
    assert float(group.MultiplexGroupTimeOffset) - float(ds.FrameDelay) == t0_ms
    signal = ds.waveform_array(0).T
    np.testing.assert_allclose(signal, ecg.signal, atol=0.0006)  # 1 uV per count


@pytest.mark.parametrize("t0_ms", [-1250.0, -0.0005, 333.3])
def test_separate_ecg_object(tmp_path, grey, t0_ms):
    cine = write_echo_dicom(tmp_path / "cine.dcm", grey, np.arange(T) * 20.0, acquisition_datetime=WHEN,
                            patient={"name": "FAKE^PATIENT", "id": "FAKE-001"})
    path = write_ecg_waveform_dicom(tmp_path / "ecg.dcm", _ecg(t0_ms), cine)
    c, e = pydicom.dcmread(cine), pydicom.dcmread(path)
    assert e.SOPClassUID == GENERAL_ECG_STORAGE and e.Modality == "ECG"
    assert e.StudyInstanceUID == c.StudyInstanceUID and e.SeriesInstanceUID != c.SeriesInstanceUID
    assert e.SynchronizationFrameOfReferenceUID == c.SynchronizationFrameOfReferenceUID
    assert e.PatientID == "FAKE-001"
    shift_ms = (acquisition_datetime(e) - acquisition_datetime(c)) / dt.timedelta(milliseconds=1)
    t0 = float(e.WaveformSequence[0].MultiplexGroupTimeOffset) + shift_ms - float(c.FrameDelay)
    assert t0 == pytest.approx(t0_ms, abs=1e-9)
    assert e.waveform_array(0).shape == (600, 2)


def test_patient_fields_and_extra_tags(tmp_path, grey):
    patient = {"name": "FAKE^ONE", "id": "FAKE-42", "birth_date": "19700101", "sex": "F",
               "accession": "ACC-FAKE", "institution": "Fake Hospital", "referring_physician": "DOC^FAKE"}
    ds = pydicom.dcmread(write_echo_dicom(tmp_path / "c.dcm", grey, np.arange(T) * 20.0, patient=patient,
                                          study_uid="1.2.3.4", extra_tags={"ManufacturerModelName": "X9"}))
    assert (ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex) == (
        "FAKE^ONE", "FAKE-42", "19700101", "F")
    assert (ds.AccessionNumber, ds.InstitutionName, ds.ReferringPhysicianName) == (
        "ACC-FAKE", "Fake Hospital", "DOC^FAKE")
    assert ds.StudyInstanceUID == "1.2.3.4" and ds.ManufacturerModelName == "X9"


def test_bad_arguments_write_nothing(tmp_path, grey, rgb):
    target = tmp_path / "out.dcm"
    with pytest.raises(ValueError, match="frame times"):
        write_echo_dicom(target, grey, [0, 10, 5, 30])
    with pytest.raises(ValueError, match="losslessly"):
        write_echo_dicom(target, grey, np.arange(T) * 20.0, photometric="PALETTE COLOR")
    with pytest.raises(ValueError, match="uint8"):
        write_echo_dicom(target, grey.astype(np.float32), np.arange(T) * 20.0)
    with pytest.raises(ValueError, match="RGB"):
        write_echo_dicom(target, rgb, np.arange(T) * 20.0, photometric="RGB")
    assert os.listdir(tmp_path) == []


def test_failed_write_keeps_the_existing_file(tmp_path, grey):
    target = write_echo_dicom(tmp_path / "keep.dcm", grey, np.arange(T) * 20.0)
    before = target.read_bytes()
    bad_ecg = EcgSignal(signal=np.full((1, 50), np.nan, dtype=np.float32), fs=250.0)
    with pytest.raises(ValueError, match="NaN"):
        write_echo_dicom(target, grey, np.arange(T) * 20.0, ecg=bad_ecg)
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.dcm"]  # no temporary file left behind


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (17, 33), (31, 29, 3), (8, 8)])
def test_lossless_jpeg_encoder_edge_cases(tmp_path, shape):
    """Odd sizes, single pixels and the largest differences (+-255) all decode back exactly."""
    rng = np.random.default_rng(sum(shape))
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    if shape == (8, 8):
        image = np.zeros(shape, dtype=np.uint8)
        image[::2] = 255  # row-to-row and pixel-to-pixel jumps of 255
        image[:, ::3] = 0
    frames = image[None]
    ds = pydicom.dcmread(write_echo_dicom(tmp_path / "c.dcm", frames, [0.0], compression="jpeg_lossless"))
    np.testing.assert_array_equal(ds.pixel_array.reshape(image.shape), image)
