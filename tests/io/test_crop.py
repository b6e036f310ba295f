"""Reading only part of each frame: ``read_echo_cine(crop=...)``, ``read_cine(crop=...)``, ``burned_in_ecg_area``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import tracemalloc

import numpy as np
import pytest

from echo_monai.ecg.gating import gate_cine
from echo_monai.errors import EchoDataError
from echo_monai.io.cine import read_cine
from echo_monai.io.dicom_read import burned_in_ecg_area, read_echo_cine
from echo_monai.io.dicom_write import write_echo_dicom
from echo_monai.io.types import UltrasoundRegion
from echo_monai.io.video import write_video
from echo_monai.synthetic.dataset import patient_heart, write_clip
from echo_monai.synthetic.generator import ClipSettings, render_clip
from echo_monai.synthetic.identity import fake_patient

TRACE = UltrasoundRegion(x0=10, y0=100, x1=149, y1=115, spatial_format=4, data_type=10, units_x=4, units_y=0,
                         delta_x=0.01, delta_y=0.0)
BOX = (10, 100, 149, 115)  # the trace region: inside the 120x160 frames, below the tissue region


@pytest.fixture(scope="module")
def colour_frames(echo_frames) -> np.ndarray:
    return echo_frames(6, 120, 160, colour=True, seed=4)


@pytest.fixture(scope="module", params=["jpeg_baseline", "rle", "none", "jpeg_lossless"])
def colour_dicom(request, tmp_path_factory, colour_frames):
    path = tmp_path_factory.mktemp("crop") / f"{request.param}.dcm"
    write_echo_dicom(path, colour_frames, np.arange(6) * 25.0, spacing_mm=(0.4, 0.4), scan_region=(20, 0, 139, 95),
                     extra_regions=[TRACE], compression=request.param)
    return path


@pytest.mark.parametrize("fast", [True, False])
def test_crop_equals_the_same_box_of_the_full_frames(colour_dicom, fast):
    full = read_echo_cine(colour_dicom, grey=False, fast=fast, with_ecg=False)
    cut = read_echo_cine(colour_dicom, grey=False, fast=fast, with_ecg=False, crop=BOX)
    x0, y0, x1, y1 = BOX
    np.testing.assert_array_equal(cut.frames, full.frames[:, y0:y1 + 1, x0:x1 + 1])
    assert cut.metadata["crop"] == BOX
    # Regions move into the cropped grid; the tissue region lies wholly above the crop, so no scan region.
    trace = next(r for r in cut.regions if r.data_type == 10)
    assert (trace.x0, trace.y0, trace.x1, trace.y1) == (0, 0, x1 - x0, y1 - y0)
    assert cut.scan_region is None and cut.spacing_mm == full.spacing_mm


def test_crop_in_grey_and_resized(colour_dicom):
    full = read_echo_cine(colour_dicom, grey=True, with_ecg=False)
    cut = read_echo_cine(colour_dicom, grey=True, with_ecg=False, crop=(0, 40, 159, 119))
    np.testing.assert_array_equal(cut.frames, full.frames[:, 40:])
    # Part of the tissue region stays: its top is clipped to the crop.
    assert cut.scan_region == (20, 0, 139, 95 - 40)
    small = read_echo_cine(colour_dicom, grey=True, with_ecg=False, crop=(0, 40, 159, 119), size=(40, 80))
    assert small.frames.shape == (6, 40, 80)
    assert small.spacing_mm == pytest.approx((0.4 * 2, 0.4 * 2))


def test_crop_is_clipped_to_the_image_and_checked(colour_dicom):
    cut = read_echo_cine(colour_dicom, grey=True, with_ecg=False, crop=(-5, 110, 500, 500))
    assert cut.metadata["crop"] == (0, 110, 159, 119) and cut.frames.shape == (6, 10, 160)
    with pytest.raises(EchoDataError, match="outside the 120x160 image"):
        read_echo_cine(colour_dicom, with_ecg=False, crop=(200, 0, 300, 10))
    with pytest.raises(ValueError, match="inclusive pixel bounds"):
        read_echo_cine(colour_dicom, with_ecg=False, crop=(1, 2, 3))


@pytest.mark.parametrize("fast", [True, False])
def test_crop_never_holds_the_full_colour_cine(tmp_path, echo_frames, fast):
    frames = echo_frames(24, 120, 160, colour=True, seed=1)
    path = write_echo_dicom(tmp_path / "long.dcm", frames, np.arange(24) * 25.0, compression="jpeg_baseline")
    full_bytes = frames.nbytes
    del frames

    def peak_bytes(crop):
        tracemalloc.start()
        try:
            cine = read_echo_cine(path, grey=False, fast=fast, with_ecg=False, crop=crop)
            return cine.frames.shape, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    full_shape, full_peak = peak_bytes(None)
    cut_shape, cut_peak = peak_bytes((0, 100, 159, 119))
    assert full_shape == (24, 120, 160, 3) and cut_shape == (24, 20, 160, 3)
    # numpy reports its buffers to tracemalloc. Both reads hold the same file data; the cropped one holds one
    # stored frame at a time instead of all of them (decoding whole and cutting afterwards would save nothing).
    assert full_peak - cut_peak > 0.6 * full_bytes, (full_peak, cut_peak, full_bytes)


def test_burned_in_ecg_area():
    tissue = UltrasoundRegion(x0=20, y0=0, x1=139, y1=95, spatial_format=1, data_type=1, units_x=3, units_y=3,
                              delta_x=0.04, delta_y=0.04)
    assert burned_in_ecg_area([tissue, TRACE], (120, 160)) == BOX
    wide = dataclasses.replace(TRACE, x0=-4, x1=400)  # device screen bounds past the columns
    assert burned_in_ecg_area([wide], (120, 160)) == (0, 100, 159, 115)
    # No trace region: the lower half, or from the end of the tissue region when that is higher.
    assert burned_in_ecg_area([tissue], (120, 160)) == (0, 60, 159, 119)
    assert burned_in_ecg_area([dataclasses.replace(tissue, y1=40)], (120, 160)) == (0, 41, 159, 119)
    assert burned_in_ecg_area([], (120, 160)) == (0, 60, 159, 119)


def test_read_cine_crops_a_video_by_rule(tmp_path, colour_frames):
    path = write_video(tmp_path / "clip.avi", colour_frames, fps=40.0)
    full = read_cine(path, grey=False)
    cut = read_cine(path, grey=False, crop=burned_in_ecg_area)
    np.testing.assert_array_equal(cut.frames, full.frames[:, 60:])
    assert cut.metadata["crop"] == (0, 60, 159, 119)


@pytest.mark.parametrize("form", ["burned_sweep", "burned_review"])
@pytest.mark.parametrize("with_trace_region", [True, False])
def test_gating_from_the_burned_in_area_matches_the_full_frames(tmp_path, form, with_trace_region):
    settings = ClipSettings(view="A4C", n_frames=60, height=160, width=160, fps=40.0, heart_rate_bpm=100.0,
                            ecg_form=form, seed=3)
    clip = render_clip(settings, patient_heart(3, 0))
    if not with_trace_region:  # the trace must then be searched for in the lower part of the image
        clip = dataclasses.replace(clip, trace_region=None)
    rng = np.random.default_rng(3)
    path = tmp_path / "clip.dcm"
    write_clip(clip, path, seed=3, case="case0000", clip_id="A4C", rng=rng, patient=fake_patient(rng, 0),
               study_time=dt.datetime(2024, 1, 1, 9, 0), storage=("jpeg_baseline", "YBR_FULL_422"),
               separate_ecg=False)
    cine = read_cine(path, grey=True, with_ecg=False)
    whole = gate_cine(cine, colour_cine=lambda: read_cine(path, grey=False, with_ecg=False))
    part = gate_cine(cine, colour_cine=lambda: read_cine(path, grey=False, with_ecg=False, crop=burned_in_ecg_area))
    assert part.ecg_source == whole.ecg_source == "burned_in"
    np.testing.assert_array_equal(part.ed_frames, whole.ed_frames)
    np.testing.assert_allclose(part.r_times_ms, whole.r_times_ms)
    assert max(np.min(np.abs(part.ed_frames - t)) for t in clip.ed_frames if 0 < t < 59) <= 1
