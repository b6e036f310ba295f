"""Crash and resume of bundle training: how exactly a killed-and-resumed run replays, and what it costs.

    python benchmarks/bench_crash_resume.py [--runs 3] [--out /tmp/crash_bench]

1. Run-to-run variation: the wall bundle (small settings of ``tests/reliability/test_crash_resume.py``)
   trained ``--runs`` times unbroken with the same seed; differences of final weights and metrics.
2. Kill and resume: SIGKILL in the middle of epoch 3, restart with ``--resume true``; epochs repeated and
   differences from the unbroken run.
3. Control: the same resume with the random states *not* restored (what restoring model, optimizer,
   scheduler and epoch alone, e.g. with MONAI's ``CheckpointLoader``, gives).
4. Cost of ``last.pt`` at the bundles' default network sizes: file size and time to save it atomically.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
WALL = REPO / "bundles" / "echo_lv_wall_segmentation" / "configs"
EPOCHS, KILL_IN = 5, 3
SMALL = ["--image_size", "[48,48]", "--network_def#channels", "[8,16,32]", "--frames_per_clip", "16",
         "--batch_size", "1", "--learning_rate", "0.01", "--max_epochs", str(EPOCHS)]
METRICS = re.compile(r"Epoch\[(\d+)\] Metrics -- val_mean_dice: ([\d.]+)")
TRAINED = re.compile(r"SupervisedTrainer - INFO - Epoch\[(\d+)\] Complete")
EPOCH_TIME = re.compile(r"SupervisedTrainer - INFO - Epoch\[\d+\] Complete. Time taken: (\d+):(\d+):([\d.]+)")
# `monai.bundle run` with the random-state restore switched off, for the control.
NO_RNG = ("import runpy, sys, echo_monai.handlers.resume as r; r.restore_rng_state = lambda *a, **k: None; "
          "sys.argv = ['monai.bundle', *sys.argv[1:]]; runpy.run_module('monai.bundle', run_name='__main__')")


def _cmd(root: Path, data: Path, *extra: str, control: bool = False) -> list[str]:
    head = [sys.executable, "-c", NO_RNG] if control else [sys.executable, "-m", "monai.bundle"]
    return [*head, "run", "--config_file", f"['{WALL / 'train.json'}']", "--meta_file", str(WALL / "metadata.json"),
            "--logging_file", str(WALL / "logging.conf"), "--bundle_root", str(root), "--dataset_dir", str(data),
            *SMALL, *extra]


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def _run(root: Path, data: Path, *extra: str, control: bool = False) -> str:
    proc = subprocess.run(_cmd(root, data, *extra, control=control), check=True, capture_output=True, text=True,
                          env=ENV, timeout=600)
    return proc.stdout + proc.stderr


def _kill_in_epoch(root: Path, data: Path, epoch: int, delay: float) -> str:
    log = root.parent / f"{root.name}.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(_cmd(root, data), stdout=fh, stderr=subprocess.STDOUT, env=ENV)
    while proc.poll() is None:
        if f"Saved training checkpoint of epoch {epoch - 1}:" in log.read_text():
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    return log.read_text()


def _weights(root: Path) -> torch.Tensor:
    state = torch.load(root / "models" / "last.pt", map_location="cpu", weights_only=True)["model"]
    return torch.cat([v.flatten().double() for v in state.values()])


def _dice(log: str) -> dict[int, float]:
    return {int(e): float(v) for e, v in METRICS.findall(log)}


def _data(out: Path) -> Path:
    from echo_monai.datasets.wall import prepare_wall_dataset
    from echo_monai.synthetic.dataset import make_dataset

    if not (out / "nifti" / "datalist.json").is_file():
        make_dataset(out / "synthetic", n_patients=4, clips_per_view=4, n_frames=40, size=96, seed=3, views=["A4C"],
                     workers=1, figure=False)
        prepare_wall_dataset(out / "synthetic", out / "nifti", size=48)
    return out / "nifti"


def _checkpoint_cost(out: Path) -> list[tuple[str, float, float]]:
    """(network, MB, median seconds) of a last.pt with AdamW state for the bundles' default networks."""
    from monai.bundle import ConfigParser

    from echo_monai.handlers.resume import capture_rng_state, save_atomically

    rows = []
    for name, config in (("wall WallUNet 64-128-256", WALL / "train.json"),
                         ("view Plain3DCNN 16-32-64-128", REPO / "bundles" / "echo_view_classification" / "configs"
                          / "train.json")):
        parser = ConfigParser()
        parser.read_config(str(config))
        net = parser.get_parsed_content("network_def")
        opt = torch.optim.AdamW(net.parameters())
        for p in net.parameters():  # one step so that the optimizer holds its moments, as after an epoch
            p.grad = torch.zeros_like(p)
        opt.step()
        state = {"model": net.state_dict(), "optimizer": opt.state_dict(), "rng": [capture_rng_state()]}
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            save_atomically(state, out / "last.pt")
            times.append(time.perf_counter() - t0)
        rows.append((name, (out / "last.pt").stat().st_size / 1e6, statistics.median(times)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="unbroken runs for the run-to-run variation")
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out = args.out or Path(tempfile.mkdtemp(prefix="crash_bench_"))
    data = _data(out)

    straight, wall_times, logs = [], [], []
    for i in range(args.runs):
        t0 = time.perf_counter()
        logs.append(_run(out / f"straight{i}", data))
        straight.append(_dice(logs[-1]))
        wall_times.append(time.perf_counter() - t0)
    ref = _weights(out / "straight0")
    print(f"unbroken runs: {args.runs}, {statistics.median(wall_times):.1f} s each (median, shared 2-core CPU)")
    print("| comparison with unbroken run 0 | max abs weight difference | final val Dice | epochs trained |")
    print("|---|---|---|---|")
    for i in range(1, args.runs):
        diff = (_weights(out / f"straight{i}") - ref).abs().max().item()
        print(f"| unbroken run {i} | {diff:.3g} | {straight[i][EPOCHS]:.4f} vs {straight[0][EPOCHS]:.4f} | {EPOCHS} |")

    epoch_s = statistics.median(int(h) * 3600 + int(m) * 60 + float(x) for h, m, x in EPOCH_TIME.findall(logs[0]))
    print(f"median trainer epoch: {epoch_s:.2f} s; the kill comes {epoch_s / 2:.2f} s after epoch 2 was saved")
    for label, control in (("SIGKILL in epoch 3, --resume true", False),
                            ("same, random states not restored (control)", True)):
        root = out / ("control" if control else "resumed")
        killed = _kill_in_epoch(root, data, KILL_IN, delay=epoch_s / 2)
        before = [int(e) for e in TRAINED.findall(killed)]
        log = _run(root, data, "--resume", "true", control=control)
        after = [int(e) for e in TRAINED.findall(log)]
        repeated = len(set(after) & {max(before, default=0) + 1})
        diff = (_weights(root) - ref).abs().max().item()
        print(f"| {label} | {diff:.3g} | {_dice(log)[EPOCHS]:.4f} vs {straight[0][EPOCHS]:.4f} | "
              f"{before} then {after} ({repeated} interrupted epoch re-run) |")

    print("\n| network (bundle default) | last.pt MB | atomic save s (median of 5) |")
    print("|---|---|---|")
    for name, mb, seconds in _checkpoint_cost(out):
        print(f"| {name} | {mb:.1f} | {seconds:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
