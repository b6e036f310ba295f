"""LV-wall segmentation on held-out synthetic A4C clips: Dice loss against focal Tversky, same split, same budget.

Runs the bundle in ``bundles/echo_lv_wall_segmentation`` as a user would (``ConfigWorkflow`` on its own
configs) for each loss:

1. writes a synthetic A4C dataset (``echo_monai.synthetic.make_dataset``; about half the patients have
   1-3 hypokinetic segments) and converts it to NIfTI wall pairs (``prepare_wall_dataset``), keeping the
   generator's patient split;
2. trains ``train.json`` + ``networks/<network>.json`` + ``losses/<loss>.json`` for ``--epochs`` epochs
   with the same seed, data, frames per clip and validation schedule (the best validation Dice is kept);
3. evaluates ``evaluate.json`` on the test split: wall Dice, IoU, precision, recall, HD95 (mm), and the
   regional analysis (ED -> ES per-segment displacement / thickening, abnormal segments) from the
   predicted masks and, for reference, from the true masks, against the generator's infarct labels.

Prints a table and, with ``--markdown``, writes it with the exact command. Times are wall-clock on this
machine with ``--threads`` intra-op threads; other processes sharing the cores slow them down (the load
average is recorded next to them).

Usage: python benchmarks/bench_wall_losses.py [--work DIR] [--patients 30] [--clips 60] [--frames 48]
       [--size 128] [--image-size 112] [--epochs 20] [--network monai_unet] [--losses dice focal_tversky]
       [--threads 2] [--set KEY=JSON ...] [--markdown FILE] [--save-rows FILE] [--merge ROWS_JSON ...]

The two losses can be trained in two processes (``--losses dice --save-rows a.json`` and
``--losses focal_tversky --save-rows b.json``) and reported together with ``--merge a.json b.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import statistics
import sys
import time
from pathlib import Path

BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "echo_lv_wall_segmentation"
CONFIGS = BUNDLE / "configs"


def _prepare(work: Path, args: argparse.Namespace) -> Path:
    from echo_monai.datasets.wall import prepare_wall_dataset
    from echo_monai.synthetic import make_dataset

    synthetic, wall = work / "synthetic", work / f"wall_{args.image_size}px"
    if not (synthetic / "datalist.json").is_file():
        make_dataset(synthetic, n_patients=args.patients, clips_per_view=args.clips, n_frames=args.frames,
                     size=args.size, seed=args.seed, views=["A4C"], workers=args.threads, figure=False)
    if not (wall / "datalist.json").is_file():
        prepare_wall_dataset(synthetic, wall, size=args.image_size)
    return wall


def _workflow(configs: list[str], kind: str, root: Path, args: argparse.Namespace, wall: Path, **extra):
    from monai.bundle import ConfigWorkflow

    return ConfigWorkflow(
        config_file=[str(CONFIGS / c) for c in configs], meta_file=str(CONFIGS / "metadata.json"),
        logging_file=str(CONFIGS / "logging.conf"), workflow_type=kind, bundle_root=str(root),
        dataset_dir=str(wall), image_size=[args.image_size, args.image_size], seed=args.seed,
        **{"frames_per_clip": args.frames_per_clip, "batch_size": args.batch_size, "max_val_items": args.val_items,
           **dict(args.set or []), **extra})


def run_loss(loss: str, wall: Path, work: Path, args: argparse.Namespace) -> dict:
    """Train and evaluate one loss; returns its row of the table."""
    from ignite.engine import Events

    root = work / f"bundle_{args.network}_{loss}"
    shutil.rmtree(root, ignore_errors=True)
    configs = ["train.json", f"networks/{args.network}.json", f"losses/{loss}.json"]
    train = _workflow(configs, "train", root, args, wall, max_epochs=args.epochs, val_interval=args.val_interval)
    train.initialize()
    trainer = train.parser.get_parsed_content("train#trainer")
    epoch_times: list[float] = []
    started: list[float] = []
    trainer.add_event_handler(Events.EPOCH_STARTED, lambda _: started.append(time.perf_counter()))
    # The epoch time excludes the validation run (ValidationHandler fires before this handler).
    trainer.add_event_handler(Events.ITERATION_COMPLETED(every=len(trainer.data_loader)),
                              lambda _: epoch_times.append(time.perf_counter() - started[-1]))
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    train.run()
    train_s = time.perf_counter() - t0
    load_after = os.getloadavg()[0]
    evaluator = train.parser.get_parsed_content("validate#evaluator")
    best_val = float(evaluator.state.best_metric)
    train.finalize()

    # Every test clip is evaluated (max_val_items only shortens the validation during training).
    evaluate = _workflow([*configs, "evaluate.json"], "infer", root, args, wall, write_overlays=False,
                         write_figures=False, max_val_items=None)
    evaluate.initialize()
    t0 = time.perf_counter()
    evaluate.run()
    eval_s = time.perf_counter() - t0
    evaluate.finalize()
    eval_dir = root / "output" / "eval"
    metrics = {k: float(v) for k, v in (line.split(",") for line in (eval_dir / "metrics.csv").read_text().split())}
    summary = json.loads((eval_dir / "summary.json").read_text())
    return {
        "loss": loss, "best_val_dice": best_val, "metrics": metrics, "summary": summary,
        "train_s": train_s, "epoch_s": statistics.median(epoch_times) if epoch_times else float("nan"),
        "eval_s": eval_s, "load": (load_before, load_after), "epochs": args.epochs,
        "n_train": len(train.parser.get_parsed_content("train#items")),
    }


def _override(text: str) -> tuple[str, object]:
    """``KEY=JSON`` from the command line -> (key, value); a value that is not JSON stays a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _fmt(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None or math.isnan(v) else f"{v:.{digits}f}"


def report(rows: list[dict], args: argparse.Namespace, command: str, wall: Path) -> str:
    datalist = json.loads((wall / "datalist.json").read_text())
    counts = {s: len(datalist[s]) for s in ("training", "validation", "test")}
    patients = {s: len({i["case"] for i in datalist[s]}) for s in counts}
    lines = [
        f"Command: `{command}`",
        "",
        (f"Data: synthetic A4C (`make_dataset`, seed {args.seed}), {args.frames} frames per clip, generated at "
        f"{args.size} px and used at {args.image_size} px. Clips (patients) per split: training "
        f"{counts['training']} ({patients['training']}), validation {counts['validation']} "
        f"({patients['validation']}; the first {args.val_items} used for model selection), test {counts['test']} "
        f"({patients['test']}). Network `networks/{args.network}.json`, {args.epochs} epochs of "
        f"{args.frames_per_clip} random frames per training clip ({args.batch_size} clip(s) per step), validation "
        f"every {args.val_interval} epochs, "
        "best validation Dice kept; identical for both losses (same seed)"
        + (f"; config overrides {dict(args.set)}" if args.set else "") + "."),
        "",
        ("Wall segmentation on the test clips (per-clip values averaged; HD95 over frames where both masks are "
        "non-empty):"),
        "",
        "| loss | best val Dice | test Dice | IoU | precision | recall | F1 (pooled) | HD95 (mm) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        m = r["metrics"]
        lines.append(f"| {r['loss']} | {_fmt(r['best_val_dice'])} | **{_fmt(m['val_mean_dice'])}** | "
                     f"{_fmt(m['val_mean_iou'])} | {_fmt(m['val_precision'])} | {_fmt(m['val_recall'])} | "
                     f"{_fmt(m['val_f1'])} | {_fmt(m['val_hd95_mm'], 2)} |")
    lines += [
        "",
        ("Regional abnormality detection on the test clips (six segments per clip, `classify_segments` "
        "defaults; ED -> ES of the generator's ECG-gated cycle where the clip holds one, else from the masks' "
        "LV cavity), against the generator's infarct labels. Segments that could not be measured are left "
        "out of the counts:"),
        "",
        ("| loss | masks | assessed | TP | FN | TN | FP | sensitivity | specificity | MI sensitivity | "
        "MI specificity (recordings) |"),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for what in ("prediction", "ground_truth"):
            s = r["summary"].get(f"regional_{what}")
            if not s:
                lines.append(f"| {r['loss']} | {what.replace('_', ' ')} | no segment measured | | | | | | | | |")
                continue
            lines.append(f"| {r['loss']} | {what.replace('_', ' ')} | {s['segments_assessed']} | {s['tp']} | "
                         f"{s['fn']} | {s['tn']} | {s['fp']} | {_fmt(s['sensitivity'])} | "
                         f"{_fmt(s['specificity'])} | {_fmt(s['mi_sensitivity'])} | "
                         f"{_fmt(s['mi_specificity'])} ({s['recordings']}) |")
    lines += [
        "",
        (f"Time (CPU, {args.threads} intra-op thread(s) per process, wall-clock, shared with other jobs; 1-min load average "
        "before / after training in brackets):"),
        "",
        "| loss | training total (s) | median epoch without validation (s) | evaluation of the test split (s) |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['loss']} | {r['train_s']:.0f} [load {r['load'][0]:.1f} / {r['load'][1]:.1f}] | "
                     f"{r['epoch_s']:.1f} | {r['eval_s']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="/tmp/echo_wall_bench", help="working folder (data, checkpoints)")
    parser.add_argument("--patients", type=int, default=30)
    parser.add_argument("--clips", type=int, default=60, help="A4C clips in all")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", type=int, default=128, help="generated frame size (px)")
    parser.add_argument("--image-size", type=int, default=112, help="frame size the network sees (px)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--frames-per-clip", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=1, help="clips per step (x frames per clip)")
    parser.add_argument("--val-interval", type=int, default=5)
    parser.add_argument("--val-items", type=int, default=4)
    parser.add_argument("--network", default="monai_unet", choices=["monai_unet", "monai_unet_deep", "wall_unet", "wall_unet_2dt"])
    parser.add_argument("--losses", nargs="+", default=["dice", "focal_tversky"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", nargs="+", type=_override, metavar="KEY=JSON",
                        help="bundle config overrides for training and evaluation, e.g. "
                             "'network_def#channels=[32,64,128,256]' 'learning_rate=0.002'")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", help="write the result table (markdown) to this file")
    parser.add_argument("--save-rows", help="also save the measured rows as JSON (to --merge runs made apart)")
    parser.add_argument("--merge", nargs="+", metavar="ROWS_JSON",
                        help="no training: build the report from rows saved by earlier runs (same settings)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    wall = _prepare(work, args)
    if args.merge:
        rows = [row for f in args.merge for row in json.loads(Path(f).read_text())]
    else:
        rows = [run_loss(loss, wall, work, args) for loss in args.losses]
    if args.save_rows:
        Path(args.save_rows).write_text(json.dumps(rows, indent=1))
    command = "python benchmarks/bench_wall_losses.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    text = report(rows, args, command, wall)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text("# LV-wall segmentation: Dice vs focal Tversky loss\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
