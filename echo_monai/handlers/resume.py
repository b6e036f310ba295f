"""Crash-safe training: checkpoints a crash cannot corrupt, and resuming a killed run where it stopped.

Atomic writes. MONAI's :class:`~monai.handlers.CheckpointSaver` builds ignite's ``DiskSaver`` with
``atomic=False`` (``monai/handlers/checkpoint_saver.py``: "atomic=True only gives read/write permission
to the user"), so ``torch.save`` writes straight into ``model.pt``; and for a new best model ignite's
``Checkpoint`` *removes* the previous fixed-name file before writing its replacement. A crash in between
leaves no ``model.pt`` or a truncated one. :class:`AtomicCheckpointSaver` is the same handler writing
every file to a temporary file beside it and renaming it into place (readable by group and others, as
MONAI wants); the previous file stays until the new one is complete.

Resume. :class:`TrainingCheckpoint` writes ``last.pt`` at the end of every epoch (after validation)
with everything a run needs to continue as if it had never stopped: model, optimizer, LR scheduler,
the trainer's epoch and iteration, the evaluator's best metric and best-model tracking, and every
random state that decides what the next epoch sees — Python ``random``, NumPy, torch (CPU and CUDA),
the data loader's generators, and the private ``RandomState`` of each MONAI random transform of the
training dataset (``Randomizable.R``: MONAI transforms draw from these, not from the global NumPy
state, so seeding alone cannot replay epoch *k* of a run). With ``resume`` set, it loads the file at
``Events.STARTED`` and the trainer continues with the next epoch. Everything is stored as tensors and
plain values, so it is loaded with ``weights_only=True`` (:func:`~echo_monai.utils.weights.safe_torch_load`).
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import ignite.distributed as idist
import numpy as np
import torch
from ignite.engine import Engine, Events
from ignite.handlers.checkpoint import BaseSaveHandler
from monai.handlers import CheckpointSaver
from monai.transforms import Randomizable, Transform

from echo_monai.errors import EchoDataError
from echo_monai.utils.files import atomic_write_with
from echo_monai.utils.weights import safe_torch_load

__all__ = [
    "AtomicCheckpointSaver",
    "TrainingCheckpoint",
    "capture_rng_state",
    "random_states_of",
    "restore_rng_state",
    "save_atomically",
]

#: Marks a file written by :class:`TrainingCheckpoint` (and its layout version).
FORMAT_KEY, FORMAT_VERSION = "echo_monai_training_checkpoint", 1
_TRUE, _FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off", "", "none", "null"}


def _file_mode() -> int:
    """Permissions of a newly created ordinary file under the current umask (mkstemp makes them 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def save_atomically(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)`` through a temporary file in the same folder, synced, then renamed.

    A crash at any moment leaves ``path`` either as it was or complete; never partly written.
    """
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())  # the rename must not reach the disk before the data (power loss)
        os.chmod(tmp, _file_mode())

    return atomic_write_with(path, write)


def _remove_stale_temporaries(path: Path) -> None:
    """Delete temporary files a killed :func:`save_atomically` left beside ``path`` (``.<name>.*.tmp*``)."""
    if path.parent.is_dir():
        for stale in path.parent.glob(f".{path.name}.*.tmp*"):
            stale.unlink(missing_ok=True)


# -- atomic best-model saver ------------------------------------------------------------------------------

class _AtomicDiskSaver(BaseSaveHandler):
    """ignite save handler writing with :func:`save_atomically` on rank 0, optionally to a fixed name."""

    def __init__(self, dirname: str | os.PathLike, filename: str | None = None):
        self.dirname = Path(dirname)
        self.filename = filename

    def __call__(self, checkpoint: Mapping, filename: str, metadata: Mapping | None = None) -> None:
        if idist.get_rank() == 0:
            save_atomically(checkpoint, self.dirname / (self.filename or filename))

    def remove(self, filename: str) -> None:
        # ignite removes the old best before saving the new one; with a fixed name the save replaces it
        # in one step, and removing it first would leave no model at all if the run died in between.
        if self.filename is None and idist.get_rank() == 0:
            (self.dirname / filename).unlink(missing_ok=True)


class AtomicCheckpointSaver(CheckpointSaver):
    """:class:`monai.handlers.CheckpointSaver` whose files are written atomically (same arguments).

    Also gives ``state_dict()`` (the best-model tracking, which MONAI's class can load but not save), so
    that :class:`TrainingCheckpoint` can carry it over a resume and a resumed run does not replace a
    better ``model.pt`` with the first model it validates.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for checkpoint in self._checkpoints():
            checkpoint.save_handler = _AtomicDiskSaver(self.save_dir, getattr(checkpoint.save_handler, "filename", None))

    def _checkpoints(self) -> list:
        return [c for c in (self._final_checkpoint, self._key_metric_checkpoint, self._interval_checkpoint)
                if c is not None]

    def attach(self, engine: Engine) -> None:
        super().attach(engine)
        for checkpoint in self._checkpoints():
            if checkpoint.save_handler.filename is not None and idist.get_rank() == 0:
                _remove_stale_temporaries(Path(self.save_dir) / checkpoint.save_handler.filename)

    def state_dict(self) -> dict:
        """``{"key_metric": ...}``: the saved-best list of the key-metric checkpoint, if there is one."""
        if self._key_metric_checkpoint is None:
            return {}
        return {"key_metric": self._key_metric_checkpoint.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        """Inverse of :meth:`state_dict` (also accepts MONAI's own form, the key-metric state alone)."""
        inner = state_dict.get("key_metric", state_dict) if isinstance(state_dict, Mapping) else state_dict
        if inner and self._key_metric_checkpoint is not None:
            self._key_metric_checkpoint.load_state_dict(inner)


# -- random states ----------------------------------------------------------------------------------------

def _walk(obj: Any, seen: set[int]) -> Iterator[Any]:
    """Objects reachable from a transform pipeline, depth first, in attribute order (deterministic)."""
    if id(obj) in seen or isinstance(obj, (str, bytes, int, float, bool, type(None), torch.Tensor, np.ndarray)):
        return
    seen.add(id(obj))
    yield obj
    if isinstance(obj, (list, tuple)):
        children: Iterable[Any] = obj
    elif isinstance(obj, dict):
        children = obj.values()
    elif isinstance(obj, (Transform, Randomizable)):
        children = getattr(obj, "__dict__", {}).values()
    elif isinstance(obj, torch.utils.data.Dataset):
        # the pipeline only: a dataset's items and cache are data, not random state (and may be large)
        children = [getattr(obj, k) for k in ("transform", "dataset", "datasets") if hasattr(obj, k)]
    else:
        return
    for child in children:
        yield from _walk(child, seen)


def random_states_of(*roots: Any) -> tuple[list[np.random.RandomState], list[torch.Generator]]:
    """Every NumPy ``RandomState`` and torch ``Generator`` inside datasets / transforms / data loaders.

    A data loader contributes its dataset and its own and its sampler's generators (``None`` ones, i.e.
    the global torch generator, are covered by :func:`capture_rng_state` anyway). MONAI's class-level
    ``Randomizable.R``, shared by random transforms never given their own state, always comes first.
    """
    seen: set[int] = {id(Randomizable.R)}
    states: list[np.random.RandomState] = [Randomizable.R]
    generators: list[torch.Generator] = []
    walked: set[int] = set()

    def keep(value: Any) -> None:
        if isinstance(value, (np.random.RandomState, torch.Generator)) and id(value) not in seen:
            seen.add(id(value))
            (states if isinstance(value, np.random.RandomState) else generators).append(value)

    for root in roots:
        if isinstance(root, torch.utils.data.DataLoader):
            # the order a shuffling sampler draws comes from these generators when they are given
            keep(getattr(root, "generator", None))
            keep(getattr(root.sampler, "generator", None))
            root = root.dataset
        for obj in _walk(root, walked):
            if isinstance(obj, (Transform, Randomizable)):
                for value in getattr(obj, "__dict__", {}).values():
                    keep(value)
    return states, generators


def _numpy_state(state: tuple) -> dict:
    kind, keys, pos, has_gauss, cached = state
    return {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def _numpy_tuple(state: Mapping) -> tuple:
    return (state["kind"], state["keys"].numpy().astype(np.uint32), int(state["pos"]), int(state["has_gauss"]),
            float(state["cached_gaussian"]))


def capture_rng_state(numpy_states: Iterable[np.random.RandomState] = (),
                      generators: Iterable[torch.Generator] = ()) -> dict:
    """Global random states (Python, NumPy, torch CPU and CUDA) plus the given private ones.

    Returns:
        a dict of tensors and plain values only (loadable with ``weights_only=True``).
    """
    version, internal, gauss_next = random.getstate()
    out: dict[str, Any] = {
        "python": {"version": int(version), "state": torch.tensor(internal, dtype=torch.int64),
                   "gauss_next": gauss_next},
        "numpy": _numpy_state(np.random.get_state()),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else [],
        "transforms": [_numpy_state(s.get_state()) for s in numpy_states],
        "generators": [g.get_state() for g in generators],
    }
    return out


def restore_rng_state(state: Mapping, numpy_states: Iterable[np.random.RandomState] = (),
                      generators: Iterable[torch.Generator] = (), *, source: str | os.PathLike | None = None) -> None:
    """Put back what :func:`capture_rng_state` took, into the same (or equally built) objects.

    Raises:
        EchoDataError: the number of private states differs (the training pipeline changed since).
    """
    numpy_states, generators = list(numpy_states), list(generators)
    for name, have in (("transforms", numpy_states), ("generators", generators)):
        if len(state[name]) != len(have):
            raise EchoDataError(source, f"the checkpoint holds {len(state[name])} random {name} states but the "
                                        f"training pipeline has {len(have)}: its random transforms or data "
                                        "loader changed since it was saved, so the run cannot be replayed")
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss_next"]))
    np.random.set_state(_numpy_tuple(state["numpy"]))
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    for rs, saved in zip(numpy_states, state["transforms"]):
        rs.set_state(_numpy_tuple(saved))
    for gen, saved in zip(generators, state["generators"]):
        gen.set_state(saved.cpu())


# -- the epoch-end checkpoint ------------------------------------------------------------------------------

def _unwrapped(obj: Any) -> Any:
    """The module inside DDP / DataParallel, so that single- and multi-process runs share checkpoints."""
    parallel = (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)
    return obj.module if isinstance(obj, parallel) else obj


def _attached(engine: Engine, kind: type) -> list:
    """Handler objects of type ``kind`` attached to ``engine`` (bound methods' owners), in attach order."""
    found: list = []
    # ignite keeps no public list of handlers; _event_handlers maps event -> [(handler, args, kwargs)].
    for entries in getattr(engine, "_event_handlers", {}).values():
        for handler, *_ in entries:
            owner = getattr(getattr(handler, "__wrapped__", handler), "__self__", None)
            if isinstance(owner, kind) and all(owner is not f for f in found):
                found.append(owner)
    return found


def _resume_path(resume: bool | str | os.PathLike | None, default: Path) -> tuple[Path | None, bool]:
    """(file to load or None, whether the user named it explicitly) from the ``resume`` option."""
    if resume is None or isinstance(resume, bool):
        return (default if resume else None), False
    text = os.fspath(resume).strip()
    if text.lower() in _TRUE:  # `--resume true` reaches the config as a string
        return default, False
    if text.lower() in _FALSE:
        return None, False
    return Path(text).expanduser(), True


class TrainingCheckpoint:
    """Save everything needed to resume at every epoch end; optionally resume from it at the start.

    Attach to the trainer after the validation handler, so that the file of epoch *k* holds that epoch's
    validation (best metric and best-model tracking). Every rank loads; rank 0 saves.

    Args:
        save_dir: folder of the checkpoint (created when first written).
        save_dict: ``{name: object with state_dict / load_state_dict}``, e.g. model, optimizer and LR
            scheduler. A DDP-wrapped model is saved unwrapped.
        resume: ``False`` (start fresh; an existing file is replaced at the first epoch end), ``True``
            (continue from ``save_dir/filename`` if it exists, else start fresh), or a checkpoint path
            (must exist). The strings ``"true"`` / ``"false"`` of a command line are understood.
        filename: name of the checkpoint in ``save_dir``.
        evaluator: the validation engine, whose best metric, best epoch and :class:`AtomicCheckpointSaver`
            tracking are saved and restored with the rest.
        name: logger name (default: the trainer's logger).
    """

    def __init__(self, save_dir: str | os.PathLike, save_dict: Mapping[str, Any],
                 resume: bool | str | os.PathLike | None = False, filename: str = "last.pt",
                 evaluator: Engine | None = None, name: str | None = None):
        if not save_dict:
            raise ValueError("TrainingCheckpoint needs at least one object to save (save_dict is empty)")
        reserved = {"trainer", "evaluator", "rng", "savers", FORMAT_KEY} & set(save_dict)
        if reserved:
            raise ValueError(f"save_dict keys {sorted(reserved)} are reserved by TrainingCheckpoint")
        self.path = Path(save_dir) / filename
        self.save_dict = dict(save_dict)
        self.load_path, self._explicit = _resume_path(resume, self.path)
        self.evaluator = evaluator
        self._name = name
        self.logger = logging.getLogger(name or __name__)
        self.resumed_from_epoch: int | None = None

    def attach(self, engine: Engine) -> None:
        if self._name is None:
            self.logger = engine.logger
        if self.load_path is not None:
            engine.add_event_handler(Events.STARTED, self.load)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.save)

    def _randoms(self, engine: Engine) -> tuple[list[np.random.RandomState], list[torch.Generator]]:
        # MONAI workflows keep their loader as `data_loader`; a plain ignite Engine has it in its state.
        loader = getattr(engine, "data_loader", None) or getattr(engine.state, "dataloader", None)
        return random_states_of(loader) if loader is not None else random_states_of()

    def _savers(self) -> list[AtomicCheckpointSaver]:
        return _attached(self.evaluator, AtomicCheckpointSaver) if self.evaluator is not None else []

    def state_dict(self, engine: Engine) -> dict:
        """The checkpoint as saved: tensors and plain values only."""
        numpy_states, generators = self._randoms(engine)
        state: dict[str, Any] = {FORMAT_KEY: FORMAT_VERSION,
                                 "trainer": {"epoch": int(engine.state.epoch), "iteration": int(engine.state.iteration),
                                             "max_epochs": engine.state.max_epochs,
                                             "epoch_length": engine.state.epoch_length},
                                 "rng": [capture_rng_state(numpy_states, generators)]}
        scaler = getattr(engine, "scaler_", None)  # SupervisedTrainer's AMP gradient scaler
        if scaler is not None:
            state["trainer"]["scaler"] = scaler.state_dict()
        if self.evaluator is not None:
            best = getattr(self.evaluator.state, "best_metric", None)
            state["evaluator"] = {"best_metric": None if best is None else float(best),
                                  "best_metric_epoch": int(getattr(self.evaluator.state, "best_metric_epoch", -1))}
            state["savers"] = [s.state_dict() for s in self._savers()]
        for key, obj in self.save_dict.items():
            state[key] = _unwrapped(obj).state_dict()
        return state

    def save(self, engine: Engine) -> None:
        """Write the checkpoint of the epoch just completed (rank 0 writes; every rank gives its random state)."""
        state = self.state_dict(engine)
        if idist.get_world_size() > 1:
            # Ranks draw different augmentations (seeded per rank): each rank's random state is kept, so a
            # resumed multi-process run replays every rank. A collective: every rank must run this handler.
            gathered: list[Any] = [None] * idist.get_world_size()
            torch.distributed.all_gather_object(gathered, state["rng"][0])
            state["rng"] = gathered
        if idist.get_rank() != 0:
            return
        save_atomically(state, self.path)
        self.logger.info(f"Saved training checkpoint of epoch {engine.state.epoch}: {self.path}")

    def _check(self, state: Any) -> dict:
        if not isinstance(state, dict) or state.get(FORMAT_KEY) != FORMAT_VERSION:
            raise EchoDataError(self.load_path, "not a training checkpoint of echo_monai (written by "
                                                "TrainingCheckpoint, format 1); a model-only file such as "
                                                "model.pt cannot resume training")
        missing = [k for k in ("trainer", "rng", *self.save_dict) if k not in state]
        if missing:
            raise EchoDataError(self.load_path, f"training checkpoint lacks {missing}")
        return state

    def load(self, engine: Engine) -> None:
        """Restore everything from ``load_path`` and set the trainer to continue with the next epoch."""
        assert self.load_path is not None
        if idist.get_rank() == 0:
            _remove_stale_temporaries(self.path)
        if not self.load_path.is_file():
            if self._explicit:
                raise EchoDataError(self.load_path, "resume checkpoint not found")
            self.logger.info(f"No training checkpoint at {self.load_path}: starting from epoch 1")
            return
        state = self._check(safe_torch_load(self.load_path))
        saved = state["trainer"]
        if saved["epoch_length"] != engine.state.epoch_length:
            raise EchoDataError(self.load_path, f"saved with {saved['epoch_length']} iterations per epoch, this "
                                                f"run has {engine.state.epoch_length}: the training data or batch "
                                                "size changed since, so the run cannot be continued")
        for key, obj in self.save_dict.items():
            _unwrapped(obj).load_state_dict(state[key])
        scaler = getattr(engine, "scaler_", None)
        if scaler is not None and "scaler" in saved:
            scaler.load_state_dict(saved["scaler"])
        if self.evaluator is not None and "evaluator" in state:
            if state["evaluator"]["best_metric"] is not None:
                self.evaluator.state.best_metric = state["evaluator"]["best_metric"]
            self.evaluator.state.best_metric_epoch = state["evaluator"]["best_metric_epoch"]
            savers = self._savers()
            if len(savers) == len(state.get("savers", [])):
                for saver, saver_state in zip(savers, state["savers"]):
                    saver.load_state_dict(saver_state)
            elif savers:  # (ranks > 0 of a multi-process run have none: only rank 0 writes model.pt)
                self.logger.warning("Best-model savers differ from the checkpoint's: their tracking restarts")
        rank, ranks = idist.get_rank(), len(state["rng"])
        if ranks != idist.get_world_size():
            self.logger.warning(f"Checkpoint was saved by {ranks} process(es), this run has {idist.get_world_size()}: "
                                "random states of rank 0 are used, the data order will not replay exactly")
        numpy_states, generators = self._randoms(engine)
        restore_rng_state(state["rng"][rank if rank < ranks else 0], numpy_states, generators, source=self.load_path)
        if saved["max_epochs"] != engine.state.max_epochs:
            self.logger.warning(f"Checkpoint was saved with max_epochs={saved['max_epochs']}, this run has "
                                f"{engine.state.max_epochs}: training continues to {engine.state.max_epochs}")
        engine.state.epoch = int(saved["epoch"])
        engine.state.iteration = int(saved["iteration"])
        self.resumed_from_epoch = engine.state.epoch
        self.logger.info(f"Resumed from {self.load_path}: epoch {engine.state.epoch} of {engine.state.max_epochs} "
                         "done, continuing with the next")
