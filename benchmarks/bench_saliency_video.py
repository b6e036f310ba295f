"""Benchmark: saliency maps of the view bundle's own video model, through its own pipeline (issue 6).

``benchmarks/bench_saliency.py`` measured a small frame CNN trained inside the benchmark. This script
explains what the bundle actually ships: the network and the validate transforms are built from
``bundles/echo_view_classification/configs/{train,evaluate}.json`` by MONAI's ``ConfigParser`` with the
overrides a user gives on the command line (``dataset_dir``, ``bundle_root``, ``study_key``), and the
trained weights are loaded through the config's own ``pretrained_weights`` hook. What is explained is what
``evaluate.json`` scores: one ECG-gated cardiac cycle resampled in time, masked to the scan sector.

The generator's truth (``truth/<clip>.npz``: per-frame ``anatomy`` labels, ``sector_mask``) is pushed
through the same steps as the image: the same frame size (nearest-neighbour labels) and the same cycle
window in time (the cycle the pipeline cut, resampled at the same frame times with nearest frames), so
map and labels share one (T, H, W) grid. ``--alignment-png`` draws the labels over the clips to check it.

Measured, for each Captum method the saliency handler offers (and IG / Occlusion with a blurred reference):

(a) Adebayo et al.'s cascading randomisation: Spearman rho of |map| inside the sector between the trained
    network and copies with the top k weighted layers re-initialised (pass: median rho < 0.5 at every step);
(b) attribution mass inside the scan sector (i) w.r.t. the network's input, the masked clip, and (ii)
    through the mask (the masking step counted as part of the model, the unmasked clip as input);
(c) on A5C test clips, the A5C-minus-A4C logit: density of the attribution per anatomical structure (mass
    share / area share), the LVOT's rank, and a deletion check: the margin lost when the LVOT is blurred
    away against an equal-area region (the same shape moved elsewhere in the sector);
(d) temporal importance (each frame's share of the map) and seconds per explained clip.

Run (from the repository root):

    OMP_NUM_THREADS=1 python benchmarks/bench_saliency_video.py --bundle-root /tmp/vb4/sec25 \\
        --dataset-dir /tmp/vb4/data --markdown /tmp/saliency_video.md --alignment-png /tmp/align.png
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.bundle import ConfigParser
from monai.data import MetaTensor
from monai.transforms import Compose
from PIL import Image
from scipy import ndimage
from torch import nn

from echo_monai.errors import EchoDataError
from echo_monai.explain.anatomy import mass_in_region, mass_inside, mass_per_structure
from echo_monai.explain.attribution import ClassContrast, attribute, blurred, temporal_importance
from echo_monai.explain.figures import heat_overlay, map_scale
from echo_monai.explain.sanity import (
    cascading_randomisation,
    outside_sensitivity,
    parameterised_layers,
    spearman_rank_correlation,
)
from echo_monai.io.frames import resize_frames
from echo_monai.synthetic.anatomy import ANATOMY_LABELS
from echo_monai.transforms.gating import CropCardiacCycles, CropCardiacCyclesd
from echo_monai.transforms.io import FRAME_TIMES_META_KEY
from echo_monai.transforms.sector import SectorMaskd
from echo_monai.views import VIEW_NAMES

BUNDLE_DIR = Path(__file__).resolve().parents[1] / "bundles" / "echo_view_classification"
LVOT = 6  # ANATOMY_LABELS: aorta / LVOT
STRUCTURES = {k: v for k, v in ANATOMY_LABELS.items() if k != 0}
#: Median rho below this at every randomisation step: the randomised network's map shares at most a
#: quarter (0.5 squared) of its rank variance with the trained network's (as in bench_saliency.py).
SANITY_THRESHOLD = 0.5
A4C, A5C = VIEW_NAMES.index("A4C"), VIEW_NAMES.index("A5C")
#: Grad-CAM layer: the last convolution with a time axis (2 x 8 x 8 cells for 8 x 64 x 64 clips). The
#: network's last convolution (the handler's default) has one time step and 4 x 4 cells of 16 px.
GRADCAM_LAYER = "features.15"
#: A finer Grad-CAM layer (4 x 16 x 16 cells of 4 px): less of a coarse cell's weight spills over the fan edge.
FINE_LAYER = "features.9"


# ------------------------------------------------------------------------------------------------------
# The bundle's pipeline, with the generator's truth pushed through it


def bundle_parser(dataset_dir: str | os.PathLike, bundle_root: str | os.PathLike, study_key: str = "case",
                  bundle_dir: str | os.PathLike = BUNDLE_DIR) -> ConfigParser:
    """train.json + evaluate.json with a user's overrides, the trained ``models/model.pt`` as weights."""
    parser = ConfigParser()
    configs = Path(bundle_dir) / "configs"
    parser.read_config([str(configs / "train.json"), str(configs / "evaluate.json")])
    parser.update({
        "dataset_dir": str(dataset_dir),
        "bundle_root": str(bundle_root),
        "study_key": study_key,
        "pretrained_weights": str(Path(bundle_root) / "models" / "model.pt"),
    })
    return parser


