#!/usr/bin/env python
"""End-to-end gating accuracy on generator cines, per ECG form (issue 3 acceptance).

    python benchmarks/bench_gating.py --out /tmp/bench_gating --clips-per-view 12 --frames 72 --size 128

Writes a synthetic dataset (every ECG form: DICOM waveform in the cine or in a separate object, burned-in
sweep and review traces, none), gates every clip through ``LoadEchoCine`` (the same path training uses) and
compares the detected ED frames with the generator's true ED frames (the frames nearest the true R peaks).
Prints a markdown table and writes ``gating.json`` in the output folder.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from echo_monai.evaluation.gating import evaluate_gating, write_gating_report
from echo_monai.synthetic.dataset import make_dataset


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--patients", type=int, default=20)
    p.add_argument("--clips-per-view", type=int, default=12)
    p.add_argument("--frames", type=int, default=72)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--seed", type=int, default=2024)
    args = p.parse_args()
    t0 = time.perf_counter()
    data = args.out / "data"
    if (data / "datalist.json").exists():
        datalist = json.loads((data / "datalist.json").read_text())
    else:
        datalist = make_dataset(data, n_patients=args.patients, clips_per_view=args.clips_per_view,
                                n_frames=args.frames, size=args.size, seed=args.seed, figure=False)
    items = [i for split in datalist.values() for i in split]
    print(f"dataset: {len(items)} clips in {time.perf_counter() - t0:.0f} s")
    report = evaluate_gating(data, items)
    write_gating_report(report, args.out / "gating.json")
    print("| ECG form | clips | true ED frames | exact | within 1 | within 2 | missed | spurious | max error "
          "| sources used | s/clip |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for form, r in sorted(report.items()):
        print(f"| {form} | {r['clips']} | {r['true_ed_frames']} | {r['exact']:.1%} | {r['within_1']:.1%} | "
              f"{r['within_2']:.1%} | {r['missed']:.1%} | {r['spurious_ed_frames']} | {r['max_error']} | "
              f"{r['sources_used']} | {r['seconds_per_clip']:.2f} |")
    print("error histograms (frames: count):")
    for form, r in sorted(report.items()):
        print(f"  {form}: {r['error_histogram']}")


if __name__ == "__main__":
    main()
