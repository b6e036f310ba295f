"""Benchmark: do the saliency maps explain a trained view classifier? (issue 6)

Trains a small single-frame view classifier on synthetic echo frames rendered in memory (11 views, a new
patient per clip), then measures for each Captum method (and IG / Occlusion with a blurred reference):

(a) Adebayo sanity check: Spearman rank correlation of |map| between the trained network and copies with
    the top k layers re-initialised (cascading) and with all layers re-initialised;
(b) share of the attribution mass inside the scan sector (generator's ``sector_mask``), with respect to the
    network's input and, for masked inputs, through the masking step; and how often the predicted view
    changes when the outside of a test frame is replaced by random content;
(c) on A5C test frames, the A5C-vs-A4C logit difference: attribution density (mass share / area share)
    per anatomical structure (generator's ``anatomy`` labels) - the LVOT / aorta is what tells the views
    apart - and the margin lost when each structure is blurred away; also on a dedicated A4C-vs-A5C model;
(d) seconds per explained sample (batch of one, median over the test samples) and per 16-frame clip.

Conditions (``--conditions``): ``masked`` (trained and tested on frames with everything outside the scan
sector black), ``raw`` (frames as rendered, with the burned-in vendor text, probe name and depth scale
beside the sector - a shortcut, since the depth range depends on the view), ``randout`` (trained with
random content outside the sector, :class:`echo_monai.transforms.RandOutsideSector`, tested as rendered),
``maskout`` (trained on masked frames with that random content, tested on masked frames: the bundle's
chain SectorMaskd -> RandOutsideSectord), ``gradpen`` (random content plus an input-gradient penalty outside
the sector), and ``randout_masked`` / ``gradpen_masked`` (those models tested on masked frames).

Run:  python benchmarks/bench_saliency.py [--conditions masked,raw,...] [--markdown PATH] [--cache DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from torch import nn

from echo_monai.explain.anatomy import mass_in_region, mass_inside, mass_per_structure
from echo_monai.explain.attribution import METHODS, ClassContrast, attribute, blurred
from echo_monai.explain.sanity import cascading_randomisation, outside_sensitivity, spearman_rank_correlation
from echo_monai.networks import GatedSpatioTemporalNet, SmallFrameCNN
from echo_monai.synthetic import ANATOMY_LABELS, random_heart, random_settings, render_clip
from echo_monai.transforms.sector import RandOutsideSector
from echo_monai.views import VIEW_NAMES

LVOT = 6  # ANATOMY_LABELS: aorta / LVOT
STRUCTURES = {k: v for k, v in ANATOMY_LABELS.items() if k != 0}
SANITY_THRESHOLD = 0.5
#: (row label, Captum method, extra arguments): the six methods, plus IG and Occlusion with a blurred
#: reference instead of a black one (a black reference makes IG follow brightness and blinds Occlusion to
#: dark blood pools such as the LVOT).
VARIANTS: tuple[tuple[str, str, dict], ...] = (
    *((m, m, {}) for m in METHODS),
    ("IntegratedGradients, blur baseline", "IntegratedGradients", {"baseline": "blur"}),
    ("Occlusion, blur baseline", "Occlusion", {"baseline": "blur"}),
)


@dataclass
class Frames:
    images: np.ndarray  # (N, H, W) float32 in [0, 1]
    labels: np.ndarray  # (N,) view index
    anatomy: np.ndarray  # (N, H, W) uint8
    sector: np.ndarray  # (N, H, W) bool

    def masked(self) -> Frames:
        """The frames with everything outside the scan sector black."""
        return Frames(self.images * self.sector, self.labels, self.anatomy, self.sector)


class MaskedPipeline(nn.Module):
    """``model(x * sector)``: the network behind the sector-masking step, explained on the raw frames.

    The sector travels as Captum's ``additional_forward_args`` so that methods that expand the batch
    (IG steps, SmoothGrad samples, occlusion copies) expand it too.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, sector: torch.Tensor) -> torch.Tensor:
        return self.model(x * sector)


