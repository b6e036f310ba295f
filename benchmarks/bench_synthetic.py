#!/usr/bin/env python
"""Benchmark the synthetic dataset generator (render + DICOM + truth files), and one clip's render alone.

    python benchmarks/bench_synthetic.py --views 11 --clips-per-view 20 --frames 48 --size 256 --workers 2 --runs 3

Prints wall time and CPU time (this process plus its worker processes) per run and their medians. On a
shared machine the wall time depends on the load; the CPU time divided by the number of workers is what
the same run takes on idle cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import time

import numpy as np

from echo_monai.synthetic.anatomy import random_heart
from echo_monai.synthetic.dataset import make_dataset
from echo_monai.synthetic.generator import random_settings, render_clip
from echo_monai.views import VIEW_NAMES


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--views", type=int, default=11, help="number of views (the first N of VIEW_NAMES)")
    p.add_argument("--clips-per-view", type=int, default=20)
    p.add_argument("--patients", type=int, default=20)
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    views = list(VIEW_NAMES[: args.views])

    # one clip per view, rendering only (no files), in this process
    per_view = {}
    for v in views:
        s = random_settings(v, np.random.default_rng(0), n_frames=args.frames, size=(args.size, args.size),
                            ecg_form="none")
        heart = random_heart(np.random.default_rng(1))
        t0 = time.process_time()
        render_clip(s, heart)
        per_view[v] = time.process_time() - t0
    print(f"render only, one clip of {args.frames} frames at {args.size} px, CPU s per clip:")
    for v, t in per_view.items():
        print(f"  {v:<13} {t:6.2f}")

    walls, cpus = [], []
    n_clips = len(views) * args.clips_per_view
    for run in range(args.runs):
        out = tempfile.mkdtemp(prefix="bench_synth_")
        shutil.rmtree(out)
        c0, w0 = _cpu_s(), time.perf_counter()
        make_dataset(out, n_patients=args.patients, clips_per_view=args.clips_per_view, n_frames=args.frames,
                     size=args.size, seed=run, views=views, workers=args.workers, figure=False)
        walls.append(time.perf_counter() - w0)
        cpus.append(_cpu_s() - c0)
        size_mb = sum(f.stat().st_size for f in os.scandir(os.path.join(out, "truth"))) / 1e6
        shutil.rmtree(out)
        print(f"run {run}: {n_clips} clips, wall {walls[-1]:6.1f} s, CPU {cpus[-1]:6.1f} s "
              f"(truth files {size_mb:.0f} MB)")
    print()
    print("| clips | frames | size | workers | median wall (s) | median CPU (s) | CPU / workers (s) |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {n_clips} | {args.frames} | {args.size} | {args.workers} | {statistics.median(walls):.1f} | "
          f"{statistics.median(cpus):.1f} | {statistics.median(cpus) / args.workers:.1f} |")


if __name__ == "__main__":
    main()
