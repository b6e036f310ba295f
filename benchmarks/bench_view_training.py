#!/usr/bin/env python
"""Train the view-classification bundle (video default and/or the ED-frame image model) and report test F1.

    python data_scripts/make_synthetic_dataset.py --out /tmp/views --patients 40 --clips-per-view 20 \
        --frames 72 --size 112 --seed 7
    python benchmarks/bench_view_training.py --data /tmp/views --out /tmp/view_bench --models video image

Each model is trained with the bundle's configs (``echo_monai.inference.demo.run_view_demo``), the
checkpoint of the best validation clip micro-F1 is evaluated on the held-out test split, and a table
of clip-level metrics plus per-class precision / recall is printed (also written as JSON to --out).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from echo_monai.inference.demo import run_view_demo
from echo_monai.views import VIEW_NAMES

#: View pairs that differ mostly in motion (see REFERENCE.md section 1).
TIME_PAIRS = (("A4C", "A5C"), ("PSAX-mid", "PSAX-apical"), ("A2C", "A3C"))


def _per_class_table(metrics: dict) -> list[str]:
    per = metrics["clip"]["mean"]["per_class"]
    lines = ["| view | precision | recall | F1 | clips |", "|---|---|---|---|---|"]
    for name in VIEW_NAMES:
        c = per[name]
        lines.append(f"| {name} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']} |")
    return lines


def _pair_errors(metrics: dict) -> list[str]:
    cm = metrics["clip"]["mean"]["confusion"]
    idx = {n: i for i, n in enumerate(VIEW_NAMES)}
    return [f"{a}<->{b}: {cm[idx[a]][idx[b]] + cm[idx[b]][idx[a]]} of {sum(cm[idx[a]]) + sum(cm[idx[b]])} clips confused"
            for a, b in TIME_PAIRS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="dataset folder with datalist.json")
    parser.add_argument("--out", required=True, help="output folder (one sub-folder per model)")
    parser.add_argument("--models", nargs="+", default=["video", "image"], choices=["video", "image"])
    parser.add_argument("--network", help="video network override (a configs/networks stem); default: bundle default")
    parser.add_argument("--max-epochs", type=int, help="epochs (default: the bundle's max_epochs)")
    parser.add_argument("--minutes", type=float, default=60.0, help="training time cap per model")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    rows, details = [], {}
    for model in args.models:
        result = run_view_demo(args.data, Path(args.out) / model, minutes=args.minutes, max_epochs=args.max_epochs,
                               network=args.network if model == "video" else None, image_model=model == "image")
        m = result["metrics"]
        clip = m["clip"]["mean"]
        rows.append(f"| {model} | {result['epochs']} | {result['train_seconds']:.0f} | {result['best_val_micro_f1']:.3f} | "
                    f"{clip['micro_f1']:.3f} | {clip['macro_f1']:.3f} | {m['clip']['vote']['micro_f1']:.3f} | "
                    f"{m['window']['micro_f1']:.3f} | {m['n_clips']} |")
        details[model] = result
        print(f"\n{model}: per-class (test clips, mean-probability aggregation)")
        print("\n".join(_per_class_table(m)))
        print("\n".join(_pair_errors(m)))
    print("\n| model | epochs | train s | best val clip micro-F1 | test clip micro-F1 | test clip macro-F1 | "
          "test vote micro-F1 | test window micro-F1 | test clips |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    os.makedirs(args.out, exist_ok=True)
    Path(args.out, "bench_view_training.json").write_text(json.dumps(details, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
