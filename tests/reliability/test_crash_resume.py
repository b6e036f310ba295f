"""Crash safety of bundle training: SIGKILL mid-epoch, resume, and end exactly where an unbroken run ends.

The wall-segmentation bundle is run as users run it (``python -m monai.bundle run``) on a tiny synthetic
dataset: once straight through, once killed with SIGKILL in the middle of epoch 3 and restarted with
``--resume true``. The resumed run must repeat only the interrupted epoch and finish with the same
per-epoch validation metrics, best model and final weights. Both runs use one thread on the same
machine, where two unbroken runs agree bit for bit (measured: see ``benchmarks/results/crash_resume.md``),
so equality is asserted exactly: any missed state (a transform's random state, the scheduler, the
optimizer moments, the data order) shows up as a difference.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from echo_monai.utils.weights import safe_torch_load

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "bundles" / "echo_lv_wall_segmentation" / "configs"
EPOCHS, KILL_IN_EPOCH = 5, 3
# Small but not degenerate: two iterations per epoch, and a validation Dice that moves from epoch to epoch.
SMALL = ["--image_size", "[48,48]", "--network_def#channels", "[8,16,32]", "--frames_per_clip", "16",
         "--batch_size", "1", "--learning_rate", "0.01", "--max_epochs", str(EPOCHS)]
SAVED = re.compile(r"Saved training checkpoint of epoch (\d+)")
TRAIN_EPOCH = re.compile(r"SupervisedTrainer - INFO - Epoch\[(\d+)\] Complete. Time taken: (\d+):(\d+):([\d.]+)")
METRICS = re.compile(r"Epoch\[(\d+)\] Metrics -- (.*)")


@pytest.fixture(scope="module")
def wall_data(tmp_path_factory) -> Path:
    """The wall bundle tests' smallest dataset: 4 synthetic A4C clips as 48 px NIfTI pairs."""
    from echo_monai.datasets.wall import prepare_wall_dataset
    from echo_monai.synthetic.dataset import make_dataset

    root = tmp_path_factory.mktemp("crash")
    make_dataset(root / "synthetic", n_patients=4, clips_per_view=4, n_frames=40, size=96, seed=3, views=["A4C"],
                 workers=1, figure=False)
    assert prepare_wall_dataset(root / "synthetic", root / "nifti", size=48)["n_converted"] == 4
    return root / "nifti"


