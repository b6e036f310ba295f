import numpy as np
import pytest
import torch

from echo_monai.errors import EchoDataError
from echo_monai.transforms import GATING_META_KEY, LoadEchoCine, LoadEchoCined


@pytest.mark.parametrize("form", ["waveform", "burned_sweep", "none"])
def test_load_records_gating_source(gated_clips, form):
    path, truth = gated_clips[form]
    img = LoadEchoCine(grey=True, size=(64, 64))(path)
    assert tuple(img.shape) == (1, 80, 64, 64)
    assert img.dtype == torch.float32 and 0.0 <= float(img.min()) and float(img.max()) <= 1.0
    expected = {"waveform": "dicom_waveform", "burned_sweep": "burned_in", "none": "none"}[form]
    assert img.meta["ecg_source"] == expected
    gating = img.meta[GATING_META_KEY]
    assert gating.method.startswith("image_" if form == "none" else "ecg_")
    if form == "none":
        assert "no ECG waveform" in img.meta["gating_warnings"]
    # ED frames agree with the generator's truth within one frame (two for the image fallback).
    tol = 2 if form == "none" else 1
    err = [np.min(np.abs(gating.ed_frames - t)) for t in truth["ed_frames"] if len(gating.ed_frames)]
    assert err and max(err) <= tol


def test_rgb_output_and_dict_version(gated_clips):
    path, _ = gated_clips["burned_sweep"]
    d = LoadEchoCined(keys="image", grey=False, size=(48, 48))({"image": str(path), "label": 7})
    assert tuple(d["image"].shape) == (3, 80, 48, 48) and d["label"] == 7


def test_ecg_only_gating_without_ecg_fails_clearly(gated_clips):
    path, _ = gated_clips["none"]
    with pytest.raises(EchoDataError, match="no ECG waveform"):
        LoadEchoCine(gating_sources=("ecg",))(path)
    img = LoadEchoCine(gating_sources=("ecg",), allow_ungated=True)(path)
    assert img.meta["gating_method"] == "failed" and GATING_META_KEY not in img.meta


def test_not_a_cine(tmp_path):
    bad = tmp_path / "notes.dcm"
    bad.write_text("not dicom")
    with pytest.raises(EchoDataError, match="notes.dcm"):
        LoadEchoCine()(bad)