def render_frames(clips_per_view: int, frames_per_clip: int, size: int, seed: int,
                  views: tuple[str, ...] = VIEW_NAMES, phase: str = "spread") -> tuple[Frames, Frames]:
    """Frames of ``clips_per_view`` clips of each view (labels = index in ``views``); the last quarter of each
    view's clips is the test set. ``phase``: ``"spread"`` takes frames evenly over the clip, ``"systole"`` the
    most contracted ones (the generator's truth), when the LVOT of an A5C view is open."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list] = {"train": [], "test": []}
    n_test = max(2, clips_per_view // 4)
    for view_idx, view in enumerate(views):
        for j in range(clips_per_view):
            settings = random_settings(view, rng, n_frames=16, size=(size, size), ecg_form="waveform")
            clip = render_clip(settings, random_heart(rng))
            if phase == "systole":
                idx = np.sort(np.argsort(-clip.contraction, kind="stable")[:frames_per_clip])
            else:
                idx = np.linspace(0, clip.frames.shape[0] - 1, frames_per_clip).round().astype(int)
            frames = clip.frames[idx].astype(np.float32) / 255.0
            if frames.ndim == 4:
                frames = frames.mean(axis=-1)
            split = "test" if j >= clips_per_view - n_test else "train"
            for k, i in enumerate(idx):
                parts[split].append((frames[k], view_idx, clip.anatomy[i], clip.sector_mask))
    out = []
    for split in ("train", "test"):
        images, labels, anatomy, sector = zip(*parts[split], strict=True)
        out.append(Frames(np.stack(images), np.array(labels), np.stack(anatomy), np.stack(sector)))
    return out[0], out[1]


def make_model(num_classes: int = len(VIEW_NAMES), widths: tuple[int, ...] = (16, 32, 64, 96)) -> nn.Module:
    """A small image view classifier: SmallFrameCNN trunk + linear head, (B, 1, H, W) -> (B, num_classes)."""
    return nn.Sequential(SmallFrameCNN(1, widths), nn.Dropout(0.2), nn.Linear(widths[-1], num_classes))


def trained_model(name: str, num_classes: int, train_set: Frames, epochs: int, args: argparse.Namespace,
                  outside: RandOutsideSector | None = None, grad_penalty: float = 0.0) -> tuple[nn.Module, float]:
    """Train (or load from ``--cache``) a model; returns it in eval mode and the training seconds."""
    model = make_model(num_classes)
    # Keyed by the training frames themselves: a change to the generator must not reuse stale weights.
    digest = hashlib.sha1(train_set.images.tobytes() + train_set.labels.tobytes()).hexdigest()[:12]
    tag = f"_gp{grad_penalty:g}" if grad_penalty > 0 else ""
    cache = None if args.cache is None else os.path.join(
        args.cache, f"saliency_{name}_{digest}_{args.size}px_{epochs}ep_s{args.seed}{tag}")
    if cache is not None and os.path.isfile(cache + ".pt"):
        model.load_state_dict(torch.load(cache + ".pt", weights_only=True))
        with open(cache + ".json", encoding="utf-8") as f:
            train_s = float(json.load(f)["train_s"])
        print(f"[{name}] weights from {cache}.pt (trained in {train_s:.0f} s)", flush=True)
    else:
        train_s = train(model, train_set, epochs, args.seed, outside, grad_penalty)
        if cache is not None:
            os.makedirs(args.cache, exist_ok=True)
            torch.save(model.state_dict(), cache + ".pt")
            with open(cache + ".json", "w", encoding="utf-8") as f:
                json.dump({"train_s": train_s}, f)
    return model.eval(), train_s


def lvot_region(anatomy: np.ndarray, sector: np.ndarray) -> np.ndarray:
    """The LVOT / aortic root with its walls and cusps: the lumen label grown by one pixel, inside the sector.

    The lumen is dark blood like the atria beside it; what marks it in B-mode is its bright wall and the
    aortic cusps (drawn one pixel thick at 64 px, and labelled with the other walls and valves)."""
    return ndimage.binary_dilation(anatomy == LVOT) & sector


def structure_analysis(name: str, model: nn.Module, test_set: Frames, a5c: int, a4c: int) -> dict:
    """(c): where the A5C-minus-A4C logit comes from on A5C test frames showing the LVOT.

    Attribution density (mass share / area share, inside the sector) per structure for every method, and
    the density of the LVOT with its walls and cusps; and a causal check: the margin lost when one
    structure (grown by a pixel) is replaced by the blurred image there, i.e. its detail removed.
    """
    sel = np.flatnonzero((test_set.labels == a5c)
                         & (test_set.anatomy == LVOT).reshape(len(test_set.labels), -1).any(axis=1))
    xa = torch.from_numpy(test_set.images[sel])[:, None]
    contrast = ClassContrast(model, a5c, a4c)
    with torch.no_grad():
        margin = contrast(xa)
    rows = []
    for label_row, method, extra in VARIANTS:
        args_m = {**method_args(method), **extra}
        if "layer" in args_m:
            args_m["layer"] = "model." + args_m["layer"]
        maps = attribute(contrast, xa, None, method, **args_m)
        dens: dict[int, list[float]] = {}
        rim = []
        for i, n in enumerate(sel):
            for label, sm in mass_per_structure(maps[i], test_set.anatomy[n], STRUCTURES,
                                                within=test_set.sector[n]).items():
                if np.isfinite(sm.density):
                    dens.setdefault(label, []).append(sm.density)
            rim.append(mass_in_region(maps[i], lvot_region(test_set.anatomy[n], test_set.sector[n]),
                                      within=test_set.sector[n]).density)
        # Structures present in at least half of the frames, so one lucky frame does not rank first.
        median = {label: float(np.median(v)) for label, v in dens.items() if len(v) >= max(1, len(sel) // 2)}
        ranked = sorted(median, key=median.get, reverse=True)
        rim_density = float(np.nanmedian(rim))
        rows.append((label_row, median, ranked, rim_density))
        rank = ranked.index(LVOT) + 1 if LVOT in ranked else "-"
        print(f"[{name}] {label_row:36s} LVOT density {median.get(LVOT, float('nan')):.2f} (with walls "
              f"{rim_density:.2f}), rank {rank} of {len(ranked)}; top: {[STRUCTURES[k] for k in ranked[:3]]}",
              flush=True)

    # Causal check: blur each structure away in turn (sigma 4 px keeps its brightness, removes its edges).
    smooth = blurred(xa, max(xa.shape[-2:]) / 16)
    drops: dict[int, list[tuple[float, float]]] = {}
    for label in STRUCTURES:
        regions = np.stack([ndimage.binary_dilation(test_set.anatomy[n] == label) & test_set.sector[n] for n in sel])
        present = regions.reshape(len(sel), -1).any(axis=1)
        if present.sum() < max(1, len(sel) // 2):
            continue
        r = torch.from_numpy(regions)[:, None]
        with torch.no_grad():
            drop = margin - contrast(torch.where(r, smooth, xa))
        area = regions.reshape(len(sel), -1).sum(1) / test_set.sector[sel].reshape(len(sel), -1).sum(1)
        drops[label] = [(float(d), float(a)) for d, a, p in zip(drop, area, present, strict=True) if p]
    blur_rows = sorted(((label, float(np.median([d for d, _ in v])), float(np.median([a for _, a in v])))
                        for label, v in drops.items()), key=lambda t: t[1], reverse=True)
    for label, d, a in blur_rows:
        print(f"[{name}] blur {STRUCTURES[label]:55s} margin drop {d:+.2f} (area {100 * a:.1f} % of sector)",
              flush=True)
    return {"n": len(sel), "positive": float((margin > 0).float().mean()),
            "margin": float(margin.median()), "rows": rows, "blur": blur_rows}


def train(model: nn.Module, data: Frames, epochs: int, seed: int, outside: RandOutsideSector | None = None,
          grad_penalty: float = 0.0) -> float:
    """AdamW with one-cycle schedule, intensity augmentation; returns the training seconds.

    ``outside``: random content outside the scan sector in every batch (option (a) of the benchmark).
    ``grad_penalty``: weight of Ross et al.'s input-gradient penalty ("Right for the right reasons", IJCAI
    2017) outside the sector: the squared input gradient of the summed log-probabilities, summed over the
    outside pixels (option (c)); it asks for a network whose output does not move with those pixels.
    """
    torch.manual_seed(seed)
    if outside is not None:
        outside.set_random_state(seed)
    x = torch.from_numpy(data.images)[:, None]
    sector = torch.from_numpy(data.sector)
    y = torch.from_numpy(data.labels).long()
    batch = min(32, len(x))
    steps = epochs * (len(x) // batch)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.2)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    start = time.perf_counter()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for b in range(len(x) // batch):
            sel = order[b * batch:(b + 1) * batch]
            xb = x[sel] * torch.empty(len(sel), 1, 1, 1).uniform_(0.8, 1.2)
            xb = xb.clamp(0, 1) ** torch.empty(len(sel), 1, 1, 1).uniform_(0.7, 1.4)
            if outside is not None:
                xb = torch.stack([outside(xb[i], sector[int(j)]) for i, j in enumerate(sel)])
            opt.zero_grad()
            if grad_penalty > 0:
                xb.requires_grad_(True)
            logits = model(xb)
            loss = loss_fn(logits, y[sel])
            if grad_penalty > 0:
                (g,) = torch.autograd.grad(torch.log_softmax(logits, 1).sum(), xb, create_graph=True)
                loss = loss + grad_penalty * (g[:, 0] ** 2 * ~sector[sel]).sum() / len(sel)
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    return time.perf_counter() - start


def accuracy(model: nn.Module, data: Frames) -> tuple[float, float]:
    """Overall accuracy and A4C/A5C accuracy on ``data``."""
    with torch.no_grad():
        pred = model(torch.from_numpy(data.images)[:, None]).argmax(1).numpy()
    pair = np.isin(data.labels, [VIEW_NAMES.index("A4C"), VIEW_NAMES.index("A5C")])
    return float((pred == data.labels).mean()), float((pred[pair] == data.labels[pair]).mean())


def outside_swap(model: nn.Module, data: Frames, seed: int) -> tuple[float, float]:
    """Does the network respond to what lies outside the sector? The share of test frames whose predicted
    view changes when the outside is replaced by random content, and the accuracy on those frames."""
    check = outside_sensitivity(model, torch.from_numpy(data.images)[:, None], data.sector, seed=seed,
                                batch_size=len(data.images))
    return check.changed, float((check.after == data.labels).mean())


def method_args(method: str) -> dict:
    layer = {"layer": "0.features.5"} if method in ("LayerGradCam", "GuidedGradCam") else {}
    return {**layer, **({"n_steps": 16} if method == "IntegratedGradients" else {}),
            **({"nt_samples": 8, "noise_std": 0.1} if method == "NoiseTunnel" else {})}


def explain(model: nn.Module, x: torch.Tensor, target: torch.Tensor | None, method: str, extra: dict,
            forward_args: tuple | None = None) -> torch.Tensor:
    args_m = {**method_args(method), **extra}
    if forward_args is not None and "layer" in args_m:
        args_m["layer"] = "model." + args_m["layer"]  # inside MaskedPipeline
    return attribute(model, x, target, method, additional_forward_args=forward_args, **args_m)


def per_sample_seconds(model: nn.Module, x: torch.Tensor, target: torch.Tensor, method: str, extra: dict) -> float:
    times = []
    for i in range(len(x)):
        start = time.perf_counter()
        explain(model, x[i:i + 1], target[i:i + 1], method, extra)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def sanity_check(maps: torch.Tensor, x: torch.Tensor, target: torch.Tensor, sector: torch.Tensor,
                 randomised: list[tuple[str, nn.Module]], method: str, extra: dict) -> dict[str, tuple[float, int]]:
    """(a): {step: (median Spearman rho inside the sector, samples whose randomised map was constant)}."""
    out = {}
    for rname, m in randomised:
        rho = spearman_rank_correlation(maps, explain(m, x, target, method, extra), within=sector)
        finite = rho[np.isfinite(rho)]
        out[rname] = (float(np.median(finite)) if finite.size else float("nan"), int(rho.size - finite.size))
    return out


def _rho(value: float, constant: int) -> str:
    return f"{value:.2f}" + (f" ({constant})" if constant else "")


#: condition -> (model, test frames, title). The model "randout" is trained on frames as rendered whose
#: outside is replaced by random content (RandOutsideSector, ``--outside-prob``) in every batch; "gradpen"
#: in addition with the input-gradient penalty outside the sector (``--grad-penalty``); "maskout" is trained on
#: masked frames with the same random content (the black outside is what the rest of the frames keep).
CONDITIONS: dict[str, tuple[str, str, str]] = {
    "masked": ("masked", "masked", "trained and tested on frames masked to the scan sector (option b)"),
    "raw": ("raw", "raw", "frames as rendered (burned-in text and depth scale outside the sector)"),
    "randout": ("randout", "raw", ("trained with random content outside the sector (option a), tested on "
                                  "frames as rendered")),
    "randout_masked": ("randout", "masked", ("trained with random content outside the sector, tested on "
                                            "masked frames (options a + b)")),
    "maskout": ("maskout", "masked", ("trained on masked frames whose black outside is replaced by random content "
                                      "(options a + b as the bundle would chain them: SectorMaskd, then "
                                      "RandOutsideSectord), tested on masked frames")),
    "gradpen": ("gradpen", "raw", ("trained with random content and an input-gradient penalty outside the sector "
                                   "(options a + c), tested on frames as rendered")),
    "gradpen_masked": ("gradpen", "masked", ("trained with random content and an input-gradient penalty outside "
                                             "the sector, tested on masked frames (options a + b + c)")),
}


@dataclass
class ConditionResult:
    name: str
    train_s: float
    accuracy: float
    pair_accuracy: float
    n_explained: int
    n_layers: int
    randomised: list[str]
    rows: list  # (label, {randomised name: (median rho, n constant)}, sector share, pipeline share, s / sample)
    structure: dict
    swap_changed: float
    swap_accuracy: float


def run_condition(name: str, model: nn.Module, train_s: float, test_raw: Frames, args: argparse.Namespace
                  ) -> ConditionResult:
    masked_input = CONDITIONS[name][1] == "masked"
    test_set = test_raw.masked() if masked_input else test_raw
    acc, pair_acc = accuracy(model, test_set)
    changed, swap_acc = outside_swap(model, test_set, args.seed)
    print(f"[{name}] trained in {train_s:.0f} s: test accuracy {acc:.3f}, A4C/A5C {pair_acc:.3f}; random outside: "
          f"{100 * changed:.1f} % of predictions change, accuracy {swap_acc:.3f}", flush=True)

    # Explained samples: one frame from each of the first test clips of every view; target = predicted class.
    pick = np.concatenate([np.flatnonzero(test_set.labels == v)[args.frames_per_clip // 2:: args.frames_per_clip]
                           [: args.explain_per_view] for v in range(len(VIEW_NAMES))])
    x = torch.from_numpy(test_set.images[pick])[:, None]
    x_raw = torch.from_numpy(test_raw.images[pick])[:, None]
    sector = torch.from_numpy(test_set.sector[pick])
    with torch.no_grad():
        target = model(x).argmax(1)
    randomised = [(f"top {k}", m) for k, m in cascading_randomisation(model, steps=3, seed=args.seed)]
    n_layers = int(randomised[-1][0].split()[1])
    randomised[-1] = ("all", randomised[-1][1])

    rows = []
    for label, method, extra in VARIANTS:
        maps = explain(model, x, target, method, extra)
        sanity = sanity_check(maps, x, target, sector, randomised, method, extra)
        share = float(np.nanmedian([mass_inside(maps[i], sector[i]) for i in range(len(pick))]))
        pipeline = float("nan")
        if masked_input:
            # The same network behind the masking step, explained with respect to the frames as rendered.
            pmaps = explain(MaskedPipeline(model), x_raw, target, method, extra, (sector[:, None].float(),))
            pipeline = float(np.nanmedian([mass_inside(pmaps[i], sector[i]) for i in range(len(pick))]))
        seconds = per_sample_seconds(model, x, target, method, extra)
        rows.append((label, sanity, share, pipeline, seconds))
        print(f"[{name}] {label:36s} spearman {sanity}  sector {share:.3f} (pipeline {pipeline:.3f})  "
              f"{seconds:.3f} s/sample", flush=True)

    structure = structure_analysis(name, model, test_set, VIEW_NAMES.index("A5C"), VIEW_NAMES.index("A4C"))
    return ConditionResult(name, train_s, acc, pair_acc, len(pick), n_layers, [r for r, _ in randomised], rows,
                           structure, changed, swap_acc)


@dataclass
class PairResult:
    n_train: int
    n_test: int
    train_s: float
    accuracy: float
    structure: dict


def run_pair(args: argparse.Namespace) -> PairResult:
    """(c) on a dedicated A4C-vs-A5C frame classifier (sector-masked), the pair the 11-view model confuses."""
    train_set, test_set = render_frames(args.pair_clips, args.frames_per_clip, args.size, args.seed + 1,
                                        views=("A4C", "A5C"), phase=args.pair_phase)
    train_set, test_set = train_set.masked(), test_set.masked()
    model, train_s = trained_model("pair", 2, train_set, args.pair_epochs, args)
    with torch.no_grad():
        acc = float((model(torch.from_numpy(test_set.images)[:, None]).argmax(1).numpy() == test_set.labels).mean())
    print(f"[pair] A4C vs A5C test accuracy {acc:.3f}", flush=True)
    structure = structure_analysis("pair", model, test_set, 1, 0)
    # (a) on this model too: 16 test frames per view, one per clip, target = predicted class.
    pick = np.concatenate([np.flatnonzero(test_set.labels == v)[:: args.frames_per_clip][:16] for v in (0, 1)])
    x = torch.from_numpy(test_set.images[pick])[:, None]
    with torch.no_grad():
        target = model(x).argmax(1)
    randomised = [(f"top {k}", m) for k, m in cascading_randomisation(model, steps=3, seed=args.seed)]
    structure["sanity"] = {}
    for label, method, extra in VARIANTS:
        sanity = sanity_check(explain(model, x, target, method, extra), x, target,
                              torch.from_numpy(test_set.sector[pick]), randomised, method, extra)
        structure["sanity"][label] = max(v for v, _ in sanity.values())
        print(f"[pair] {label:36s} spearman {sanity}", flush=True)
    return PairResult(len(train_set.labels), len(test_set.labels), train_s, acc, structure)


def video_timing(size: int, frames: int, repeats: int, seed: int) -> list[tuple[str, float]]:
    """Seconds per clip per method for the bundle's video network (untrained: timing only)."""
    torch.manual_seed(seed)
    net = GatedSpatioTemporalNet(1, len(VIEW_NAMES)).eval()
    x = torch.rand(1, 1, frames, size, size)
    out = []
    for label, method, extra in VARIANTS:
        args_m = {**method_args(method), **extra}
        if "layer" in args_m:
            args_m["layer"] = "frames.encoder.features.5"
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            attribute(net, x, 0, method, **args_m)
            times.append(time.perf_counter() - start)
        out.append((label, float(np.median(times))))
        print(f"[video] {label:36s} {out[-1][1]:.2f} s/clip", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips-per-view", type=int, default=24)
    ap.add_argument("--frames-per-clip", type=int, default=4)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--explain-per-view", type=int, default=3, help="test clips per view for (a), (b), (d)")
    ap.add_argument("--conditions", default="masked,raw,randout,randout_masked",
                    help=f"comma-separated, from {', '.join(CONDITIONS)} ('' for none)")
    ap.add_argument("--outside-prob", type=float, default=0.8,
                    help="probability of random content outside the sector per training frame (model randout)")
    ap.add_argument("--grad-penalty", type=float, default=1e-3,
                    help="weight of the input-gradient penalty outside the sector (model gradpen)")
    ap.add_argument("--pair-clips", type=int, default=48, help="clips per view for the A4C-vs-A5C model (0: skip)")
    ap.add_argument("--pair-epochs", type=int, default=10)
    ap.add_argument("--pair-phase", choices=("systole", "spread"), default="systole",
                    help="frames of the A4C-vs-A5C clips: the most contracted (LVOT open) or spread over the clip")
    ap.add_argument("--video-frames", type=int, default=16, help="clip length for the video timing (0: skip)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default=None, help="folder to keep / reuse the trained weights")
    ap.add_argument("--markdown", default=None, help="write the results as markdown to this file")
    args = ap.parse_args(argv)
    names = [c for c in args.conditions.split(",") if c]
    for name in names:
        if name not in CONDITIONS:
            raise SystemExit(f"unknown condition {name!r}: use some of {', '.join(CONDITIONS)}")
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]

    t0 = time.perf_counter()
    train_set, test_set = (render_frames(args.clips_per_view, args.frames_per_clip, args.size, args.seed)
                           if names else (None, None))
    render_s = time.perf_counter() - t0
    n_train, n_test = (0, 0) if train_set is None else (len(train_set.labels), len(test_set.labels))
    if names:
        print(f"rendered {n_train} training / {n_test} test frames in {render_s:.0f} s", flush=True)
    models: dict[str, tuple[nn.Module, float]] = {}
    results = []
    for name in names:
        model_name = CONDITIONS[name][0]
        if model_name not in models:
            outside = RandOutsideSector(args.outside_prob) if model_name in ("randout", "maskout", "gradpen") else None
            penalty = args.grad_penalty if model_name == "gradpen" else 0.0
            frames = train_set.masked() if model_name in ("masked", "maskout") else train_set
            models[model_name] = trained_model(model_name, len(VIEW_NAMES), frames, args.epochs, args, outside,
                                               penalty)
        results.append(run_condition(name, *models[model_name], test_set, args))
    pair = run_pair(args) if args.pair_clips > 0 else None
    video = video_timing(args.size, args.video_frames, 3, args.seed) if args.video_frames > 0 else []
    report = _markdown(args, argv, load, render_s, n_train, n_test, results, pair, video)
    print(report)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(report)
    return 0


def _structure_tables(st: dict) -> list[str]:
    lines = [
        ("Density = share of the map's mass in a structure / share of the sector area it covers (1 = no "
         "preference), median over frames, inside the scan sector; structures present in at least half of the "
         "frames are ranked. 'With walls' = the LVOT lumen grown by one pixel (its wall and aortic cusps)."),
        "",
    ]
    sanity = st.get("sanity")
    if sanity:
        lines[0] += (" Sanity: the largest median rho over the randomisation steps on 32 test frames of this "
                     "model (pass < 0.5).")
        lines += [("| method | sanity: max rho | LVOT density | LVOT rank | LVOT with walls | top three structures "
                  "(density) |"), "|---|---|---|---|---|---|"]
    else:
        lines += ["| method | LVOT density | LVOT rank | LVOT with walls | top three structures (density) |",
                  "|---|---|---|---|---|"]
    for label, median, ranked, rim in st["rows"]:
        top = ", ".join(f"{STRUCTURES[k]} {median[k]:.2f}" for k in ranked[:3])
        rank = f"{ranked.index(LVOT) + 1} of {len(ranked)}" if LVOT in ranked else "-"
        check = "" if not sanity else f" {sanity[label]:.2f} ({'pass' if sanity[label] < SANITY_THRESHOLD else 'fail'}) |"
        lines.append(f"| {label} |{check} {median.get(LVOT, float('nan')):.2f} | {rank} | {rim:.2f} | {top} |")
    lines += [
        "",
        (f"Blurring one structure (grown by a pixel) away, sigma {64 // 16} px at 64 px: median drop of the "
         f"A5C-minus-A4C margin (median margin {st['margin']:+.2f}), largest first."),
        "",
        "| structure blurred | margin drop | area (% of sector) |",
        "|---|---|---|",
    ] + [f"| {STRUCTURES[k]} | {d:+.2f} | {100 * a:.1f} |" for k, d, a in st["blur"]]
    return lines


def _markdown(args, argv, load, render_s, n_train, n_test, results, pair, video) -> str:
    cmd = "python benchmarks/bench_saliency.py " + " ".join(sys.argv[1:] if argv is None else argv)
    lines = [
        "# Saliency benchmark (issue 6)",
        "",
        (f"Command: `{cmd.strip()}` ({platform.machine()}, torch {torch.__version__}, {args.threads} threads; "
         f"1-min load average at start {load:.1f} on 2 cores: other helpers were running, so timings are upper "
         "bounds)."),
        "",
        (f"Data: {n_train} training / {n_test} test frames rendered in {render_s:.0f} s, {args.size} px grey, "
         f"{args.clips_per_view} clips per view ({max(2, args.clips_per_view // 4)} held out), "
         f"{args.frames_per_clip} frames per clip, a new synthetic patient per clip. Model: SmallFrameCNN "
         f"(16, 32, 64, 96) + linear head, {args.epochs} epochs. Grad-CAM layer `0.features.5` (8x8 px).")
        if results else "Model: SmallFrameCNN (16, 32, 64, 96) + linear head. Grad-CAM layer `0.features.5` (8x8 px).",
    ]
    for r in results:
        lines += [
            "",
            f"## Condition `{r.name}`: {CONDITIONS[r.name][2]}",
            "",
            (f"Training {r.train_s:.0f} s; test accuracy {r.accuracy:.3f} (11 views), A4C/A5C frames "
             f"{r.pair_accuracy:.3f}. With the outside of every test frame replaced by random content "
             f"(RandOutsideSector): {100 * r.swap_changed:.1f} % of the predicted views change, accuracy "
             f"{r.swap_accuracy:.3f}."),
            "",
            f"### (a) sanity, (b) sector mass, (d) speed: {r.n_explained} test frames, target = predicted class",
            "",
            (f"Spearman rank correlation of |map| inside the scan sector (median over samples) between the trained "
             f"network and copies with the top k of its {r.n_layers} weighted layers re-initialised (cascading "
             "from the output) and with all re-initialised; in brackets the samples whose randomised map was "
             "constant (no ranking, left out). Pass: below 0.5 at every step. Mass in sector: median over "
             "samples of the share of |map| inside the sector, with respect to the network's input; 'through "
             "the mask': with respect to the frames as rendered, the masking step counted as part of the model."),
            "",
            "| method | " + " | ".join(f"rho, {n}" for n in r.randomised)
            + " | sanity passes | mass in sector | through the mask | s / sample (1 frame) |",
            "|---|" + "---|" * (len(r.randomised) + 4),
        ]
        for label, sanity, share, pipeline, seconds in r.rows:
            ok = "yes" if all(v < SANITY_THRESHOLD for v, _ in sanity.values()) else "no"
            through = "-" if not np.isfinite(pipeline) else f"{100 * pipeline:.1f} %"
            lines.append(f"| {label} | " + " | ".join(_rho(*sanity[n]) for n in r.randomised)
                         + f" | {ok} | {100 * share:.1f} % | {through} | {seconds:.3f} |")
        st = r.structure
        lines += [
            "",
            (f"### (c) A5C vs A4C: attribution of the A5C-minus-A4C logit ({st['n']} A5C test frames with the "
             f"LVOT in view; margin positive on {100 * st['positive']:.0f} %)"),
            "",
        ] + _structure_tables(st)
    if pair is not None:
        st = pair.structure
        lines += [
            "",
            "## (c) on a dedicated A4C-vs-A5C classifier (frames masked to the sector)",
            "",
            (f"Same network with 2 outputs, {pair.n_train} training / {pair.n_test} test frames ({args.pair_clips} "
             f"clips per view, new patients, seed {args.seed + 1}, frames: {args.pair_phase}), {args.pair_epochs} "
             f"epochs in {pair.train_s:.0f} s; test accuracy {pair.accuracy:.3f}. {st['n']} A5C test frames with "
             f"the LVOT in view; A5C-minus-A4C margin positive on {100 * st['positive']:.0f} %."),
            "",
        ] + _structure_tables(st)
    if video:
        lines += [
            "",
            (f"## (d) video: seconds per explained clip, GatedSpatioTemporalNet (bundle defaults, untrained: "
             f"timing only), 1 x {args.video_frames} x {args.size} x {args.size}, median of 3"),
            "",
            "| method | s / clip |",
            "|---|---|",
        ] + [f"| {m} | {t:.2f} |" for m, t in video]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
