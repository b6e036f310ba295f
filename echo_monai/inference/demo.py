"""Train, evaluate and apply the view-classification bundle from Python, within a time budget.

    from echo_monai.inference.demo import run_view_demo
    result = run_view_demo("synthetic_views", "demo_output/views", minutes=10)
    print(result["metrics"]["clip"]["mean"]["micro_f1"])

The same as the bundle commands in ``bundles/echo_view_classification/docs/README.md`` (train, then
evaluate on the test split, then infer on a folder), run in this process with ``ConfigWorkflow``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from echo_monai.errors import EchoDataError

__all__ = ["DEFAULT_BUNDLE_DIR", "run_view_demo"]

#: The bundle in a source checkout (``<repo>/bundles/echo_view_classification``).
DEFAULT_BUNDLE_DIR = Path(__file__).resolve().parents[2] / "bundles" / "echo_view_classification"


def _workflow(bundle: Path, files: list[str], workflow_type: str, overrides: dict[str, Any]):
    from monai.bundle import ConfigWorkflow

    configs = [str(bundle / "configs" / f) for f in files]
    return ConfigWorkflow(config_file=configs, meta_file=str(bundle / "configs" / "metadata.json"),
                          logging_file=str(bundle / "configs" / "logging.conf"), workflow_type=workflow_type,
                          **overrides)


def run_view_demo(
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    minutes: float = 10.0,
    max_epochs: int | None = None,
    network: str | None = None,
    image_model: bool = False,
    infer_dir: str | os.PathLike | None = None,
    bundle_dir: str | os.PathLike | None = None,
    overrides: dict[str, Any] | None = None,
    explain_samples: int = 0,
) -> dict[str, Any]:
    """Train the view classifier on ``data_dir``, evaluate it on the test split, optionally infer a folder.

    Args:
        data_dir: a dataset folder with ``datalist.json`` (e.g. from ``echo_monai.synthetic.make_dataset``)
            or a ``<split>/<view>/`` tree.
        out_dir: receives ``models/model.pt`` (best validation clip micro-F1), ``output/tensorboard``,
            ``output/eval_test`` (metrics.json, predictions, confusion matrices) and
            ``output/predictions`` (folder inference).
        minutes: wall-clock budget of the training; it stops after the iteration that exceeds it (the
            best checkpoint so far is kept).
        max_epochs: epochs (default: the bundle's ``max_epochs``).
        network: a file stem of ``configs/networks`` (e.g. ``"gated"``), or None for the default.
        image_model: train the single-frame EfficientNet-b2 (``train_image.json``) instead.
        infer_dir: a folder of cines to classify after training (skipped when None).
        bundle_dir: the bundle folder (default: the one in this source checkout).
        overrides: further config overrides, e.g. ``{"num_workers": 2}``.
        explain_samples: with > 0, the evaluation also runs ``explain.json`` on that many test clips:
            saliency maps (PNG, GIF, NIfTI, CSV) and learned-filter pictures in ``output/explain``.

    Returns:
        ``{"train_seconds", "epochs", "best_val_micro_f1", "metrics" (test metrics.json), "paths"}``.
    """
    from ignite.engine import Events

    bundle = Path(bundle_dir) if bundle_dir else DEFAULT_BUNDLE_DIR
    if not (bundle / "configs" / "train.json").is_file():
        raise EchoDataError(bundle, "not the echo_view_classification bundle (configs/train.json is missing); "
                                    "pass bundle_dir=<path to bundles/echo_view_classification>")
    files = ["train.json"]
    if image_model:
        files.append("train_image.json")
    if network:
        if not (bundle / "configs" / "networks" / f"{network}.json").is_file():
            known = sorted(p.stem for p in (bundle / "configs" / "networks").glob("*.json"))
            raise ValueError(f"unknown network {network!r}; choose one of {', '.join(known)}")
        files.append(f"networks/{network}.json")
    out = Path(out_dir).expanduser().resolve()
    common = {"dataset_dir": str(Path(data_dir).expanduser().resolve()), "bundle_root": str(out), **(overrides or {})}
    train_overrides = dict(common)
    if max_epochs is not None:
        train_overrides["max_epochs"] = int(max_epochs)

    train = _workflow(bundle, files, "train", train_overrides)
    train.initialize()
    trainer = train.parser.get_parsed_content("train#trainer")
    deadline = time.monotonic() + 60.0 * minutes

    def _stop_when_out_of_time(engine) -> None:
        if time.monotonic() > deadline:
            engine.logger.info("time budget of %.1f min reached: training stops", minutes)
            engine.terminate()

    evaluator = train.parser.get_parsed_content("validate#evaluator")

    def _validate_if_never_validated(engine) -> None:
        # The budget can end before the first validation on a slow or busy machine: validate the weights
        # reached so far, which also saves them as the best checkpoint that the evaluation loads.
        if evaluator.state.best_metric_epoch <= 0:
            engine.logger.info("no validation before the time budget ended: validating the current weights")
            evaluator.run(global_epoch=max(int(engine.state.epoch), 1))

    trainer.add_event_handler(Events.ITERATION_COMPLETED, _stop_when_out_of_time)
    trainer.add_event_handler(Events.TERMINATE, _validate_if_never_validated)
    start = time.monotonic()
    train.run()
    train_seconds = time.monotonic() - start
    best = float(evaluator.state.best_metric) if evaluator.state.best_metric_epoch > 0 else float("nan")
    epochs = int(trainer.state.epoch)
    train.finalize()

    explain = explain_samples > 0
    evaluate = _workflow(bundle, files + ["evaluate.json"] + (["explain.json"] if explain else []), "infer",
                         {**common, **({"saliency_max_samples": int(explain_samples)} if explain else {})})
    evaluate.initialize()
    evaluate.run()
    report_dir = Path(evaluate.parser.get_parsed_content("report_dir"))
    explain_dir = Path(evaluate.parser.get_parsed_content("explain_dir")) if explain else None
    evaluate.finalize()
    metrics = json.loads((report_dir / "metrics.json").read_text(encoding="utf-8"))

    paths = {"model": str(out / "models" / "model.pt"), "evaluation": str(report_dir)}
    if explain_dir is not None:
        paths["explanations"] = str(explain_dir)
    if infer_dir is not None:
        infer = _workflow(bundle, files + ["inference.json"], "infer",
                          {**common, "input_dir": str(Path(infer_dir).expanduser().resolve())})
        infer.initialize()
        infer.run()
        paths["predictions"] = str(infer.parser.get_parsed_content("predictions_dir"))
        infer.finalize()
    return {"train_seconds": train_seconds, "epochs": epochs, "best_val_micro_f1": best, "metrics": metrics,
            "paths": paths}
