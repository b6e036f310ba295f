"""Frame-wise transforms: paired random frames, every frame as a sample, 2D+t channel stacks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from echo_monai.errors import EchoDataError
from echo_monai.networks import stack_neighbour_frames
from echo_monai.transforms.frames import (
    FRAME_INDEX_META_KEY,
    RandFrame,
    RandFramed,
    SplitFrames,
    SplitFramesd,
    StackFrames,
    StackFramesd,
)


def _cine(n_frames: int = 7, channels: int = 1, size: int = 5, offset: float = 0.0) -> MetaTensor:
    """(C, T, H, W) whose frame t holds the value t + offset everywhere, with frame times in meta."""
    values = torch.arange(n_frames, dtype=torch.float32)[None, :, None, None] + offset
    data = values.expand(channels, n_frames, size, size).clone()
    return MetaTensor(data, meta={"filename_or_obj": "clip.nii.gz", "frame_times_ms": np.arange(n_frames) * 20.0,
                                  "spacing_mm": (0.5, 0.5)})


def test_rand_framed_pairs_image_and_mask_on_the_same_frame():
    transform = RandFramed(["image", "label"], num_samples=6).set_random_state(seed=3)
    out = transform({"image": _cine(), "label": _cine(offset=100.0), "case": "p1"})
    assert len(out) == 6
    drawn = []
    for sample in out:
        assert sample["image"].shape == (1, 5, 5)
        t = int(sample["image"][0, 0, 0])
        assert int(sample["label"][0, 0, 0]) == t + 100
        assert sample["image"].meta[FRAME_INDEX_META_KEY] == t == sample["label"].meta[FRAME_INDEX_META_KEY]
        assert sample["image"].meta["frame_time_ms"] == pytest.approx(20.0 * t)
        assert "frame_times_ms" not in sample["image"].meta  # per-cine arrays do not collate across cines
        assert sample["case"] == "p1"
        drawn.append(t)
    assert len(set(drawn)) > 1  # six draws from seven frames are not all the same frame


def test_rand_frame_is_repeatable_with_a_seed():
    a = [int(f[0, 0, 0]) for f in RandFrame(num_samples=5).set_random_state(seed=11)(_cine(30))]
    b = [int(f[0, 0, 0]) for f in RandFrame(num_samples=5).set_random_state(seed=11)(_cine(30))]
    c = [int(f[0, 0, 0]) for f in RandFrame(num_samples=5).set_random_state(seed=12)(_cine(30))]
    assert a == b
    assert a != c


def test_split_framesd_gives_every_frame_in_order():
    out = SplitFramesd(["image", "label"])({"image": _cine(4, channels=3), "label": _cine(4, offset=1.0)})
    assert [int(s["image"][0, 0, 0]) for s in out] == [0, 1, 2, 3]
    assert [int(s["label"][0, 0, 0]) for s in out] == [1, 2, 3, 4]
    assert out[2]["image"].shape == (3, 5, 5)
    assert [s["image"].meta[FRAME_INDEX_META_KEY] for s in out] == [0, 1, 2, 3]
    assert len(SplitFrames()(_cine(9))) == 9


def test_frame_count_mismatch_names_the_file():
    with pytest.raises(EchoDataError, match="frame counts differ"):
        RandFramed(["image", "label"])({"image": _cine(7), "label": _cine(6)})
    with pytest.raises(EchoDataError, match="frame counts differ"):
        SplitFramesd(["image", "label"])({"image": _cine(7), "label": _cine(8)})


def test_not_a_cine_is_refused():
    with pytest.raises(EchoDataError, match=r"\(C, T, H, W\)"):
        SplitFrames()(torch.zeros(1, 5, 5))
    with pytest.raises(ValueError, match="num_samples"):
        RandFrame(num_samples=0)


def test_stack_frames_matches_the_network_helper():
    cine = torch.rand(2, 6, 4, 4)
    stacked = StackFrames(k=2)(cine)  # (C * 5, T, H, W)
    assert stacked.shape == (10, 6, 4, 4)
    reference = stack_neighbour_frames(cine.permute(1, 0, 2, 3), 2)  # (T, C * 5, H, W)
    assert torch.equal(stacked.permute(1, 0, 2, 3), reference)
    # Frame 0's oldest neighbours repeat frame 0; its newest is frame 2.
    assert torch.equal(stacked[0:2, 0], cine[:, 0])
    assert torch.equal(stacked[8:10, 0], cine[:, 2])
    out = StackFramesd("image", k=0)({"image": cine})
    assert out["image"] is cine