@dataclass(frozen=True)
class Pipeline:
    """The validate chain split at its sector-masking step, so the unmasked clip can be kept as well.

    ``tail(mask(head(item)))`` is exactly the bundle's chain; ``tail(head(item))`` the same clip unmasked.
    """

    head: Compose
    mask: SectorMaskd
    tail: Compose
    num_frames: int

    @classmethod
    def from_compose(cls, chain: Compose) -> Pipeline:
        steps = list(chain.transforms)
        where = [i for i, t in enumerate(steps) if isinstance(t, SectorMaskd)]
        crops = [t for t in steps if isinstance(t, CropCardiacCyclesd)]
        if len(where) != 1 or len(crops) != 1:
            raise ValueError("the validate chain must have one SectorMaskd and one CropCardiacCyclesd step, found "
                             f"{[type(t).__name__ for t in steps]}")
        i = where[0]
        return cls(Compose(steps[:i]), steps[i], Compose(steps[i + 1:]), crops[0].croppers[0].num_frames)


@dataclass
class Window:
    """One cardiac-cycle sample as the bundle evaluates it, with the generator's truth on the same grid.

    image: (1, T, H, W) the network's input (masked); raw: (1, T, H, W) the same window unmasked;
    sector: (H, W) the mask the pipeline applied; truth_sector: (H, W) the generator's sector;
    anatomy: (T, H, W) uint8 labels (:data:`ANATOMY_LABELS`).
    """

    clip: str
    label: int
    cycle_index: int
    image: torch.Tensor
    raw: torch.Tensor
    sector: np.ndarray
    truth_sector: np.ndarray
    anatomy: np.ndarray


def labels_through_pipeline(labels: np.ndarray, frame_times_ms: np.ndarray, size: tuple[int, int],
                            window_ms: tuple[float, float], num_frames: int) -> np.ndarray:
    """A (T0, H0, W0) label cine on the network's grid: (num_frames, H, W) uint8.

    Resized like the image (the whole frame, nearest neighbour, so labels stay labels) and cut at the
    cycle ``window_ms`` the pipeline chose, at the same ``num_frames`` evenly spaced times, with the
    nearest stored frame (the image itself interpolates linearly between the two nearest).
    """
    if labels.ndim != 3 or len(frame_times_ms) != labels.shape[0]:
        raise ValueError(f"labels {labels.shape} and {len(frame_times_ms)} frame times do not match")
    if labels.min() < 0 or labels.max() > 255:
        raise ValueError("labels must fit uint8")
    small = resize_frames(labels.astype(np.uint8), size, Image.Resampling.NEAREST)
    cine = MetaTensor(torch.from_numpy(small)[None], meta={FRAME_TIMES_META_KEY: np.asarray(frame_times_ms)})
    out = CropCardiacCycles(num_frames, mode="nearest").crop(cine, 0, window_ms, "truth", 1)
    return np.asarray(out[0]).astype(np.uint8)


def prepare_clip(item: Mapping[str, Any], truth_file: str | os.PathLike, pipeline: Pipeline) -> list[Window]:
    """Every cycle window of one clip through the bundle's validate chain, with its truth alongside."""
    loaded = pipeline.head(dict(item))
    times = np.asarray(loaded["image"].meta[FRAME_TIMES_META_KEY], dtype=np.float64)
    masked = pipeline.tail(pipeline.mask(dict(loaded)))
    raw = pipeline.tail(dict(loaded))
    truth = np.load(truth_file)
    if not np.allclose(truth["frame_times_ms"], times, atol=1.0):
        raise EchoDataError(truth_file, f"its frame times differ from those of {item['image']}")
    size = tuple(loaded["image"].shape[-2:])
    truth_sector = resize_frames(truth["sector_mask"].astype(np.uint8)[None], size, Image.Resampling.NEAREST)[0]
    windows = []
    for m, r in zip(masked, raw, strict=True):
        meta = m["image"].meta
        span = (float(meta["cycle_start_ms"]), float(meta["cycle_end_ms"]))
        if (r["image"].meta["cycle_start_ms"], r["image"].meta["cycle_end_ms"]) != span:
            raise RuntimeError(f"{item['image']}: the unmasked clip was cut at another cycle than the masked one")
        windows.append(Window(
            clip=str(item.get("clip", item["image"])), label=int(item["label"]), cycle_index=int(meta["cycle_index"]),
            image=m["image"].as_tensor().float(), raw=r["image"].as_tensor().float(),
            sector=np.asarray(m["sector_mask"][0], dtype=bool), truth_sector=truth_sector.astype(bool),
            anatomy=labels_through_pipeline(truth["anatomy"], times, size, span, pipeline.num_frames),
        ))
    return windows


