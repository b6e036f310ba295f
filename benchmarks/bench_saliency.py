"""Benchmark: do the saliency maps explain a trained view classifier? (issue 6)

Trains a small single-frame view classifier on synthetic echo frames rendered in memory (11 views, a new
patient per clip), then measures for each Captum method:

(a) Adebayo sanity check: Spearman rank correlation of |map| between the trained network and copies with
    the top k layers re-initialised (cascading) and with all layers re-initialised;
(b) share of the attribution mass inside the scan sector (generator's ``sector_mask``);
(c) on A5C test frames, the A5C-vs-A4C logit difference: attribution density (mass share / area share)
    per anatomical structure (generator's ``anatomy`` labels) - the LVOT / aorta is what tells the views
    apart;
(d) seconds per explained sample (batch of one, median over the test samples).

Two conditions: frames with everything outside the scan sector set to black (what a pipeline that masks
the sector feeds the network), and frames as rendered, with the burned-in vendor text, probe name and
depth scale beside the sector - a shortcut a network can learn, since the depth range depends on the view.

Run:  python benchmarks/bench_saliency.py [--clips-per-view 24] [--epochs 8] [--markdown PATH] [--cache DIR]
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
from torch import nn

from echo_monai.explain.anatomy import mass_inside, mass_per_structure
from echo_monai.explain.attribution import METHODS, ClassContrast, attribute
from echo_monai.explain.sanity import cascading_randomisation, spearman_rank_correlation
from echo_monai.networks import GatedSpatioTemporalNet, SmallFrameCNN
from echo_monai.synthetic import ANATOMY_LABELS, random_heart, random_settings, render_clip
from echo_monai.views import VIEW_NAMES

LVOT = 6  # ANATOMY_LABELS: aorta / LVOT
STRUCTURES = {k: v for k, v in ANATOMY_LABELS.items() if k != 0}
SANITY_THRESHOLD = 0.5


@dataclass
class Frames:
    images: np.ndarray  # (N, H, W) float32 in [0, 1]
    labels: np.ndarray  # (N,) view index
    anatomy: np.ndarray  # (N, H, W) uint8
    sector: np.ndarray  # (N, H, W) bool

    def masked(self) -> Frames:
        """The frames with everything outside the scan sector black."""
        return Frames(self.images * self.sector, self.labels, self.anatomy, self.sector)


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


def trained_model(name: str, num_classes: int, train_set: Frames, epochs: int, args: argparse.Namespace
                  ) -> tuple[nn.Module, float]:
    """Train (or load from ``--cache``) a model; returns it in eval mode and the training seconds."""
    model = make_model(num_classes)
    # Keyed by the training frames themselves: a change to the generator must not reuse stale weights.
    digest = hashlib.sha1(train_set.images.tobytes() + train_set.labels.tobytes()).hexdigest()[:12]
    cache = None if args.cache is None else os.path.join(
        args.cache, f"saliency_{name}_{digest}_{args.size}px_{epochs}ep_s{args.seed}")
    if cache is not None and os.path.isfile(cache + ".pt"):
        model.load_state_dict(torch.load(cache + ".pt", weights_only=True))
        with open(cache + ".json", encoding="utf-8") as f:
            train_s = float(json.load(f)["train_s"])
        print(f"[{name}] weights from {cache}.pt (trained in {train_s:.0f} s)", flush=True)
    else:
        train_s = train(model, train_set, epochs, args.seed)
        if cache is not None:
            os.makedirs(args.cache, exist_ok=True)
            torch.save(model.state_dict(), cache + ".pt")
            with open(cache + ".json", "w", encoding="utf-8") as f:
                json.dump({"train_s": train_s}, f)
    return model.eval(), train_s


def structure_analysis(name: str, model: nn.Module, test_set: Frames, a5c: int, a4c: int
                       ) -> tuple[int, float, list]:
    """(c): attribution density per structure of the A5C-minus-A4C logit on A5C test frames showing the LVOT.

    Returns the number of frames, the share with a positive margin, and per method
    (method, {label: median density}, labels ranked by density).
    """
    sel = np.flatnonzero((test_set.labels == a5c)
                         & (test_set.anatomy == LVOT).reshape(len(test_set.labels), -1).any(axis=1))
    xa = torch.from_numpy(test_set.images[sel])[:, None]
    contrast = ClassContrast(model, a5c, a4c)
    with torch.no_grad():
        margin = contrast(xa)
    rows = []
    for method in METHODS:
        args_m = method_args(method)
        if "layer" in args_m:
            args_m["layer"] = "model." + args_m["layer"]
        maps = attribute(contrast, xa, None, method, **args_m)
        dens: dict[int, list[float]] = {}
        for i, n in enumerate(sel):
            for label, sm in mass_per_structure(maps[i], test_set.anatomy[n], STRUCTURES,
                                                within=test_set.sector[n]).items():
                if np.isfinite(sm.density):
                    dens.setdefault(label, []).append(sm.density)
        # Structures present in at least half of the frames, so one lucky frame does not rank first.
        median = {label: float(np.median(v)) for label, v in dens.items() if len(v) >= max(1, len(sel) // 2)}
        ranked = sorted(median, key=median.get, reverse=True)
        rows.append((method, median, ranked))
        rank = ranked.index(LVOT) + 1 if LVOT in ranked else "-"
        print(f"[{name}] {method:20s} LVOT density {median.get(LVOT, float('nan')):.2f}, rank {rank} of "
              f"{len(ranked)}; top: {[STRUCTURES[k] for k in ranked[:3]]}", flush=True)
    return len(sel), float((margin > 0).float().mean()), rows


def train(model: nn.Module, data: Frames, epochs: int, seed: int) -> float:
    """AdamW with one-cycle schedule, intensity augmentation; returns the training seconds."""
    torch.manual_seed(seed)
    x = torch.from_numpy(data.images)[:, None]
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
            opt.zero_grad()
            loss_fn(model(xb), y[sel]).backward()
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


def method_args(method: str) -> dict:
    layer = {"layer": "0.features.5"} if method in ("LayerGradCam", "GuidedGradCam") else {}
    return {**layer, **({"n_steps": 16} if method == "IntegratedGradients" else {}),
            **({"nt_samples": 8, "noise_std": 0.1} if method == "NoiseTunnel" else {})}


def explain(model: nn.Module, x: torch.Tensor, target: torch.Tensor | None, method: str) -> torch.Tensor:
    return attribute(model, x, target, method, **method_args(method))


def per_sample_seconds(model: nn.Module, x: torch.Tensor, target: torch.Tensor, method: str) -> float:
    times = []
    for i in range(len(x)):
        start = time.perf_counter()
        explain(model, x[i:i + 1], target[i:i + 1], method)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _rho(value: float, constant: int) -> str:
    return f"{value:.2f}" + (f" ({constant})" if constant else "")


@dataclass
class ConditionResult:
    name: str
    train_s: float
    accuracy: float
    pair_accuracy: float
    n_explained: int
    n_layers: int
    randomised: list[str]
    rows: list  # (method, {randomised name: (median rho, n constant)}, sector share, s / sample)
    n_a5c: int
    a5c_positive: float
    structure_rows: list  # (method, {label: median density}, labels ranked)


def run_condition(name: str, train_set: Frames, test_set: Frames, args: argparse.Namespace) -> ConditionResult:
    model, train_s = trained_model(name, len(VIEW_NAMES), train_set, args.epochs, args)
    acc, pair_acc = accuracy(model, test_set)
    print(f"[{name}] trained in {train_s:.0f} s: test accuracy {acc:.3f}, A4C/A5C {pair_acc:.3f}", flush=True)

    # Explained samples: one frame from each of the first test clips of every view; target = predicted class.
    pick = np.concatenate([np.flatnonzero(test_set.labels == v)[args.frames_per_clip // 2:: args.frames_per_clip]
                           [: args.explain_per_view] for v in range(len(VIEW_NAMES))])
    x = torch.from_numpy(test_set.images[pick])[:, None]
    sector = torch.from_numpy(test_set.sector[pick])
    with torch.no_grad():
        target = model(x).argmax(1)
    randomised = [(f"top {k}", m) for k, m in cascading_randomisation(model, steps=3, seed=args.seed)]
    n_layers = int(randomised[-1][0].split()[1])
    randomised[-1] = ("all", randomised[-1][1])

    rows = []
    for method in METHODS:
        maps = explain(model, x, target, method)
        sanity = {}
        for rname, m in randomised:
            rho = spearman_rank_correlation(maps, explain(m, x, target, method), within=sector)
            finite = rho[np.isfinite(rho)]
            sanity[rname] = (float(np.median(finite)) if finite.size else float("nan"), int(rho.size - finite.size))
        share = float(np.nanmedian([mass_inside(maps[i], sector[i]) for i in range(len(pick))]))
        seconds = per_sample_seconds(model, x, target, method)
        rows.append((method, sanity, share, seconds))
        print(f"[{name}] {method:20s} spearman {sanity}  sector {share:.3f}  {seconds:.3f} s/sample", flush=True)

    n_a5c, positive, structure_rows = structure_analysis(
        name, model, test_set, VIEW_NAMES.index("A5C"), VIEW_NAMES.index("A4C"))
    return ConditionResult(name, train_s, acc, pair_acc, len(pick), n_layers, [r for r, _ in randomised], rows,
                           n_a5c, positive, structure_rows)


@dataclass
class PairResult:
    n_train: int
    n_test: int
    train_s: float
    accuracy: float
    n_a5c: int
    a5c_positive: float
    structure_rows: list


def run_pair(args: argparse.Namespace) -> PairResult:
    """(c) on a dedicated A4C-vs-A5C frame classifier (sector-masked), the pair the 11-view model confuses."""
    train_set, test_set = render_frames(args.pair_clips, args.frames_per_clip, args.size, args.seed + 1,
                                        views=("A4C", "A5C"), phase=args.pair_phase)
    train_set, test_set = train_set.masked(), test_set.masked()
    model, train_s = trained_model("pair", 2, train_set, args.pair_epochs, args)
    with torch.no_grad():
        acc = float((model(torch.from_numpy(test_set.images)[:, None]).argmax(1).numpy() == test_set.labels).mean())
    print(f"[pair] A4C vs A5C test accuracy {acc:.3f}", flush=True)
    n, positive, rows = structure_analysis("pair", model, test_set, 1, 0)
    return PairResult(len(train_set.labels), len(test_set.labels), train_s, acc, n, positive, rows)


def video_timing(size: int, frames: int, repeats: int, seed: int) -> list[tuple[str, float]]:
    """Seconds per clip per method for the bundle's video network (untrained: timing only)."""
    torch.manual_seed(seed)
    net = GatedSpatioTemporalNet(1, len(VIEW_NAMES)).eval()
    x = torch.rand(1, 1, frames, size, size)
    out = []
    for method in METHODS:
        extra = method_args(method)
        if "layer" in extra:
            extra["layer"] = "frames.encoder.features.5"
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            attribute(net, x, 0, method, **extra)
            times.append(time.perf_counter() - start)
        out.append((method, float(np.median(times))))
        print(f"[video] {method:20s} {out[-1][1]:.2f} s/clip", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips-per-view", type=int, default=24)
    ap.add_argument("--frames-per-clip", type=int, default=4)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--explain-per-view", type=int, default=3, help="test clips per view for (a), (b), (d)")
    ap.add_argument("--conditions", default="masked,raw", help="comma-separated: masked (sector only), raw")
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
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]

    t0 = time.perf_counter()
    train_set, test_set = render_frames(args.clips_per_view, args.frames_per_clip, args.size, args.seed)
    render_s = time.perf_counter() - t0
    print(f"rendered {len(train_set.labels)} training / {len(test_set.labels)} test frames in {render_s:.0f} s",
          flush=True)
    results = []
    for name in args.conditions.split(","):
        if name not in ("masked", "raw"):
            raise SystemExit(f"unknown condition {name!r}: use masked and/or raw")
        tr, te = (train_set.masked(), test_set.masked()) if name == "masked" else (train_set, test_set)
        results.append(run_condition(name, tr, te, args))
    pair = run_pair(args) if args.pair_clips > 0 else None
    video = video_timing(args.size, args.video_frames, 3, args.seed) if args.video_frames > 0 else []
    report = _markdown(args, argv, load, render_s, len(train_set.labels), len(test_set.labels), results, pair, video)
    print(report)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(report)
    return 0


