"""Weights files are untrusted input: never unpickled beyond tensors, refused clearly when they try more."""

from __future__ import annotations

import ast
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from echo_monai.errors import EchoDataError
from echo_monai.utils.weights import safe_torch_load

REPO = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("echo_monai", "data_scripts", "benchmarks", "bundles")


class _RunsCode:
    """Unpickling this calls os.mkdir(marker): proof that a loader executed code from the file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _torch_load_calls(path: Path) -> list[tuple[int, bool]]:
    """(line, has weights_only=True) for every ``torch.load(...)`` / ``load(...)`` imported from torch."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        is_torch_load = (isinstance(func, ast.Attribute) and func.attr == "load" and isinstance(func.value, ast.Name)
                         and func.value.id == "torch")
        if is_torch_load:
            safe = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                       for k in node.keywords)
            found.append((node.lineno, safe))
    return found


def test_every_torch_load_uses_weights_only():
    checked, unsafe = 0, []
    for folder in SOURCE_DIRS:
        for path in sorted((REPO / folder).rglob("*.py")):
            for line, safe in _torch_load_calls(path):
                checked += 1
                if not safe:
                    unsafe.append(f"{path.relative_to(REPO)}:{line}")
    assert checked >= 1, "no torch.load found: the search is broken"
    assert not unsafe, f"torch.load without weights_only=True: {unsafe}"


def test_no_pickle_or_unsafe_loaders_in_the_package():
    bad = []
    for folder in SOURCE_DIRS:
        for path in sorted((REPO / folder).rglob("*")):
            if path.suffix not in (".py", ".json", ".yaml", ".yml"):
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            for needle in ("pickle.load", "allow_pickle=True", "weights_only=False", "torch.load(", "dill.load"):
                if needle in text and not (needle == "torch.load(" and path.suffix == ".py"):
                    bad.append(f"{path.relative_to(REPO)}: {needle}")
    assert not bad, bad


def _loaders() -> dict[str, Callable[[Path], object]]:
    """Every function of the package that reads a weights file given by a user."""
    from echo_monai.inference.views import load_network_weights
    from echo_monai.networks.efficientnet import _read_state_dict

    net = torch.nn.Linear(2, 2)
    return {
        "safe_torch_load": safe_torch_load,
        "inference.views.load_network_weights": lambda p: load_network_weights(net, p),
        "networks.efficientnet (ImageNet weights file)": _read_state_dict,
    }


@pytest.mark.parametrize("loader", list(_loaders()))
def test_a_code_running_checkpoint_is_refused(loader, tmp_path):
    marker = tmp_path / "code_ran"
    evil = tmp_path / "model.pt"
    torch.save({"state_dict": {"weight": torch.zeros(2, 2)}, "hook": _RunsCode(marker)}, evil)
    with pytest.raises(EchoDataError) as info:
        _loaders()[loader](evil)
    assert "model.pt" in str(info.value)
    assert not marker.exists(), f"{loader} executed code from the checkpoint"


def test_safe_torch_load_says_why_it_refuses(tmp_path):
    evil = tmp_path / "evil.pth"
    torch.save(_RunsCode(tmp_path / "ran"), evil)
    with pytest.raises(EchoDataError, match=r"evil\.pth: refused: .*pickled Python objects"):
        safe_torch_load(evil)
    assert not (tmp_path / "ran").exists()


def test_safe_torch_load_reads_plain_weights_and_names_broken_files(tmp_path):
    good = tmp_path / "good.pt"
    torch.save({"model": {"w": torch.arange(3.0)}}, good)
    assert torch.equal(safe_torch_load(good)["model"]["w"], torch.arange(3.0))
    broken = tmp_path / "broken.pt"
    broken.write_bytes(good.read_bytes()[:40])
    with pytest.raises(EchoDataError, match=r"broken\.pt: cannot read as a PyTorch weights file"):
        safe_torch_load(broken)
    with pytest.raises(EchoDataError, match="not found"):
        safe_torch_load(tmp_path / "missing.pt")


def test_the_bundles_checkpoint_loader_runs_no_code(tmp_path):
    # The bundles load their weights with MONAI's CheckpointLoader; it must stay weights-only.
    import pickle

    from ignite.engine import Engine
    from monai.handlers import CheckpointLoader

    configs = sorted((REPO / "bundles").rglob("configs/*.json"))
    assert any('"CheckpointLoader"' in p.read_text() for p in configs)
    marker = tmp_path / "code_ran"
    evil = tmp_path / "model.pt"
    torch.save({"model": _RunsCode(marker)}, evil)
    engine = Engine(lambda e, b: None)
    CheckpointLoader(load_path=str(evil), load_dict={"model": torch.nn.Linear(2, 2)}).attach(engine)
    with pytest.raises(pickle.UnpicklingError):
        engine.run([0], max_epochs=1)
    assert not marker.exists()
