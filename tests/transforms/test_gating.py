from dataclasses import replace

import numpy as np
import pytest
import torch
from monai.data import DataLoader, Dataset
from monai.transforms import Compose

from echo_monai.errors import ECGError
from echo_monai.transforms import (
    CropCardiacCycles,
    CropCardiacCyclesd,
    LoadEchoCine,
    LoadEchoCined,
    RandCardiacCycled,
    RandSelectGatedFramed,
    SelectGatedFrames,
    SelectGatedFramesd,
    SelectPhaseFrames,
)


@pytest.fixture(scope="module")
def cine(gated_clips):
    return LoadEchoCine(grey=True, size=(48, 48))(gated_clips["waveform"][0])


def test_select_ed_es_frames(cine):
    gating = cine.meta["gating"]
    out = SelectGatedFrames("ed_es")(cine)
    assert out.shape[1] == len(gating.ed_frames) + len(gating.es_frames)
    first = int(np.min(np.r_[gating.ed_frames, gating.es_frames]))
    assert torch.equal(out[:, 0], cine[:, first])
    assert "gating" not in out.meta and out.meta["gating_method"] == "ecg_r_peak"


def test_ed_frames_as_samples_carry_frame_index(cine):
    samples = SelectGatedFramesd("image", phase="ed")({"image": cine, "label": 7})
    gating = cine.meta["gating"]
    assert [s["image"].meta["frame_index"] for s in samples] == list(gating.ed_frames)
    assert all(tuple(s["image"].shape) == (1, 48, 48) and s["label"] == 7 for s in samples)


def test_cycles_resampled_to_fixed_length(cine):
    gating = cine.meta["gating"]
    assert len(gating.cycles) >= 2  # 80 frames at 40 fps and 100 bpm: 2 s, 3.3 R-R intervals
    clips = CropCardiacCycles(num_frames=16)(cine)
    assert len(clips) == len(gating.cycles)
    for i, (clip, (start, _)) in enumerate(zip(clips, gating.cycles)):
        assert tuple(clip.shape) == (1, 16, 48, 48)
        assert clip.meta["cycle_index"] == i and clip.meta["cycle_source"] == "ecg_cycle"
        assert torch.allclose(clip[:, 0], cine[:, start])  # each cycle starts at its ED frame


def test_phase_frames_are_real_frames(cine):
    clips = SelectPhaseFrames(num_phases=4)(cine)
    for clip in clips:
        for k in range(4):
            assert any(torch.equal(clip[:, k], cine[:, t]) for t in range(cine.shape[1]))


def test_rand_cycle_is_seeded_and_keys_stay_aligned(cine):
    data = {"image": cine, "mask": cine.clone()}
    t = RandCardiacCycled(["image", "mask"], num_frames=8, phase_jitter=0.5).set_random_state(0)
    a = t(data)
    t.set_random_state(0)
    b = t(data)
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["image"], a["mask"])


def test_rand_frame_picks_an_ed_frame(cine):
    t = RandSelectGatedFramed("image", phase="es").set_random_state(1)
    out = t({"image": cine})["image"]
    assert out.meta["frame_index"] in set(cine.meta["gating"].es_frames.tolist())


def _failed_gating(cine):
    """``cine`` as the bundles see a clip whose gating failed (``EnsureGatingd`` after ``allow_ungated``)."""
    empty = np.zeros(0, dtype=np.int64)
    out = cine.clone()
    out.meta["gating"] = replace(cine.meta["gating"], ed_frames=empty, es_frames=empty, cycles=[], method="failed")
    return out


def test_ungated_clip_raises_or_gives_its_middle_frame(cine):
    ungated = _failed_gating(cine)
    with pytest.raises(ECGError, match="no ED frame"):
        SelectGatedFrames("ed")(ungated)
    samples = SelectGatedFramesd("image", phase="ed", ungated="middle")({"image": ungated})
    middle = cine.shape[1] // 2
    assert len(samples) == 1 and samples[0]["image"].meta["phase"] == "ungated"
    assert torch.equal(samples[0]["image"], cine[:, middle])
    rand = RandSelectGatedFramed("image", ungated="middle").set_random_state(0)({"image": ungated})["image"]
    assert rand.meta["frame_index"] == middle
    # a gated clip is unaffected by the option
    gated = SelectGatedFramesd("image", phase="ed", ungated="middle")({"image": cine})
    assert [s["image"].meta["frame_index"] for s in gated] == list(cine.meta["gating"].ed_frames)
    with pytest.raises(ValueError, match="ungated"):
        SelectGatedFrames(ungated="first")


def test_without_gating_clear_error():
    with pytest.raises(ECGError, match="LoadEchoCine"):
        SelectGatedFrames()(torch.zeros(1, 4, 8, 8))


def test_compose_dataset_dataloader_with_workers(gated_clips):
    items = [{"image": str(p), "label": i} for i, (p, _) in enumerate(gated_clips.values())]
    transform = Compose([
        LoadEchoCined("image", grey=True, size=(32, 32)),
        CropCardiacCyclesd("image", num_frames=8, max_cycles=1),
    ])
    loader = DataLoader(Dataset(items, transform), batch_size=3, num_workers=2)
    batch = next(iter(loader))
    assert tuple(batch["image"].shape) == (3, 1, 8, 32, 32)
    assert sorted(batch["image"].meta["ecg_source"]) == ["burned_in", "dicom_waveform", "none"]
