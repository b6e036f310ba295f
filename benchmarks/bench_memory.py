#!/usr/bin/env python
"""Peak memory of reading and gating a long, large echo cine for inference.

    python benchmarks/bench_memory.py [--frames 1000] [--repeats 3] [--reference]

Writes a 1000-frame 600x800 colour cine (JPEG baseline, YBR_FULL_422, 30 fps, as clinical exports are)
with ``write_echo_dicom`` three times: with an ECG waveform; without one; and without one but with a green
sweep ECG burned into a strip below the tissue region, declared as an ECG trace region (RegionDataType 10),
as routine exports are. Then measures each scenario in a fresh subprocess: peak resident memory (``VmHWM`` from /proc/self/status, and ``ru_maxrss``), the
resident memory after imports, and the wall time. Target: < 2 GB peak, decoding at the model's size.

Scenarios:
  read+gate      read_echo_cine(grey, 224x224) + gate_cine (ECG waveform in the file)
  LoadEchoCine   the MONAI transform with gating, grey 224x224, float32 tensor out
  no-ECG gating  LoadEchoCine on the cine without a waveform (burned-in search in the lower half, then
                 the image fallback)
  burned-in      LoadEchoCine on the cine with the burned-in trace (read from its trace region only)
  reference      (--reference) ds.pixel_array path at stored size, for contrast
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r"""
import json, os, resource, sys, time
os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np
import torch
torch.set_num_threads(1)
from echo_monai.ecg.gating import gate_cine
from echo_monai.io.cine import read_cine
from echo_monai.io.dicom_read import burned_in_ecg_area, read_echo_cine
from echo_monai.transforms.io import LoadEchoCine

def status(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0

scenario, path = sys.argv[1], sys.argv[2]
rss_after_imports = status("VmRSS")
t0 = time.perf_counter()
if scenario == "read+gate":
    cine = read_echo_cine(path, grey=True, size=(224, 224))
    gating = gate_cine(cine, colour_cine=lambda: read_cine(path, grey=False, with_ecg=False, crop=burned_in_ecg_area))
    facts = {"shape": list(cine.frames.shape), "method": gating.method, "n_ed": len(gating.ed_frames)}
elif scenario in ("LoadEchoCine", "no-ECG gating", "burned-in"):
    out = LoadEchoCine(grey=True, size=(224, 224), gating=True, allow_ungated=True)(path)
    facts = {"shape": list(out.shape), "method": out.meta.get("gating_method"), "n_ed": int(len(out.meta["gating"].ed_frames)) if "gating" in out.meta else 0}
else:
    cine = read_echo_cine(path, fast=False, with_ecg=False)
    facts = {"shape": list(cine.frames.shape), "method": "none", "n_ed": 0}
wall = time.perf_counter() - t0
print(json.dumps({"scenario": scenario, "wall_s": wall, "peak_rss_mb": status("VmHWM"),
                  "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                  "rss_after_imports_mb": rss_after_imports, **facts}))
"""


def write_cines(folder: Path, n_frames: int) -> tuple[Path, Path, Path]:
    """The benchmark cines: with an ECG waveform, without one, and with a burned-in trace instead."""
    import dataclasses

    import numpy as np

    from echo_monai.io.dicom_write import write_echo_dicom
    from echo_monai.synthetic.ecg_overlay import draw_ecg_trace
    from echo_monai.testing.corpus import _ecg, valid_cine_frames

    frame_ms = 1000.0 / 30.0
    cycle = valid_cine_frames(24, (600, 800), seed=5)  # 24 distinct frames = one 800 ms beat at 30 fps
    grey = cycle[np.arange(n_frames) % len(cycle)]
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    rgb[..., 0] = np.clip(rgb[..., 0].astype(np.int16) + 12, 0, 255).astype(np.uint8)  # a warm tint: real chroma
    del grey
    times = np.arange(n_frames) * frame_ms
    ecg = _ecg(float(times[-1]) + frame_ms)
    with_ecg = write_echo_dicom(folder / "long_ecg.dcm", rgb, times, spacing_mm=(0.3, 0.3), ecg=ecg)
    without = write_echo_dicom(folder / "long_no_ecg.dcm", rgb, times, spacing_mm=(0.3, 0.3))
    # The trace is drawn on the bottom strip only (drawing returns new frames: the whole cine would double).
    strip_y0 = 510
    strip, region = draw_ecg_trace(rgb[:, strip_y0:], times, ecg.signal[0], ecg.fs, 0.0, kind="sweep",
                                   region=(40, 10, 759, 80), rng=0)
    rgb[:, strip_y0:] = strip
    del strip
    region = dataclasses.replace(region, y0=region.y0 + strip_y0, y1=region.y1 + strip_y0)
    burned = write_echo_dicom(folder / "long_burned.dcm", rgb, times, spacing_mm=(0.3, 0.3),
                              scan_region=(0, 0, 799, strip_y0 - 1), extra_regions=[region])
    return with_ecg, without, burned


def measure(scenario: str, path: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-c", _CHILD, scenario, str(path)], capture_output=True, text=True,
                         env=env, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="runs per scenario (median reported)")
    parser.add_argument("--reference", action="store_true", help="also measure the pixel_array path")
    parser.add_argument("--write-only", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.write_only:
        write_cines(Path(args.write_only), args.frames)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        # Written in a child process: ru_maxrss survives fork + exec, so a parent that once held the 1.4 GB
        # of frames would pass its own peak on to every measured child.
        subprocess.run([sys.executable, __file__, "--write-only", tmp, "--frames", str(args.frames)], check=True)
        with_ecg, without, burned = (Path(tmp) / f"long_{kind}.dcm" for kind in ("ecg", "no_ecg", "burned"))
        size_mb = with_ecg.stat().st_size / 2**20
        print(f"cine: {args.frames} frames 600x800 RGB, JPEG baseline YBR_FULL_422, {size_mb:.0f} MiB on disk; "
              f"{os.cpu_count()} CPUs shared with other jobs; median of {args.repeats} runs\n")
        scenarios = [("read+gate", with_ecg), ("LoadEchoCine", with_ecg), ("no-ECG gating", without),
                     ("burned-in", burned)]
        if args.reference:
            scenarios.append(("reference", with_ecg))
        print("| scenario | output shape | gating | peak RSS MiB (VmHWM) | ru_maxrss MiB | RSS after imports MiB "
              "| wall s |")
        print("|---|---|---|---|---|---|---|")
        for name, path in scenarios:
            runs = [measure(name, path) for _ in range(args.repeats)]
            med = {k: statistics.median(r[k] for r in runs) for k in ("peak_rss_mb", "ru_maxrss_mb",
                                                                       "rss_after_imports_mb", "wall_s")}
            r = runs[0]
            print(f"| {name} | {tuple(r['shape'])} | {r['method']} ({r['n_ed']} ED) | {med['peak_rss_mb']:.0f} "
                  f"(max {max(x['peak_rss_mb'] for x in runs):.0f}) | {med['ru_maxrss_mb']:.0f} | "
                  f"{med['rss_after_imports_mb']:.0f} | {med['wall_s']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