def blood_tissue_contrast(image: np.ndarray, anatomy: np.ndarray, shift: tuple[int, int, int] = (0, 0, 0)) -> float:
    """Mean grey level of myocardium minus that of blood pools, with the labels rolled by ``shift`` (t, y, x).

    (T, H, W) image and labels. Labels that sit on the image give the largest contrast at zero shift; a
    misregistration in space or time lowers it. Blood: LV, RV, LA, RA, LVOT; tissue: LV wall, other myocardium.
    """
    lab = np.roll(anatomy, shift, axis=(0, 1, 2))
    blood, tissue = np.isin(lab, (1, 3, 4, 5, 6)), np.isin(lab, (2, 11))
    if not blood.any() or not tissue.any():
        return float("nan")
    return float(image[tissue].mean() - image[blood].mean())


def write_alignment_png(path: str | os.PathLike, windows: Sequence[Window], scale: int = 3) -> None:
    """Rows of clips, columns of frames: the network's input with the LVOT (red), LV cavity (green) and the
    generator's sector edge (blue) drawn over it."""
    rows = []
    for w in windows:
        tiles = []
        for t in range(w.image.shape[1]):
            grey = (np.clip(w.image[0, t].numpy(), 0, 1) * 255).astype(np.uint8)
            rgb = np.repeat(grey[..., None], 3, axis=-1)
            for label, colour in ((LVOT, (255, 40, 40)), (1, (40, 255, 40))):
                region = w.anatomy[t] == label
                edge = region & ~ndimage.binary_erosion(region)
                rgb[edge] = colour
            sector_edge = w.truth_sector & ~ndimage.binary_erosion(w.truth_sector)
            rgb[sector_edge] = (60, 120, 255)
            tiles.append(np.kron(rgb, np.ones((scale, scale, 1), np.uint8)))
            tiles.append(np.zeros((tiles[-1].shape[0], 2, 3), np.uint8))
        rows.append(np.concatenate(tiles, axis=1))
        rows.append(np.zeros((2, rows[-1].shape[1], 3), np.uint8))
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)


def write_maps_png(path: str | os.PathLike, windows: Sequence[Window], examples: Mapping[str, np.ndarray],
                   scale: int = 3) -> None:
    """For each example clip, rows of methods (in the order of :data:`VARIANTS`), columns of frames:
    |A5C-minus-A4C map| over the input (scaled per row), the LVOT outlined in cyan."""
    rows = []
    for i, w in enumerate(windows[:2]):
        for maps in examples.values():
            if i >= len(maps):
                continue
            vmax = map_scale(maps[i])
            tiles = []
            for t in range(maps.shape[1]):
                rgb = heat_overlay(w.image[0, t].numpy(), maps[i, t], vmax)
                region = w.anatomy[t] == LVOT
                rgb[region & ~ndimage.binary_erosion(region)] = (0, 255, 255)
                tiles += [np.kron(rgb, np.ones((scale, scale, 1), np.uint8)),
                          np.zeros((scale * rgb.shape[0], 2, 3), np.uint8)]
            rows += [np.concatenate(tiles, axis=1), np.zeros((2, sum(t.shape[1] for t in tiles), 3), np.uint8)]
        rows.append(np.full((6, rows[-1].shape[1], 3), 255, np.uint8))
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)


# ------------------------------------------------------------------------------------------------------
# Explaining


class MaskedInput(nn.Module):
    """The pipeline's sector masking as part of the model: ``network(x * mask)`` (SectorMask fills 0).

    ``forward(x, mask)`` with x (B, 1, T, H, W) unmasked and mask (B, 1, 1, H, W); explained w.r.t. x, the
    outside cannot get gradient, which is why measure (ii) is 100 % for gradient methods by construction.
    """

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.network(x * mask.to(x.dtype))


#: (row label, Captum method, arguments of echo_monai.explain.attribute).
VARIANTS: tuple[tuple[str, str, dict], ...] = (
    ("Saliency", "Saliency", {}),
    ("IntegratedGradients", "IntegratedGradients", {"n_steps": 16}),
    ("IntegratedGradients, blur baseline", "IntegratedGradients", {"n_steps": 16, "baseline": "blur"}),
    ("NoiseTunnel (SmoothGrad)", "NoiseTunnel", {"nt_samples": 8, "noise_std": 0.1}),
    (f"LayerGradCam {GRADCAM_LAYER}", "LayerGradCam", {"layer": GRADCAM_LAYER}),
    ("LayerGradCam, last conv (handler default)", "LayerGradCam", {}),
    (f"GuidedGradCam {GRADCAM_LAYER}", "GuidedGradCam", {"layer": GRADCAM_LAYER}),
    (f"LayerGradCam {FINE_LAYER}", "LayerGradCam", {"layer": FINE_LAYER}),
    (f"GuidedGradCam {FINE_LAYER}", "GuidedGradCam", {"layer": FINE_LAYER}),
    ("Occlusion 2x16x16", "Occlusion", {"occlusion_fraction": 0.25, "occlusion_time_window": 2}),
    ("Occlusion 2x16x16, blur baseline", "Occlusion",
     {"occlusion_fraction": 0.25, "occlusion_time_window": 2, "baseline": "blur"}),
)