_CONDITION_TITLE = {
    "masked": "frames masked to the scan sector",
    "raw": "frames as rendered (burned-in text and depth scale outside the sector)",
}


def _structure_table(rows: list) -> list[str]:
    lines = ["| method | LVOT / aorta density | LVOT rank | top three structures (density) |", "|---|---|---|---|"]
    for method, median, ranked in rows:
        top = ", ".join(f"{STRUCTURES[k]} {median[k]:.2f}" for k in ranked[:3])
        rank = f"{ranked.index(LVOT) + 1} of {len(ranked)}" if LVOT in ranked else "-"
        lines.append(f"| {method} | {median.get(LVOT, float('nan')):.2f} | {rank} | {top} |")
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
         f"(16, 32, 64, 96) + linear head, {args.epochs} epochs. Grad-CAM layer `0.features.5` (8x8 px)."),
    ]
    for r in results:
        lines += [
            "",
            f"## Condition: {_CONDITION_TITLE[r.name]}",
            "",
            (f"Training {r.train_s:.0f} s; test accuracy {r.accuracy:.3f} (11 views), A4C/A5C frames "
             f"{r.pair_accuracy:.3f} (single frames; the generator makes this pair need more than one frame)."),
            "",
            f"### (a) sanity, (b) sector mass, (d) speed: {r.n_explained} test frames, target = predicted class",
            "",
            (f"Spearman rank correlation of |map| inside the scan sector (median over samples) between the trained "
             f"network and copies with the top k of its {r.n_layers} weighted layers re-initialised (cascading "
             "from the output) and with all re-initialised; in brackets the samples whose randomised map was "
             "constant (no ranking, left out). Pass: below 0.5 at every step."),
            "",
            "| method | " + " | ".join(f"rho, {n}" for n in r.randomised)
            + " | sanity passes | mass in sector | s / sample (1 frame) |",
            "|---|" + "---|" * (len(r.randomised) + 3),
        ]
        for method, sanity, share, seconds in r.rows:
            ok = "yes" if all(v < SANITY_THRESHOLD for v, _ in sanity.values()) else "no"
            lines.append(f"| {method} | " + " | ".join(_rho(*sanity[n]) for n in r.randomised)
                         + f" | {ok} | {100 * share:.1f} % | {seconds:.3f} |")
        lines += [
            "",
            (f"### (c) A5C vs A4C: attribution of the A5C-minus-A4C logit ({r.n_a5c} A5C test frames with the "
             f"LVOT in view; margin positive on {100 * r.a5c_positive:.0f} %)"),
            "",
            ("Density = share of the map's mass in a structure / share of the sector area it covers (1 = no "
             "preference), median over frames, inside the scan sector; structures present in at least half "
             "of the frames are ranked."),
            "",
        ] + _structure_table(r.structure_rows)
    if pair is not None:
        lines += [
            "",
            "## (c) on a dedicated A4C-vs-A5C classifier (frames masked to the sector)",
            "",
            (f"Same network with 2 outputs, {pair.n_train} training / {pair.n_test} test frames ({args.pair_clips} "
             f"clips per view, new patients, seed {args.seed + 1}, frames: {args.pair_phase}), {args.pair_epochs} epochs in {pair.train_s:.0f} s; "
             f"test accuracy {pair.accuracy:.3f}. {pair.n_a5c} A5C test frames with the LVOT in view; A5C-minus-A4C "
             f"margin positive on {100 * pair.a5c_positive:.0f} %."),
            "",
        ] + _structure_table(pair.structure_rows)
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
