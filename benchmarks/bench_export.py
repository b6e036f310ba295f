"""Eager vs TorchScript vs ONNX Runtime latency of the bundles' default networks on CPU.

Per clip, as the bundles run them: the view model (default network of ``echo_view_classification``)
on one clip = ``max_cycles`` cardiac cycles of ``num_frames`` frames at ``image_size``; the wall model
(default ``echo_lv_wall_segmentation`` WallUNet) on a clip of ``--wall-frames`` frames at 224 px, in
batches of ``sw_batch_size`` frames as the bundle's SliceInferer does. Engines are timed in interleaved
rounds (a load burst on the shared machine hits all of them alike); median and best of ``--runs``.

    .venv/bin/python benchmarks/bench_export.py [--threads 2] [--runs 5] [--wall-frames 16] [--only view|wall]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from echo_monai.export import OnnxRuntimeNetwork, build_bundle_network, export_bundle

ROOT = Path(__file__).resolve().parents[1]


def _time(fn, x: torch.Tensor) -> float:
    t0 = time.perf_counter()
    with torch.no_grad():
        fn(x)
    return (time.perf_counter() - t0) * 1000.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--wall-frames", type=int, default=16)
    p.add_argument("--only", choices=["view", "wall"], default=None, help="time one model only")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = []
        models = (("echo_view_classification", "view (default)"), ("echo_lv_wall_segmentation", "wall (default)"))
        for bundle, label in models:
            if args.only is not None and not label.startswith(args.only):
                continue
            built = build_bundle_network(ROOT / "bundles" / bundle, "default")
            report = export_bundle(ROOT / "bundles" / bundle, Path(tmp) / bundle, "default")
            assert report.ok, report.to_dict()
            shape = built.input_shape
            if built.settings["task"] == "view":
                windows = int(built.settings["max_cycles"] or 1)
                x, batch = torch.rand(windows, *shape[1:]), windows
                what = f"{windows} cycles x {shape[2]} frames x {shape[3]}x{shape[4]}"
            else:
                x, batch = torch.rand(args.wall_frames, *shape[1:]), 16
                what = f"{args.wall_frames} frames x {shape[2]}x{shape[3]}, batches of {batch}"
            ts = torch.jit.load(report.torchscript_path)
            ort_net = OnnxRuntimeNetwork(report.onnx_path, num_threads=args.threads)
            engines = {"eager": built.network.eval(), "torchscript": ts, "onnxruntime": ort_net}

            def per_clip(net, x=x, batch=batch):
                return [net(x[i:i + batch]) for i in range(0, x.shape[0], batch)]

            cases.append((label, what, engines, per_clip, x))
        for label, what, engines, per_clip, x in cases:
            for net in engines.values():
                per_clip(net)  # warm-up (TorchScript profiles its first calls)
                per_clip(net)
            times: dict[str, list[float]] = {k: [] for k in engines}
            for _ in range(args.runs):
                for name, net in engines.items():
                    times[name].append(_time(lambda v, n=net, run=per_clip: run(n), x))
            eager = statistics.median(times["eager"])
            for name, t in times.items():
                med = statistics.median(t)
                rows.append((label, what, name, med, min(t), eager / med))
    load = os.getloadavg()
    print(f"torch {torch.__version__}, {args.threads} threads, median (best) of {args.runs}; "
          f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (shared machine)")
    print("| model | input per clip | engine | ms per clip, median | best | speed-up vs eager (median) |")
    print("|---|---|---|---|---|---|")
    for label, what, name, med, best, speed in rows:
        print(f"| {label} | {what} | {name} | {med:.1f} | {best:.1f} | {speed:.2f}x |")


if __name__ == "__main__":
    main()
