"""Atomic checkpoints and exact resume: a run stopped mid-epoch and resumed ends with the same weights."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from ignite.engine import Engine, Events
from monai.data import DataLoader, Dataset
from monai.engines import SupervisedTrainer
from monai.handlers import CheckpointSaver, LrScheduleHandler
from monai.transforms import Compose, EnsureTyped, RandAffined, RandFlipd, RandGaussianNoised

from echo_monai.errors import EchoDataError
from echo_monai.handlers.resume import (
    AtomicCheckpointSaver,
    TrainingCheckpoint,
    capture_rng_state,
    random_states_of,
    restore_rng_state,
    save_atomically,
)
from echo_monai.utils.weights import safe_torch_load

torch.set_num_threads(1)


class _Crash(RuntimeError):
    """Stands in for the process dying."""


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _pipeline() -> Compose:
    return Compose([
        RandFlipd(keys="image", prob=0.5, spatial_axis=0),
        RandAffined(keys="image", prob=0.7, rotate_range=0.3, padding_mode="zeros"),
        RandGaussianNoised(keys="image", prob=0.5, std=0.1),
        EnsureTyped(keys=("image", "label"), dtype=torch.float32),
    ])


class _Validate:
    """Runs ``evaluator`` at each trainer epoch end (as MONAI's ValidationHandler does)."""

    def __init__(self, evaluator: Engine):
        self.evaluator = evaluator

    def attach(self, trainer: Engine) -> None:
        trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda e: self.evaluator.run([0]))


def _trainer(root: Path, seed: int, *, resume=False, max_epochs: int = 3, crash_at: tuple[int, int] | None = None,
             evaluator: Engine | None = None):
    """A small but complete training run: shuffled loader, random transforms, dropout, Adam, StepLR."""
    _seed_everything(seed)
    data_rng = np.random.default_rng(0)  # the data are the same in every run; only the seed above differs
    items = [{"image": data_rng.normal(size=(1, 8, 8)).astype(np.float32), "label": np.float32([i % 2])}
             for i in range(12)]
    dataset = Dataset(items, transform=_pipeline())
    dataset.transform.set_random_state(seed=seed)
    loader = DataLoader(dataset, batch_size=4, shuffle=True, num_workers=0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3),
                              torch.nn.Linear(16, 1))
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    ckpt = TrainingCheckpoint(root, {"model": net, "optimizer": opt, "lr_scheduler": sched}, resume=resume,
                              evaluator=evaluator)
    validate = [_Validate(evaluator)] if evaluator is not None else []
    trainer = SupervisedTrainer(device=torch.device("cpu"), max_epochs=max_epochs, train_data_loader=loader,
                                network=net, optimizer=opt, loss_function=torch.nn.BCEWithLogitsLoss(),
                                train_handlers=[LrScheduleHandler(sched, print_lr=False), *validate, ckpt])
    epochs: list[int] = []
    trainer.add_event_handler(Events.EPOCH_STARTED, lambda e: epochs.append(e.state.epoch))
    if crash_at is not None:
        def crash(engine):
            if (engine.state.epoch, engine.state.iteration % engine.state.epoch_length) == crash_at:
                raise _Crash
        trainer.add_event_handler(Events.ITERATION_COMPLETED, crash)
    return trainer, net, ckpt, epochs


def _weights(net: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in net.state_dict().values()])


def test_a_crashed_run_resumes_to_the_same_weights(tmp_path):
    trainer, net, _, _ = _trainer(tmp_path / "straight", seed=0)
    trainer.run()
    uninterrupted = _weights(net)

    crashing, _, _, _ = _trainer(tmp_path / "crash", seed=0, crash_at=(3, 2))
    with pytest.raises(_Crash):
        crashing.run()
    assert safe_torch_load(tmp_path / "crash" / "last.pt")["trainer"]["epoch"] == 2
    shutil.copytree(tmp_path / "crash", tmp_path / "control")  # the resume below overwrites last.pt

    # A new "process": other seeds everywhere, so anything not restored from last.pt shows up.
    resumed, net2, ckpt, epochs = _trainer(tmp_path / "crash", seed=123, resume=True)
    resumed.run()
    assert ckpt.resumed_from_epoch == 2 and epochs == [3]  # only the interrupted epoch ran again
    assert torch.equal(_weights(net2), uninterrupted)  # bit for bit: data order, augmentation, dropout

    # Control: the same resume with the transforms' own random states left as the new process made them.
    control, net3, _, epochs = _trainer(tmp_path / "control", seed=123, resume=True)
    control.add_event_handler(Events.STARTED, lambda e: e.data_loader.dataset.transform.set_random_state(seed=5))
    control.run()
    assert epochs == [3]
    assert not torch.allclose(_weights(net3), uninterrupted, atol=1e-4)


def test_the_best_model_is_not_replaced_by_a_worse_one_after_resume(tmp_path):
    scores = {1: 0.9, 2: 0.5, 3: 0.4}  # the best model is epoch 1's; the first epoch after the resume is worse
    holder: dict = {}

    def run(resume, crash_at=None):
        evaluator = Engine(lambda e, b: None)
        evaluator.add_event_handler(Events.ITERATION_COMPLETED,
                                    lambda e: e.state.metrics.update(dice=scores[holder["trainer"].state.epoch]))
        trainer, net, _, _ = _trainer(tmp_path, seed=0, resume=resume, crash_at=crash_at, evaluator=evaluator)
        AtomicCheckpointSaver(save_dir=str(tmp_path), save_dict={"model": net}, save_key_metric=True,
                              key_metric_name="dice", key_metric_filename="model.pt").attach(evaluator)
        holder["trainer"] = trainer
        return trainer

    with pytest.raises(_Crash):
        run(False, crash_at=(3, 1)).run()
    best = safe_torch_load(tmp_path / "model.pt")
    run(True).run()
    again = safe_torch_load(tmp_path / "model.pt")
    assert all(torch.equal(best[k], again[k]) for k in best)  # epoch 3 (0.4) did not replace epoch 1 (0.9)


