"""read_echo_cine: every storage the scanners use, timing, geometry, de-identified metadata, bad input."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.uid import JPEG2000Lossless

from echo_monai.errors import EchoDataError
from echo_monai.io.dicom_codes import US_IMAGE_STORAGE
from echo_monai.io.dicom_read import read_echo_cine
from echo_monai.io.dicom_write import write_ecg_waveform_dicom, write_echo_dicom
from echo_monai.io.frames import RESAMPLE
from echo_monai.io.types import EcgSignal, UltrasoundRegion

T, H, W = 4, 48, 64
TIMES = np.arange(T) * 20.0
FAKE = {"name": "FAKE^PERSON", "id": "FAKE-ID-77", "birth_date": "19610203", "sex": "M",
        "accession": "FAKE-ACC-9", "institution": "Fake General", "referring_physician": "FAKE^DOC"}


@pytest.fixture(scope="module")
def colour(echo_frames):
    return echo_frames(T, H, W, colour=True)


@pytest.fixture(scope="module")
def grey(echo_frames):
    return echo_frames(T, H, W, colour=False, seed=1)


@pytest.mark.parametrize("compression", ["none", "rle", "jpeg_lossless"])
def test_lossless_storages_read_exactly(tmp_path, grey, colour, compression):
    for frames in (grey, colour):
        cine = read_echo_cine(write_echo_dicom(tmp_path / "c.dcm", frames, TIMES, compression=compression))
        assert cine.frames.dtype == np.uint8
        np.testing.assert_array_equal(cine.frames, frames)
        np.testing.assert_allclose(cine.frame_times_ms, TIMES)


def test_monochrome1_palette_and_native_ybr(tmp_path, grey, colour):
    cine = read_echo_cine(write_echo_dicom(tmp_path / "m1.dcm", grey, TIMES, compression="none",
                                           photometric="MONOCHROME1"))
    np.testing.assert_array_equal(cine.frames, grey)  # inverted back: bright = echo

    palette = np.stack([np.arange(256), np.arange(256) // 2, 255 - np.arange(256)], axis=1).astype(np.uint8)
    cine = read_echo_cine(write_echo_dicom(tmp_path / "p.dcm", grey, TIMES, compression="rle",
                                           photometric="PALETTE COLOR", palette=palette))
    assert cine.frames.shape == (T, H, W, 3)
    np.testing.assert_array_equal(cine.frames, palette[grey])

    cine = read_echo_cine(write_echo_dicom(tmp_path / "y.dcm", colour, TIMES, compression="none",
                                           photometric="YBR_FULL"))
    assert np.abs(cine.frames.astype(int) - colour).max() <= 2  # one RGB->YBR->RGB rounding


def test_jpeg2000_and_jpeg_baseline(tmp_path, colour):
    path = write_echo_dicom(tmp_path / "n.dcm", colour, TIMES, compression="none")
    ds = pydicom.dcmread(path)
    ds.compress(JPEG2000Lossless)
    ds.save_as(tmp_path / "j2k.dcm")
    np.testing.assert_array_equal(read_echo_cine(tmp_path / "j2k.dcm").frames, colour)

    path = write_echo_dicom(tmp_path / "jpg.dcm", colour, TIMES, jpeg_quality=95)
    for fast in (True, False):
        cine = read_echo_cine(path, fast=fast)
        assert cine.frames.shape == (T, H, W, 3)
        assert np.abs(cine.frames.astype(int) - colour).mean() < 4.0


def test_real_ybr_cine_has_true_colours():
    """pydicom's SonoSite cine: YBR_FULL_422 JPEG, 30 frames 240x320; no double YBR conversion."""
    path = get_testdata_file("examples_ybr_color.dcm")
    ds = pydicom.dcmread(path)
    first = next(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=30))
    frame0 = np.asarray(Image.open(io.BytesIO(first)).convert("RGB"))
    for fast in (True, False):
        cine = read_echo_cine(path, fast=fast)
        assert cine.frames.shape == (30, 240, 320, 3)
        np.testing.assert_allclose(cine.frame_times_ms[:3], [0.0, 33.333, 66.666])
        # An independent decoder (Pillow/libjpeg YCbCr->RGB) agrees with the frame we return.
        assert np.abs(cine.frames[0].astype(int) - frame0).mean() < 1.0
        # The grey B-mode is neutral: converting YBR twice would push grey pixels strongly green.
        px = cine.frames.reshape(-1, 3).astype(int)
        bright = px[px.mean(axis=1) > 40]
        assert bright.shape[0] > 1000
        assert np.abs(bright[:, 1] - bright[:, 0]).mean() < 4 and np.abs(bright[:, 1] - bright[:, 2]).mean() < 4
    assert cine.spacing_mm == pytest.approx((0.5105, 0.5105), abs=1e-4)
    # This device writes region bounds past the 320x240 image; the scan region is clipped to it.
    assert cine.regions[0].x1 > 319 and cine.scan_region == (84, 31, 319, 239)
    assert cine.metadata["heart_rate_bpm"] is None  # HeartRate 0 means "not measured"