def explain(model: nn.Module, x: torch.Tensor, target: torch.Tensor | None, method: str, kwargs: dict,
            mask: torch.Tensor | None = None, prefix: str = "", batch: int = 8) -> torch.Tensor:
    """(B, T, H, W) maps in batches; with ``mask`` (B, H, W), through :class:`MaskedInput` w.r.t. ``x``.

    ``prefix``: where the network sits in ``model`` (``"model."`` in a :class:`ClassContrast`), for layer names.
    SmoothGrad's noise is drawn from a fixed seed, so two runs, and the trained and randomised networks, see
    the same noise.
    """
    torch.manual_seed(0)
    kw = dict(kwargs)
    if mask is not None:
        model = MaskedInput(model)
        prefix = "network." + prefix
    if "layer" in kw:  # without one, attribute() takes the last convolution, whatever its prefix
        kw["layer"] = prefix + kw["layer"]
    out = []
    for s in range(0, len(x), batch):
        extra = None if mask is None else (mask[s:s + batch, None, None].float(),)
        tgt = None if target is None else target[s:s + batch]
        out.append(attribute(model, x[s:s + batch], tgt, method, additional_forward_args=extra, **kw))
    return torch.cat(out)


def median(values: Sequence[float]) -> float:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else float("nan")


def sanity(network: nn.Module, x: torch.Tensor, target: torch.Tensor, sector: np.ndarray, method: str,
           kwargs: dict, maps: torch.Tensor, steps: int) -> tuple[list[tuple[int, float, int]], np.ndarray]:
    """(a): [(k top layers re-initialised, median rho inside the sector, samples with a constant map)], and
    the temporal importance (N, T) of the fully randomised network's maps: the share of each frame that the
    architecture alone gives (zero padding in time leaves the end frames fewer outputs to reach)."""
    within = np.broadcast_to(sector[:, None], maps.shape)
    out = []
    for k, twin in cascading_randomisation(network, steps=steps, seed=0):
        random_maps = explain(twin, x, target, method, kwargs)
        rho = spearman_rank_correlation(maps, random_maps, within=within)
        out.append((k, median(rho), int(np.sum(~np.isfinite(rho)))))
    return out, temporal_importance(random_maps).numpy()


def moved_region(region: np.ndarray, sector: np.ndarray, avoid: np.ndarray, rng: np.random.Generator,
                 tries: int = 400) -> np.ndarray | None:
    """``region`` (T, H, W) translated in-plane to a random place inside ``sector`` (H, W), off ``avoid``.

    The same shape and area in every frame, so the control differs from the LVOT only in where it lies.
    """
    ys, xs = np.nonzero(sector)
    ry, rx = np.nonzero(region.any(axis=0))
    dy_range = (ys.min() - ry.min(), ys.max() - ry.max() + 1) if ry.size else (0, 0)
    dx_range = (xs.min() - rx.min(), xs.max() - rx.max() + 1) if rx.size else (0, 0)
    if dy_range[0] >= dy_range[1] or dx_range[0] >= dx_range[1]:  # empty, or wider than the sector
        return None
    for _ in range(tries):
        dy, dx = int(rng.integers(*dy_range)), int(rng.integers(*dx_range))
        moved = np.zeros_like(region)
        moved[:, ry.min() + dy:ry.max() + dy + 1, rx.min() + dx:rx.max() + dx + 1] = \
            region[:, ry.min():ry.max() + 1, rx.min():rx.max() + 1]
        if (moved & ~sector).sum() == 0 and (moved & avoid).sum() == 0:
            return moved
    return None


def grown(labels: np.ndarray, label: int, sector: np.ndarray) -> np.ndarray:
    """(T, H, W) ``label`` grown by one pixel in-plane (its wall), inside the sector."""
    plane = np.zeros((3, 3, 3), bool)
    plane[1] = ndimage.generate_binary_structure(2, 1)
    return ndimage.binary_dilation(labels == label, structure=plane) & sector[None]


# ------------------------------------------------------------------------------------------------------
# The measurements


def select_windows(items: list[dict], truths: Mapping[str, str], pipeline: Pipeline, per_view: int,
                   pair_clips: int | None = None) -> list[Window]:
    """The first cycle of ``per_view`` test clips of each view and of ``pair_clips`` (None: every) A4C and
    A5C test clip."""
    chosen, count = [], dict.fromkeys(range(len(VIEW_NAMES)), 0)
    for item in items:
        label = int(item["label"])
        quota = (pair_clips if pair_clips is not None else len(items)) if label in (A4C, A5C) else per_view
        if count[label] < quota:
            count[label] += 1
            chosen.append(prepare_clip(item, truths[item["clip"]], pipeline)[0])
    return chosen


