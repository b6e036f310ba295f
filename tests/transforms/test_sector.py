"""Scan-sector transforms on real synthetic cines: masking, random content outside, and the mask's estimate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose

from echo_monai.errors import EchoDataError
from echo_monai.synthetic.dataset import patient_heart
from echo_monai.synthetic.generator import ClipSettings, render_clip
from echo_monai.transforms import LoadEchoCined
from echo_monai.transforms.sector import (
    SECTOR_MASK_KEY,
    RandOutsideSector,
    RandOutsideSectord,
    SectorMask,
    SectorMaskd,
    estimate_sector_mask,
)

from .conftest import make_clip

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def clip() -> tuple[torch.Tensor, np.ndarray]:
    """A 12-frame 64 px A5C cine as LoadEchoCine gives it, (1, T, H, W) in [0, 1], and its true sector."""
    settings = ClipSettings(view="A5C", n_frames=12, height=64, width=64, fps=30.0, heart_rate_bpm=80.0, seed=5)
    c = render_clip(settings, patient_heart(5, 0))
    return torch.from_numpy(c.frames.astype(np.float32) / 255.0)[None], c.sector_mask


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_sector_mask_blanks_the_annotations_and_keeps_the_fan(clip) -> None:
    img, sector = clip
    assert float(img[..., ~torch.from_numpy(sector)].max()) > 0.5  # burned-in text is there to remove
    out = SectorMask(fill=0.0)(MetaTensor(img, meta={"filename_or_obj": "a5c.dcm"}), sector)
    assert isinstance(out, MetaTensor) and out.meta["filename_or_obj"] == "a5c.dcm"
    inside = torch.from_numpy(sector)
    assert float(out[..., ~inside].abs().max()) == 0.0
    assert torch.equal(out[..., inside], img[..., inside])
    frame = SectorMask(fill=0.25)(img[:, 3], torch.from_numpy(sector)[None])  # (C, H, W), (1, H, W) mask
    assert torch.all(frame[..., ~inside] == 0.25) and torch.equal(frame[..., inside], img[:, 3][..., inside])


def test_estimated_sector_matches_the_generator_truth(clip) -> None:
    img, sector = clip
    est = estimate_sector_mask(img)
    assert est.shape == sector.shape
    assert _iou(est, sector) > 0.8
    assert (est & ~sector).sum() < 0.02 * sector.sum()  # the estimate does not reach into the annotations
    # 0-255 intensities give the same mask when told their range
    assert np.array_equal(estimate_sector_mask(img * 255.0, value_range=255.0), est)


def test_sector_maskd_stores_the_mask_and_reuses_a_given_one(clip) -> None:
    img, sector = clip
    d = SectorMaskd(keys="image")({"image": img})
    stored = d[SECTOR_MASK_KEY]
    assert stored.shape == (1, 64, 64) and stored.dtype == torch.bool
    assert float(d["image"][..., ~stored[0]].abs().max()) == 0.0
    given = np.zeros_like(sector)
    given[20:40, 20:40] = True
    d = SectorMaskd(keys="image")({"image": img, SECTOR_MASK_KEY: given})
    assert torch.equal(d[SECTOR_MASK_KEY][0], torch.from_numpy(given))
    assert int((d["image"][0, 0] != 0).sum()) <= 400


def test_rand_outside_sector_changes_only_the_outside_and_is_reproducible(clip) -> None:
    img, sector = clip
    inside = torch.from_numpy(sector)
    filler = RandOutsideSector(prob=1.0, max_noise_std=0.0).set_random_state(3)
    out = filler(img, sector)
    assert torch.equal(out[..., inside], img[..., inside])
    assert not torch.equal(out[..., ~inside], img[..., ~inside])
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    # without noise the content is static over the frames, as burned-in annotations are
    assert torch.equal(out[0, 0][~inside], out[0, -1][~inside])
    again = RandOutsideSector(prob=1.0, max_noise_std=0.0).set_random_state(3)(img, sector)
    assert torch.equal(out, again)
    other = RandOutsideSector(prob=1.0, max_noise_std=0.0).set_random_state(4)(img, sector)
    assert not torch.equal(out, other)
    assert torch.equal(RandOutsideSector(prob=0.0)(img, sector), img)
    noisy = RandOutsideSector(prob=1.0, max_background=0.0, max_noise_std=0.3).set_random_state(1)(img, sector)
    assert not torch.equal(noisy[0, 0][~inside], noisy[0, 1][~inside])  # noise is drawn per frame


def test_rand_outside_sector_on_0_255_images_stays_in_range(clip) -> None:
    img, sector = clip
    out = RandOutsideSector(prob=1.0, value_range=255.0).set_random_state(0)(img * 255.0, sector)
    outside = out[..., ~torch.from_numpy(sector)]
    assert float(outside.max()) <= 255.0 and float(outside.max()) > 2.0


def test_dictionary_version_gives_every_key_the_same_content(clip) -> None:
    img, sector = clip
    d = {"image": img, "twin": img.clone(), SECTOR_MASK_KEY: torch.from_numpy(sector)[None]}
    out = RandOutsideSectord(keys=("image", "twin"), prob=1.0).set_random_state(7)(d)
    assert torch.equal(out["image"], out["twin"]) and not torch.equal(out["image"], img)
    assert out[SECTOR_MASK_KEY] is d[SECTOR_MASK_KEY]
    assert torch.equal(RandOutsideSectord(keys="image", prob=0.0)(d)["image"], img)


def test_a_loaded_dicom_cine_through_the_training_chain(tmp_path) -> None:
    path, _ = make_clip(tmp_path, "burned_sweep", view="A4C", n_frames=16, fps=30.0, hr=80.0, size=96)
    chain = Compose([
        LoadEchoCined(keys="image", grey=True, size=(64, 64), gating=False),
        SectorMaskd(keys="image"),
        RandOutsideSectord(keys="image", prob=1.0),
    ]).set_random_state(0)
    loaded = LoadEchoCined(keys="image", grey=True, size=(64, 64), gating=False)({"image": str(path)})["image"]
    d = chain({"image": str(path)})
    sector = d[SECTOR_MASK_KEY][0]
    assert 0.2 < float(sector.float().mean()) < 0.8
    assert torch.equal(d["image"][..., sector], loaded[..., sector])
    assert not torch.equal(d["image"][..., ~sector], torch.zeros_like(loaded[..., ~sector]))
    assert d["image"].meta["filename_or_obj"] == str(path)


@pytest.mark.parametrize("form", ["burned_review", "burned_sweep"])
def test_a_grey_burned_in_trace_stays_outside_the_sector(tmp_path, form) -> None:
    """Loaded grey, the moving ECG trace below the fan cannot be told from it by colour; the file's tissue
    region, which ``LoadEchoCine`` keeps in the meta, bounds the sector instead."""
    path, _ = make_clip(tmp_path, form, n_frames=24, fps=30.0, hr=90.0, size=128)
    loaded = LoadEchoCined(keys="image", grey=True, size=(64, 64), gating=False)({"image": str(path)})["image"]
    x0, y0, x1, y1 = (int(v) for v in loaded.meta["scan_region"])
    assert 0 <= x0 < x1 < 64 and 0 <= y0 < y1 < 63
    with_region = estimate_sector_mask(loaded)
    assert not with_region[y1 + 1:].any() and with_region.sum() > 0.2 * 64 * 64
    # the same frames without the meta: the trace joins the sector (what the region prevents)
    without = estimate_sector_mask(loaded.as_tensor().clone())
    assert without[y1 + 1:].sum() > 5
    # a region that no longer fits the frames (cropped or resized since loading) is not used
    resized = MetaTensor(torch.nn.functional.interpolate(torch.as_tensor(loaded), size=(48, 48)), meta=loaded.meta)
    assert estimate_sector_mask(resized).shape == (48, 48)


def test_a_region_declared_outside_the_frames_is_not_trusted() -> None:
    """pydicom's SonoSite cine declares its tissue region in a larger screen grid than its 320 x 240 frames."""
    pydicom_data = pytest.importorskip("pydicom.data")
    from echo_monai.io.cine import read_cine
    from echo_monai.transforms.io import trusted_scan_region

    cine = read_cine(pydicom_data.get_testdata_file("examples_ybr_color.dcm"), grey=True, with_ecg=False)
    assert cine.scan_region is not None and cine.regions[0].x1 >= cine.frames.shape[2]
    assert trusted_scan_region(cine).tolist() == [-1, -1, -1, -1]