def test_frame_time_sources(tmp_path, grey):
    irregular = [0.0, 17.9, 53.7, 71.6]
    cine = read_echo_cine(write_echo_dicom(tmp_path / "i.dcm", grey, irregular))
    np.testing.assert_allclose(cine.frame_times_ms, irregular, atol=1e-9)

    path = write_echo_dicom(tmp_path / "r.dcm", grey, TIMES)
    ds = pydicom.dcmread(path)
    del ds.FrameTime
    ds.save_as(tmp_path / "rate.dcm")  # CineRate = RecommendedDisplayFrameRate = 50
    np.testing.assert_allclose(read_echo_cine(tmp_path / "rate.dcm").frame_times_ms, TIMES)
    del ds.CineRate
    ds.RecommendedDisplayFrameRate = 25
    ds.save_as(tmp_path / "rdfr.dcm")
    np.testing.assert_allclose(read_echo_cine(tmp_path / "rdfr.dcm").frame_times_ms, np.arange(T) * 40.0)
    del ds.RecommendedDisplayFrameRate
    ds.save_as(tmp_path / "none.dcm")
    with pytest.raises(EchoDataError, match="no frame timing"):
        read_echo_cine(tmp_path / "none.dcm")


def test_regions_spacing_and_resize(tmp_path, colour):
    trace = UltrasoundRegion(x0=0, y0=41, x1=63, y1=47, spatial_format=4, data_type=10, units_x=4, units_y=0,
                             delta_x=0.01, delta_y=0.0)
    path = write_echo_dicom(tmp_path / "c.dcm", colour, TIMES, spacing_mm=(0.3, 0.4), scan_region=(8, 2, 55, 39),
                            extra_regions=[trace], compression="rle")
    cine = read_echo_cine(path)
    assert cine.spacing_mm == pytest.approx((0.3, 0.4))
    assert cine.scan_region == (8, 2, 55, 39)
    assert [r.data_type for r in cine.regions] == [1, 10]
    assert cine.regions[1].delta_x == pytest.approx(0.01)

    half = read_echo_cine(path, size=(24, 32), grey=True)
    assert half.frames.shape == (T, 24, 32)
    assert half.spacing_mm == pytest.approx((0.6, 0.8))
    assert half.scan_region == (4, 1, 27, 19)
    assert half.regions[1].delta_x == pytest.approx(0.02)  # seconds per (now wider) pixel
    expected = np.asarray(Image.fromarray(colour[1]).convert("L").resize((32, 24), RESAMPLE))
    np.testing.assert_array_equal(half.frames[1], expected)


def test_metadata_carries_no_identifiers(tmp_path, grey):
    a = write_echo_dicom(tmp_path / "a.dcm", grey, TIMES, patient=FAKE, study_uid="1.2.826.0.1.3680043.9.1")
    b = write_echo_dicom(tmp_path / "b.dcm", grey, TIMES, patient=FAKE, study_uid="1.2.826.0.1.3680043.9.1")
    ma, mb = read_echo_cine(a).metadata, read_echo_cine(b).metadata
    text = repr(ma)
    for value in [*FAKE.values(), "1.2.826.0.1.3680043.9.1", "FAKE"]:
        if len(value) > 1:  # the sex code "M" is too short to search for in text
            assert value not in text
    assert not {"sex", "patient_sex", "birth_date", "accession"} & set(ma)
    assert ma["study_key"] == mb["study_key"] and ma["series_key"] != mb["series_key"]
    assert (ma["modality"], ma["n_frames"], ma["rows"], ma["columns"]) == ("US", T, H, W)
    assert ma["frame_rate_hz"] == pytest.approx(50.0)
    assert ma["transfer_syntax_uid"] == "1.2.840.10008.1.2.4.50"


def test_single_frame_image(tmp_path, colour):
    ds = pydicom.dcmread(write_echo_dicom(tmp_path / "c.dcm", colour[:1], [0.0], compression="none"))
    for keyword in ("NumberOfFrames", "FrameTime", "FrameIncrementPointer", "FrameDelay"):
        delattr(ds, keyword)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = US_IMAGE_STORAGE
    ds.save_as(tmp_path / "single.dcm")
    cine = read_echo_cine(tmp_path / "single.dcm", grey=True)
    assert cine.frames.shape == (1, H, W) and cine.frame_times_ms.tolist() == [0.0]


def test_ecg_found_in_and_beside_the_cine(tmp_path, grey):
    sig = np.sin(np.linspace(0, 20, 900, dtype=np.float32))[None]
    ecg = EcgSignal(signal=sig, fs=300.0, t0_ms=-450.5, channel_names=["II"])
    cine = read_echo_cine(write_echo_dicom(tmp_path / "in.dcm", grey, TIMES, ecg=ecg))
    assert cine.ecg.source == "dicom_waveform" and cine.ecg.t0_ms == -450.5

    folder = tmp_path / "study"
    path = write_echo_dicom(folder / "cine.dcm", grey, TIMES, r_wave_times_ms=[100.0, 900.0])
    write_ecg_waveform_dicom(folder / "ecg.dcm", ecg, path)
    assert read_echo_cine(path).ecg.source == "r_wave_time_vector"
    found = read_echo_cine(path, ecg_search_dir=folder).ecg
    assert found.source == "dicom_waveform_file" and found.t0_ms == pytest.approx(-450.5, abs=1e-9)
    assert found.r_times_ms.tolist() == [100.0, 900.0]
    assert read_echo_cine(path, with_ecg=False).ecg is None