def evaluation_agreement(csv_path: Path, windows: Sequence[Window], probs: np.ndarray) -> tuple[int, int, float] | None:
    """Against the bundle's own evaluation (``window_predictions.csv``, written by evaluate.json): windows
    found there, of which with the same predicted view, and the largest probability difference."""
    if not csv_path.is_file():
        return None
    with open(csv_path, encoding="utf-8", newline="") as f:
        rows = {(r["clip"], int(r["window"])): r for r in csv.DictReader(f)}
    same, diff, found = 0, 0.0, 0
    for w, p in zip(windows, probs, strict=True):
        r = rows.get((w.clip, w.cycle_index))
        if r is None:
            continue
        found += 1
        theirs = np.array([float(r[f"p_{v}"]) for v in VIEW_NAMES])
        same += int(r["predicted_view"] == VIEW_NAMES[int(p.argmax())])
        diff = max(diff, float(np.abs(theirs - p).max()))
    return found, same, diff


def per_clip_seconds(network: nn.Module, x: torch.Tensor, target: torch.Tensor, method: str, kwargs: dict
                     ) -> float:
    times = []
    for i in range(len(x)):
        start = time.perf_counter()
        attribute(network, x[i:i + 1], target[i:i + 1], method, **kwargs)
        times.append(time.perf_counter() - start)
    return median(times)