def test_bad_input_names_the_problem(clip) -> None:
    img, sector = clip
    named = MetaTensor(img, meta={"filename_or_obj": "/data/a5c.dcm"})
    with pytest.raises(EchoDataError, match=r"a5c.dcm: sector mask of shape \(32, 32\)"):
        SectorMask()(named, np.ones((32, 32), bool))
    with pytest.raises(EchoDataError, match="sector mask is empty"):
        RandOutsideSector(prob=1.0)(img, np.zeros_like(sector))
    with pytest.raises(EchoDataError, match=r"channel-first frame \(C, H, W\)"):
        SectorMask()(img[0, 0], sector)
    with pytest.raises(EchoDataError, match="a5c.dcm: no changing region"):
        estimate_sector_mask(MetaTensor(torch.zeros(1, 4, 16, 16), meta={"filename_or_obj": "/data/a5c.dcm"}))


def test_a_still_cine_raises_or_passes_unmasked_when_allowed() -> None:
    still = MetaTensor(torch.full((1, 4, 16, 16), 0.3), meta={"filename_or_obj": "/data/still.dcm"})
    with pytest.raises(EchoDataError, match="still.dcm: no changing region"):
        SectorMaskd(keys="image")({"image": still})
    d = SectorMaskd(keys="image", allow_unmasked=True)({"image": still})
    assert torch.equal(d["image"], still) and bool(d[SECTOR_MASK_KEY].all()) and d[SECTOR_MASK_KEY].shape == (1, 16, 16)