# ---- bad input: each a clear EchoDataError naming the file ----

def test_missing_non_dicom_and_truncated_files(tmp_path, grey):
    with pytest.raises(EchoDataError, match="nothere.dcm: file not found"):
        read_echo_cine(tmp_path / "nothere.dcm")
    (tmp_path / "notes.dcm").write_text("this is not a DICOM file\n" * 20)
    with pytest.raises(EchoDataError, match="notes.dcm: not a DICOM file"):
        read_echo_cine(tmp_path / "notes.dcm")
    for compression in ("none", "jpeg_baseline"):
        data = write_echo_dicom(tmp_path / "whole.dcm", grey, TIMES, compression=compression).read_bytes()
        for cut in (200, len(data) - 700):
            (tmp_path / "cut.dcm").write_bytes(data[:cut])
            for fast in (True, False):
                with pytest.raises(EchoDataError, match="cut.dcm: .*(truncated|corrupt|cannot be decoded)"):
                    read_echo_cine(tmp_path / "cut.dcm", fast=fast)


def test_not_an_image_and_zero_frames(tmp_path, grey):
    with pytest.raises(EchoDataError, match="waveform_ecg.dcm: not an image"):
        read_echo_cine(get_testdata_file("waveform_ecg.dcm"))
    ds = pydicom.dcmread(write_echo_dicom(tmp_path / "c.dcm", grey, TIMES, compression="none"))
    ds.NumberOfFrames = 0
    ds.save_as(tmp_path / "zero.dcm")
    with pytest.raises(EchoDataError, match="zero.dcm: the image has zero frames"):
        read_echo_cine(tmp_path / "zero.dcm")


def test_unknown_transfer_syntax(tmp_path, grey):
    ds = pydicom.dcmread(write_echo_dicom(tmp_path / "c.dcm", grey, TIMES))
    ds.file_meta.TransferSyntaxUID = "1.2.826.0.1.3680043.9.9999.1"  # a private, unknown compression
    ds.save_as(tmp_path / "odd.dcm", implicit_vr=False, little_endian=True)
    with pytest.raises(EchoDataError, match="odd.dcm: no decoder for transfer syntax"):
        read_echo_cine(tmp_path / "odd.dcm")


def test_inconsistent_frame_time_vector(tmp_path, grey):
    ds = pydicom.dcmread(write_echo_dicom(tmp_path / "c.dcm", grey, [0.0, 17.9, 53.7, 71.6]))
    ds.FrameTimeVector = [0.0, 17.9, 35.8]
    ds.save_as(tmp_path / "short.dcm")
    with pytest.raises(EchoDataError, match="short.dcm: FrameTimeVector has 3 entries for 4 frames"):
        read_echo_cine(tmp_path / "short.dcm")
    ds.FrameTimeVector = [0.0, 17.9, -3.0, 17.9]
    ds.save_as(tmp_path / "neg.dcm")
    with pytest.raises(EchoDataError, match="neg.dcm: FrameTimeVector has non-positive"):
        read_echo_cine(tmp_path / "neg.dcm")


def test_waveform_without_channel_definitions(tmp_path, grey):
    ecg = EcgSignal(signal=np.zeros((1, 100), np.float32), fs=250.0, channel_names=["II"])
    ds = pydicom.dcmread(write_echo_dicom(tmp_path / "c.dcm", grey, TIMES, ecg=ecg))
    del ds.WaveformSequence[0].ChannelDefinitionSequence
    ds.save_as(tmp_path / "nochan.dcm")
    with pytest.raises(EchoDataError, match="nochan.dcm: waveform multiplex group 0 has no ChannelDefinition"):
        read_echo_cine(tmp_path / "nochan.dcm")
    assert read_echo_cine(tmp_path / "nochan.dcm", with_ecg=False).frames.shape == (T, H, W)


def test_file_cut_inside_its_sop_class_uid_is_called_truncated(tmp_path):
    # Random UIDs shift where a fixed-size cut lands; one landing inside SOPClassUID left a UID pydicom
    # does not know and the file was called "not an image" instead of truncated.
    from echo_monai.testing.corpus import write_valid_cine

    raw = write_valid_cine(tmp_path / "ok.dcm", n_frames=3).read_bytes()
    at = raw.index(b"1.2.840.10008.5.1.4.1.1.3.1", 200)  # the dataset's SOPClassUID (after the file meta)
    for cut in (at + 1, at + 5, at + 20):
        path = tmp_path / f"cut{cut}.dcm"
        path.write_bytes(raw[:cut])
        with pytest.raises(EchoDataError, match=f"cut{cut}.dcm: .*truncated"):
            read_echo_cine(path)