def _command(bundle_root: Path, data: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "monai.bundle", "run", "--config_file", f"['{CONFIGS / 'train.json'}']",
            "--meta_file", str(CONFIGS / "metadata.json"), "--logging_file", str(CONFIGS / "logging.conf"),
            "--bundle_root", str(bundle_root), "--dataset_dir", str(data), *SMALL, *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _run(bundle_root: Path, data: Path, *extra: str) -> str:
    proc = subprocess.run(_command(bundle_root, data, *extra), check=False, capture_output=True, text=True,
                          timeout=240, env=_env(), cwd=bundle_root.parent)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    return log


def _metrics(log: str) -> dict[int, str]:
    """``{epoch: 'val_mean_dice: 0.0467'}`` from the validation lines of a run's log."""
    return {int(m.group(1)): m.group(2).strip() for m in METRICS.finditer(log)}


def _trained_epochs(log: str) -> list[int]:
    return [int(m.group(1)) for m in TRAIN_EPOCH.finditer(log)]


def _epoch_seconds(log: str) -> float:
    """The median trainer epoch time of a run (training and validation of one epoch)."""
    times = sorted(int(h) * 3600 + int(m) * 60 + float(s) for _, h, m, s in TRAIN_EPOCH.findall(log))
    return times[len(times) // 2]


def _kill_during_epoch(bundle_root: Path, data: Path, epoch: int, delay: float) -> str:
    """Start a run, SIGKILL it ``delay`` seconds after the checkpoint of ``epoch - 1`` was saved."""
    log_path = bundle_root.parent / f"{bundle_root.name}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(_command(bundle_root, data), stdout=log, stderr=subprocess.STDOUT, env=_env(),
                                cwd=bundle_root.parent)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            if any(int(n) == epoch - 1 for n in SAVED.findall(log_path.read_text())):
                time.sleep(delay)
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, f"the run was not killed (exit {proc.returncode})"
    return log_path.read_text()


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_ends_as_the_unbroken_run(wall_data, tmp_path):
    straight = _run(tmp_path / "straight", wall_data)
    assert _trained_epochs(straight) == list(range(1, EPOCHS + 1))
    reference = _metrics(straight)
    assert len(set(reference.values())) > 1, "metrics that never change would make the comparison empty"

    root = tmp_path / "crashed"
    # A third of an epoch after epoch 2 was saved: inside epoch 3 even if it runs faster than the median.
    killed = _kill_during_epoch(root, wall_data, KILL_IN_EPOCH, delay=_epoch_seconds(straight) / 3)
    # Killed inside epoch 3: epochs 1-2 finished and were saved, epoch 3 never finished.
    assert _trained_epochs(killed) == list(range(1, KILL_IN_EPOCH))
    assert safe_torch_load(root / "models" / "last.pt")["trainer"]["epoch"] == KILL_IN_EPOCH - 1
    safe_torch_load(root / "models" / "model.pt")  # the best model of the killed run is intact

    resumed = _run(root, wall_data, "--resume", "true")
    assert f"epoch {KILL_IN_EPOCH - 1} of {EPOCHS} done" in resumed
    trained = _trained_epochs(resumed)
    assert trained == list(range(KILL_IN_EPOCH, EPOCHS + 1))  # one epoch repeated: the interrupted one
    assert {e: _metrics(resumed)[e] for e in trained} == {e: reference[e] for e in trained}

    for name, key in (("last.pt", "model"), ("model.pt", None)):
        mine, theirs = (safe_torch_load(r / "models" / name) for r in (root, tmp_path / "straight"))
        mine, theirs = (mine[key], theirs[key]) if key else (mine, theirs)
        assert mine.keys() == theirs.keys()
        assert all(torch.equal(mine[k], theirs[k]) for k in mine), f"{name} differs from the unbroken run's"
    assert not list((root / "models").glob(".*.tmp*")), "temporary files left behind"


_WRITER = """
import sys, torch
from echo_monai.handlers.resume import save_atomically
path = sys.argv[1]
for version in range(1, 10_000):
    weights = torch.full((8_000_000,), float(version))
    print("writing", version, flush=True)
    save_atomically({"version": version, "weights": weights}, path)
    print("saved", version, flush=True)
"""


def _kill_while_writing(target: Path) -> int | None:
    """Run a writer saving 32 MB versions of ``target``; SIGKILL it once bytes of version 3 are on disk.

    Returns the last version completely saved when the kill landed inside a write (a temporary file
    left behind and a version started but not reported saved), else None.
    """
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(target)], stdout=subprocess.PIPE, text=True,
                            env=_env())
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line.split())
            if lines[-1] == ["writing", "3"]:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and not any(
                        p.stat().st_size > 0 for p in target.parent.glob(f".{target.name}.*.tmp*")):
                    time.sleep(0.001)
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    lines += [line.split() for line in proc.stdout.read().splitlines()]  # what it said before dying
    saved = max(int(v) for w, v in lines if w == "saved")
    writing = max(int(v) for w, v in lines if w == "writing")
    left = list(target.parent.glob(f".{target.name}.*.tmp*"))
    for stale in left:
        stale.unlink()
    return saved if left and writing == saved + 1 else None


@pytest.mark.slow
def test_sigkill_while_writing_leaves_the_previous_checkpoint(tmp_path):
    target = tmp_path / "model.pt"
    # The kill must land inside a write; a write finishing between the check and the kill is possible
    # on a loaded machine, so up to three tries.
    for _ in range(3):
        saved = _kill_while_writing(target)
        if saved is not None:
            break
    assert saved is not None, "no kill landed inside a write"
    state = safe_torch_load(target)
    assert state["version"] == saved and torch.all(state["weights"] == float(saved))  # previous one, complete