def lvot_analysis(network: nn.Module, windows: list[Window], seed: int) -> dict:
    """(c) on A5C clips: per-structure density of the A5C-minus-A4C map, LVOT rank, deletion checks."""
    x = torch.stack([w.image for w in windows])
    sectors = np.stack([w.truth_sector & w.sector for w in windows])
    contrast = ClassContrast(network, A5C, A4C)
    with torch.no_grad():
        margin = contrast(x).numpy()
    rows, curves, examples = [], {}, {}
    for row, method, kw in VARIANTS:
        maps = explain(contrast, x, None, method, kw, prefix="model.")
        dens: dict[int, list[float]] = {}
        walls = []
        for i, w in enumerate(windows):
            inside = np.broadcast_to(sectors[i], w.anatomy.shape)
            for label, sm in mass_per_structure(maps[i], w.anatomy, STRUCTURES, within=inside).items():
                dens.setdefault(label, []).append(sm.density)
            walls.append(mass_in_region(maps[i], grown(w.anatomy, LVOT, sectors[i]), within=inside).density)
        # Structures present in at least half of the clips, so that one clip does not rank first.
        med = {k: median(v) for k, v in dens.items() if len(v) >= max(1, len(windows) // 2)}
        ranked = sorted(med, key=med.get, reverse=True)
        rows.append((row, med, ranked, median(walls)))
        curves[row] = temporal_importance(maps).numpy()
        examples[row] = maps[:2].numpy()
        rank = ranked.index(LVOT) + 1 if LVOT in ranked else "-"
        print(f"[lvot] {row:42s} LVOT density {med.get(LVOT, float('nan')):.2f} rank {rank}/{len(ranked)}, "
              f"top {[STRUCTURES[k] for k in ranked[:3]]}", flush=True)

    # Deletion: blur the LVOT (with its wall) away vs the same shape moved elsewhere in the sector.
    smooth = blurred(x, max(x.shape[-2:]) / 16)
    rng = np.random.default_rng(seed)
    lvot_drop, control_drop, areas = [], [], []
    for i, w in enumerate(windows):
        region = grown(w.anatomy, LVOT, sectors[i])
        if not region.any():
            continue
        with torch.no_grad():
            cut = torch.where(torch.from_numpy(region)[None], smooth[i], x[i])
            lvot_drop.append(float(margin[i] - contrast(cut[None])[0]))
            drops = []
            for _ in range(16):
                moved = moved_region(region, sectors[i], region.any(axis=0)[None], rng)
                if moved is not None:
                    cut = torch.where(torch.from_numpy(moved)[None], smooth[i], x[i])
                    drops.append(float(margin[i] - contrast(cut[None])[0]))
        control_drop.append(median(drops))
        areas.append(region.sum() / (sectors[i].sum() * region.shape[0]))
    # Every structure in turn, as in bench_saliency.py's frame table.
    blur_rows = []
    for label, name in STRUCTURES.items():
        drops, area = [], []
        for i, w in enumerate(windows):
            region = grown(w.anatomy, label, sectors[i])
            if region.any():
                with torch.no_grad():
                    cut = torch.where(torch.from_numpy(region)[None], smooth[i], x[i])
                    drops.append(float(margin[i] - contrast(cut[None])[0]))
                area.append(region.sum() / (sectors[i].sum() * region.shape[0]))
        if len(drops) >= max(1, len(windows) // 2):
            blur_rows.append((name, median(drops), median(area), len(drops)))
    blur_rows.sort(key=lambda r: r[1], reverse=True)
    lvot_area = np.stack([(w.anatomy == LVOT).reshape(w.anatomy.shape[0], -1).sum(1) for w in windows])
    return {"n": len(windows), "clips": [w.clip for w in windows], "margin": margin, "rows": rows, "lvot_drop": lvot_drop, "control_drop": control_drop,
            "lvot_area": areas, "blur": blur_rows, "curves": curves, "examples": examples, "lvot_area_per_frame": lvot_area}


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    parser = bundle_parser(args.dataset_dir, args.bundle_root, args.study_key, args.bundle_dir)
    parser["eval_split"] = args.split
    network = parser.get_parsed_content("network").eval()
    pipeline = Pipeline.from_compose(parser.get_parsed_content("validate#preprocessing"))
    items = parser.get_parsed_content("validate#items")
    with open(Path(args.dataset_dir) / "datalist.json", encoding="utf-8") as f:
        truths = {e["image"]: str(Path(args.dataset_dir) / e["truth"]) for e in json.load(f)[args.split]}
    start = time.perf_counter()
    windows = select_windows(items, truths, pipeline, args.per_view, args.pair_clips)
    prep_s = time.perf_counter() - start
    print(f"{len(windows)} clips prepared in {prep_s:.0f} s", flush=True)

    x = torch.stack([w.image for w in windows])
    raw = torch.stack([w.raw for w in windows])
    labels = np.array([w.label for w in windows])
    sector = np.stack([w.sector for w in windows])
    truth_sector = np.stack([w.truth_sector for w in windows])
    with torch.no_grad():
        logits = network(x)
        through = MaskedInput(network)(raw, torch.from_numpy(sector)[:, None, None].float())
    if not torch.allclose(logits, through, atol=1e-5):
        raise RuntimeError("network(raw * mask) differs from network(masked clip): the mask model is wrong")
    pred = logits.argmax(1)
    agreement = evaluation_agreement(Path(args.bundle_root) / "output" / f"eval_{args.split}" / "window_predictions.csv",
                                     windows, torch.softmax(logits, 1).numpy())
    iou = [(a & b).sum() / (a | b).sum() for a, b in zip(sector, truth_sector, strict=True)]
    contrast0 = [blood_tissue_contrast(w.image[0].numpy(), w.anatomy) for w in windows]
    shifts = {s: [blood_tissue_contrast(w.image[0].numpy(), w.anatomy, s) for w in windows]
              for s in ((0, 0, 2), (0, 2, 0), (0, -2, 0), (2, 0, 0), (4, 0, 0))}
    if args.alignment_png:
        show = [w for w in windows if w.label == A5C][:3] + [w for w in windows if w.label == A4C][:2]
        write_alignment_png(args.alignment_png, show)
    check = outside_sensitivity(network, x, sector, seed=args.seed)

    # Sanity and sector mass on up to --sanity-per-view clips of each view; mass (i), (ii) on all chosen.
    sane_idx, seen = [], dict.fromkeys(range(len(VIEW_NAMES)), 0)
    for i, w in enumerate(windows):
        if seen[w.label] < args.sanity_per_view:
            seen[w.label] += 1
            sane_idx.append(i)
    sane_idx = np.array(sane_idx)
    inside = truth_sector & sector  # the sector both the generator and the pipeline agree on
    method_rows = []
    for row, method, kw in VARIANTS:
        t0 = time.perf_counter()
        maps = explain(network, x, pred, method, kw)
        maps_ii = explain(network, raw, pred, method, kw, mask=torch.from_numpy(sector))
        # Inside the generator's sector (the true fan) and inside the mask the pipeline applied.
        mass = {(kind, ref): [mass_inside(m[i], s[i]) for i in range(len(x))]
                for kind, m in (("i", maps), ("ii", maps_ii)) for ref, s in (("truth", truth_sector), ("mask", sector))}
        mass_i = mass["i", "truth"]
        steps, random_curve = sanity(network, x[sane_idx], pred[sane_idx], inside[sane_idx], method, kw, maps[sane_idx],
                       args.sanity_steps)
        timing = per_clip_seconds(network, x[: args.timing_clips], pred[: args.timing_clips], method, kw)
        passes = all(rho < SANITY_THRESHOLD for _, rho, _ in steps)
        curve = temporal_importance(maps).numpy()
        method_rows.append({"row": row, "steps": steps, "passes": passes, "seconds": timing, "curve": curve,
                            "random_curve": random_curve,
                            "blank": int((maps.flatten(1).abs().sum(1) == 0).sum()),
                            "mass": {k: median(v) for k, v in mass.items()},
                            "mass_i_q": np.nanpercentile(mass_i, [10, 90])})
        print(f"[{row}] rho {[f'{r:.2f}' for _, r, _ in steps]} {'pass' if passes else 'FAIL'}, mass (i) "
              f"{100 * median(mass_i):.1f} % (ii) {100 * median(mass['ii', 'truth']):.1f} %, {timing:.3f} s/clip "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)

    a5c = [w for w in windows if w.label == A5C]
    lvot = lvot_analysis(network, a5c, args.seed)
    if args.maps_png:
        write_maps_png(args.maps_png, a5c, lvot["examples"])
    return {"windows": windows, "labels": labels, "pred": pred.numpy(), "iou": iou, "contrast0": contrast0,
            "shifts": shifts, "outside": check, "methods": method_rows, "lvot": lvot, "sane_n": len(sane_idx),
            "prep_s": prep_s, "agreement": agreement, "n_layers": len(parameterised_layers(network))}


# ------------------------------------------------------------------------------------------------------
# Report


def _pct(v: float) -> str:
    return f"{100 * v:.1f} %"


def markdown(args: argparse.Namespace, argv: list[str], load: tuple[float, float, float], res: dict) -> str:
    windows, labels, pred = res["windows"], res["labels"], res["pred"]
    lines = [
        (f"Command: `python benchmarks/bench_saliency_video.py {' '.join(argv)}` ({platform.machine()}, torch "
        f"{torch.__version__}, {args.threads} thread(s); 1-min load average at start {load[0]:.1f} on 2 cores "
        "shared with other jobs, so timings are upper bounds)."),
        "",
        (f"Model: `{args.bundle_root}/models/model.pt` through the bundle's train.json + evaluate.json "
        f"(`dataset_dir={args.dataset_dir}`, `study_key={args.study_key}`, split `{args.split}`). "
        f"{len(windows)} test clips, first cardiac cycle of each ({res['prep_s']:.0f} s to load), "
        f"{sum(labels == A4C)} A4C and {sum(labels == A5C)} A5C; predicted view correct on "
        f"{int((pred == labels).sum())} of {len(labels)}."),
        "",
        ("Against the bundle's own evaluation (window_predictions.csv): "
         + (f"{res['agreement'][1]} of {res['agreement'][0]} windows with the same predicted view, largest "
            f"probability difference {res['agreement'][2]:.4f} (the CSV rounds to 4 decimals)."
            if res["agreement"] else "no evaluation output found.")),
        "",
        "Alignment of the truth pushed through the pipeline: myocardium minus blood-pool grey level of the "
        f"input, median over clips: {median(res['contrast0']):.3f} with the labels as pushed; "
        + ", ".join(f"{median(v):.3f} shifted by (t, y, x) = {s}" for s, v in res["shifts"].items())
        + f". Pipeline sector vs generator sector: IoU median {median(res['iou']):.3f} (min {min(res['iou']):.3f}, "
        f"below 0.9 on {int(np.sum(np.array(res['iou']) < 0.9))} of {len(res['iou'])} clips).",
        "",
        (f"Behaviour: with random content outside the sector (RandOutsideSector, seeded) "
        f"{_pct(res['outside'].changed)} of the predicted views change."),
        "",
        "### (a) sanity, (b) sector mass, (d) cost: target = predicted class",
        "",
        (f"Sanity on {res['sane_n']} clips ({args.sanity_per_view} per view): median Spearman rho of |map| inside "
        "the sector between the trained network and copies with the top k of its "
        f"{res['n_layers']} weighted layers re-initialised (cascading from the "
        "output); in brackets clips whose randomised map was constant (left out). Pass: < 0.5 at every step. "
        f"Mass: median over all {len(windows)} clips (10th-90th percentile) of the share of |map| inside the "
        "generator's sector ('true sector') or inside the mask the pipeline estimated and applied: (i) w.r.t. "
        "the network's input, the masked clip; (ii) w.r.t. the unmasked clip with the masking counted as part of "
        "the model; clips whose map is zero everywhere ('blank maps') have no share and are left out. Seconds: one clip (1 x 1 x 8 x 64 x 64), median of "
        f"{args.timing_clips}."),
        "",
        "| method | " + " | ".join(f"rho, top {k}" for k, _, _ in res["methods"][0]["steps"])
        + " | sanity | (i) input, true sector | (i) 10-90 % | (i) in pipeline mask | (ii) through the mask, true "
        "sector | (ii) in pipeline mask | blank maps | s / clip |",
        "|---|" + "---|" * (len(res["methods"][0]["steps"]) + 8),
    ]
    for m in res["methods"]:
        rhos = " | ".join(f"{r:.2f}" + (f" ({c})" if c else "") for _, r, c in m["steps"])
        ms = m["mass"]
        lines.append(f"| {m['row']} | {rhos} | {'pass' if m['passes'] else 'fail'} | {_pct(ms['i', 'truth'])} | "
                     f"{_pct(m['mass_i_q'][0])}-{_pct(m['mass_i_q'][1])} | {_pct(ms['i', 'mask'])} | "
                     f"{_pct(ms['ii', 'truth'])} | {_pct(ms['ii', 'mask'])} | {m['blank']} | {m['seconds']:.3f} |")
    lv = res["lvot"]
    margin = lv["margin"]
    lines += [
        "",
        f"### (c) A5C vs A4C: the A5C-minus-A4C logit on {lv['n']} A5C test clips",
        "",
        (f"Margin positive on {int((margin > 0).sum())} of {lv['n']} (median {np.median(margin):+.2f}). Density = "
        "share of |map| in a structure / share of the (T, H, W) sector volume it covers, median over clips "
        "(1 = no preference); structures present in at least half the clips are ranked. 'With wall' = the LVOT "
        "grown by one pixel in-plane."),
        "",
        "| method | sanity (a) | LVOT density | LVOT rank | LVOT with wall | top three (density) |",
        "|---|---|---|---|---|---|",
    ]
    sanity_of = {m["row"]: m["passes"] for m in res["methods"]}
    for row, med, ranked, walls in lv["rows"]:
        rank = f"{ranked.index(LVOT) + 1} of {len(ranked)}" if LVOT in ranked else "-"
        top = ", ".join(f"{STRUCTURES[k]} {med[k]:.2f}" for k in ranked[:3])
        lines.append(f"| {row} | {'pass' if sanity_of[row] else 'fail'} | {med.get(LVOT, float('nan')):.2f} | "
                     f"{rank} | {walls:.2f} | {top} |")
    lines += [
        "",
        (f"Deletion (Gaussian blur, sigma 4 px, in every frame): LVOT with its wall blurred away: median margin drop "
        f"{median(lv['lvot_drop']):+.2f} (LVOT {_pct(median(lv['lvot_area']))} of the sector volume); the same shape "
        f"moved to random places in the sector off the LVOT (16 per clip, median per clip): "
        f"{median(lv['control_drop']):+.2f}; the LVOT costs more than its control on "
        f"{int(np.sum(np.array(lv['lvot_drop']) > np.array(lv['control_drop'])))} of {len(lv['lvot_drop'])} clips."),
        "",
        "| structure blurred (grown by 1 px) | margin drop | area (% of sector volume) | clips |",
        "|---|---|---|---|",
        *(f"| {n} | {d:+.2f} | {100 * a:.1f} | {c} |" for n, d, a, c in lv["blur"]),
        "",
        "### (d) temporal importance: each frame's share of |map| (median over clips; frame 0 = ED)",
        "",
        "| map | clips | " + " | ".join(f"f{t}" for t in range(args_frames(res))) + " |",
        "|---|---|" + "---|" * args_frames(res),
    ]
    for m in res["methods"]:
        lines.append(f"| {m['row']}, predicted class | all {len(windows)} | "
                     + " | ".join(f"{v:.3f}" for v in np.median(m["curve"], axis=0)) + " |")
    for m in res["methods"]:
        lines.append(f"| {m['row']}, all layers re-initialised | sanity {res['sane_n']} | "
                     + " | ".join(f"{v:.3f}" for v in np.nanmedian(m["random_curve"], axis=0)) + " |")
    for row, curve in lv["curves"].items():
        lines.append(f"| {row}, A5C-A4C | A5C | " + " | ".join(f"{v:.3f}" for v in np.median(curve, axis=0)) + " |")
    for row in ("Saliency", f"GuidedGradCam {GRADCAM_LAYER}", "Occlusion 2x16x16"):
        for i, curve in enumerate(lv["curves"][row][:3]):
            lines.append(f"| {row}, A5C-A4C | {lv['clips'][i]} | " + " | ".join(f"{v:.3f}" for v in curve) + " |")
    lines.append("| LVOT label area (px) | A5C | " + " | ".join(
        f"{v:.0f}" for v in np.median(lv["lvot_area_per_frame"], axis=0)) + " |")
    return "\n".join(lines) + "\n"


def args_frames(res: dict) -> int:
    return int(res["windows"][0].image.shape[1])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle-root", required=True, help="trained bundle output (models/model.pt)")
    p.add_argument("--dataset-dir", required=True, help="synthetic dataset (datalist.json, truth/)")
    p.add_argument("--bundle-dir", default=str(BUNDLE_DIR), help="the bundle's folder (configs/)")
    p.add_argument("--study-key", default="case")
    p.add_argument("--split", default="test")
    p.add_argument("--per-view", type=int, default=3, help="clips of each view other than A4C / A5C")
    p.add_argument("--pair-clips", type=int, default=None, help="A4C and A5C clips each (default: all)")
    p.add_argument("--sanity-per-view", type=int, default=3, help="clips of each view in the sanity check")
    p.add_argument("--sanity-steps", type=int, default=4, help="cascading randomisation steps")
    p.add_argument("--timing-clips", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--alignment-png", default=None, help="draw the truth labels over a few clips here")
    p.add_argument("--maps-png", default=None, help="draw two A5C clips' A5C-minus-A4C maps here")
    p.add_argument("--markdown", default=None, help="write the report here")
    args = p.parse_args(argv)
    load = os.getloadavg()
    res = run(args)
    text = markdown(args, argv, load, res)
    print(text)
    if args.markdown:
        tmp = Path(args.markdown).with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