def test_rng_state_survives_a_weights_only_file(tmp_path):
    pipeline = _pipeline()
    pipeline.set_random_state(seed=1)
    loader = DataLoader(Dataset([{"image": np.zeros((1, 4, 4), np.float32), "label": 0}], pipeline),
                        generator=torch.Generator().manual_seed(3))
    states, generators = random_states_of(loader)
    assert len(states) >= 4 and len(generators) == 1  # class-level R, and each random transform's own state

    def draws():
        return (random.random(), float(np.random.rand()), float(torch.rand(1)), [s.rand() for s in states],
                [float(torch.rand(1, generator=g)) for g in generators])

    save_atomically({"rng": capture_rng_state(states, generators)}, tmp_path / "rng.pt")
    first = draws()
    restore_rng_state(safe_torch_load(tmp_path / "rng.pt")["rng"], states, generators)
    assert draws() == first

    with pytest.raises(EchoDataError, match="random transforms states .* pipeline has"):
        restore_rng_state(safe_torch_load(tmp_path / "rng.pt")["rng"], states[:-1], generators, source="rng.pt")


class _RunsCode:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_a_malicious_or_wrong_last_checkpoint_is_refused(tmp_path):
    marker = tmp_path / "code_ran"
    torch.save({"echo_monai_training_checkpoint": 1, "trainer": {}, "rng": _RunsCode(marker)}, tmp_path / "last.pt")
    trainer, _, _, _ = _trainer(tmp_path, seed=0, resume=True, max_epochs=1)
    with pytest.raises(EchoDataError, match=r"last\.pt: refused"):
        trainer.run()
    assert not marker.exists()

    torch.save({"weight": torch.zeros(2)}, tmp_path / "model.pt")  # a model file is not a training checkpoint
    trainer, _, _, _ = _trainer(tmp_path / "x", seed=0, resume=str(tmp_path / "model.pt"), max_epochs=1)
    with pytest.raises(EchoDataError, match="cannot resume training"):
        trainer.run()
    trainer, _, _, _ = _trainer(tmp_path / "x", seed=0, resume=str(tmp_path / "none.pt"), max_epochs=1)
    with pytest.raises(EchoDataError, match=r"none\.pt: resume checkpoint not found"):
        trainer.run()


@pytest.mark.parametrize(("resume", "loads"), [(False, False), ("false", False), (True, True), ("true", True),
                                               ("True", True)])
def test_resume_option_as_bundles_pass_it(resume, loads, tmp_path):
    trainer, _, ckpt, epochs = _trainer(tmp_path, seed=0, resume=resume, max_epochs=1)
    trainer.run()  # no last.pt yet: a resume starts fresh
    assert epochs == [1] and (tmp_path / "last.pt").is_file()
    trainer, _, ckpt, epochs = _trainer(tmp_path, seed=0, resume=resume, max_epochs=2)
    trainer.run()
    assert epochs == ([2] if loads else [1, 2])
    assert ckpt.resumed_from_epoch == (1 if loads else None)


class _Net(torch.nn.Linear):
    """A model whose state cannot be pickled once ``broken`` is set: a save that dies half-way."""

    broken = False

    def state_dict(self, *args, **kwargs):
        state = super().state_dict(*args, **kwargs)
        if self.broken:
            state["hook"] = lambda: None  # pickling fails after the file was opened
        return state


@pytest.mark.parametrize("saver", [AtomicCheckpointSaver, CheckpointSaver])
def test_a_save_dying_half_way_keeps_the_previous_best(saver, tmp_path):
    net = _Net(3, 1)
    engine = Engine(lambda e, b: None)
    scores = iter([0.5, 0.9])  # epoch 2 is better: the saver replaces model.pt, and dies doing it

    @engine.on(Events.ITERATION_COMPLETED)
    def validate(e):
        e.state.metrics["dice"] = next(scores)
        if e.state.epoch == 2:
            with torch.no_grad():
                net.weight.add_(1.0)
            net.broken = True

    saver(save_dir=str(tmp_path), save_dict={"model": net}, save_key_metric=True, key_metric_name="dice",
          key_metric_filename="model.pt").attach(engine)
    engine.add_event_handler(Events.EPOCH_COMPLETED(once=1), lambda e: first.append(
        safe_torch_load(tmp_path / "model.pt")["weight"].clone()))
    first: list[torch.Tensor] = []
    with pytest.raises(Exception, match="pickle"):
        engine.run([0], max_epochs=2)
    if saver is AtomicCheckpointSaver:
        assert torch.equal(safe_torch_load(tmp_path / "model.pt")["weight"], first[0])
        assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temporary file left
        assert (tmp_path / "model.pt").stat().st_mode & 0o777 == 0o666 & ~_umask()  # not mkstemp's 0600
    else:  # MONAI's own saver: the previous best is gone or unreadable (why the bundles use the atomic one)
        with pytest.raises(EchoDataError):
            safe_torch_load(tmp_path / "model.pt")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
