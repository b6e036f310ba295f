"""The video saliency benchmark's truth-through-the-pipeline logic (benchmarks/bench_saliency_video.py).

The generator's anatomy labels must land on the same (T, H, W) grid as the clip the view bundle's validate
chain feeds its network, or every density the benchmark reports is measured against the wrong pixels.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from echo_monai.synthetic.dataset import make_dataset

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_saliency_video", REPO / "benchmarks" / "bench_saliency_video.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("views") / "data"
    make_dataset(out, n_patients=2, clips_per_view=1, n_frames=40, size=96, seed=3, views=["A4C", "A5C"],
                 workers=1, figure=False)
    return out


def test_labels_are_cut_at_the_pipelines_frame_times(bench):
    # Irregular frame times (alternating 18 / 36 ms) and a window that does not start on a frame.
    times = np.cumsum([0] + [18.0, 36.0] * 15)
    labels = np.repeat(np.arange(len(times), dtype=np.uint8)[:, None, None], 8, axis=1).repeat(8, axis=2)
    labels[:, :4, :4] = 200  # a block in the top-left quarter, to follow through the resize
    window = (100.0, 520.0)
    out = bench.labels_through_pipeline(labels, times, (4, 4), window, num_frames=8)

    assert out.shape == (8, 4, 4) and out.dtype == np.uint8
    sample_times = window[0] + (window[1] - window[0]) * np.arange(8) / 8
    nearest = [int(np.argmin(np.abs(times - t))) for t in sample_times]
    assert out[:, 3, 3].tolist() == nearest
    assert (out[:, :2, :2] == 200).all() and not (out[:, 2:, 2:] == 200).any()


def test_truth_lands_on_the_clip_the_bundle_evaluates(bench, tiny_dataset):
    torch.set_num_threads(1)
    parser = bench.bundle_parser(tiny_dataset, tiny_dataset / "bundle")
    chain = parser.get_parsed_content("validate#preprocessing")
    pipeline = bench.Pipeline.from_compose(chain)
    entries = json.loads((tiny_dataset / "datalist.json").read_text())["training"]
    for entry in entries:
        item = {"image": str(tiny_dataset / entry["image"]), "label": entry["label"], "clip": entry["image"]}
        windows = bench.prepare_clip(item, tiny_dataset / entry["truth"], pipeline)
        reference = chain(dict(item))
        assert len(windows) == len(reference) >= 1
        for w, ref in zip(windows, reference, strict=True):
            # exactly the bundle's input, and the same window unmasked
            assert torch.equal(w.image, ref["image"].as_tensor().float())
            assert w.anatomy.shape == tuple(w.image.shape[1:])
            outside = ~torch.from_numpy(w.sector)
            assert (w.image[..., outside] == 0).all() and (w.raw[..., outside] > 0).any()
            assert torch.equal(w.image[..., ~outside], w.raw[..., ~outside])
            # labels on the image: blood darker than myocardium, best at zero shift in space and time
            frames = w.image[0].numpy()
            aligned = bench.blood_tissue_contrast(frames, w.anatomy)
            assert aligned > 0.05
            for shift in ((0, 3, 0), (0, -3, 0), (0, 0, 3), (0, 0, -3)):
                assert bench.blood_tissue_contrast(frames, w.anatomy, shift) < aligned
        if entry["view"] == "A5C":
            assert (windows[0].anatomy == bench.LVOT).any()


def test_control_region_has_the_lvots_shape_inside_the_sector_and_off_it(bench):
    sector = np.zeros((32, 32), bool)
    sector[4:28, 4:28] = True
    region = np.zeros((3, 32, 32), bool)
    region[:, 10:14, 10:13] = True
    region[1, 14, 10] = True
    rng = np.random.default_rng(0)
    for _ in range(10):
        moved = bench.moved_region(region, sector, region.any(axis=0)[None], rng)
        assert moved is not None
        assert moved.sum(axis=(1, 2)).tolist() == region.sum(axis=(1, 2)).tolist()
        assert not (moved & ~sector).any() and not (moved & region).any()
    # No room for it: no control rather than one outside the sector.
    assert bench.moved_region(np.ones((1, 32, 32), bool), sector, region.any(axis=0)[None], rng) is None
