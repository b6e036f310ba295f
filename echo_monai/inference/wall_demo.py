"""The LV-wall step of the demo: synthetic A4C clips -> NIfTI pairs -> a short bundle training -> evaluation.

:func:`run_wall_demo` runs the bundle in ``bundles/echo_lv_wall_segmentation`` through ``ConfigWorkflow``
on its own configs (the MONAI UNet of ``networks/monai_unet.json``, Dice loss) and returns markdown lines
for the demo summary: wall Dice / HD95 on the held-out clips, the regional abnormality detection from the
predicted masks next to the one from the true masks, and where the overlays and regional figures are.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from echo_monai.errors import EchoDataError

__all__ = ["DEFAULT_BUNDLE", "run_wall_demo"]

logger = logging.getLogger(__name__)

#: The bundle in this source checkout.
DEFAULT_BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "echo_lv_wall_segmentation"

# (frame size the network sees, epochs, random frames per clip per epoch, validation interval)
_QUICK = {"image_size": 64, "epochs": 2, "frames_per_clip": 4, "val_interval": 1, "minutes": None}
_FULL = {"image_size": 96, "epochs": 60, "frames_per_clip": 6, "val_interval": 5, "minutes": 6.0}


def _demo_datalist(wall_dir: Path, out: Path, seed: int) -> tuple[Path, list[str]]:
    """The converter's datalist, or (a tiny dataset without A4C clips in some split) a patient re-split of
    its clips; returns the datalist path and notes for the summary."""
    from echo_monai.datasets.splits import split_items

    datalist = json.loads((wall_dir / "datalist.json").read_text())
    splits = {s: datalist.get(s, []) for s in ("training", "validation", "test")}
    notes: list[str] = []
    if not splits["training"] or not splits["test"]:
        items = [i for v in splits.values() for i in v]
        if not items:
            raise EchoDataError(wall_dir, "no A4C clip with a wall mask to train on")
        splits = split_items(items, group_key="case", val_fraction=0.2, test_fraction=0.2, seed=seed)
        notes.append("the generator's split left a split without A4C clips; re-split by patient")
    if not splits["training"]:
        splits["training"] = list(splits["test"])
        notes.append("**one patient only: trained and tested on the same clips (not a held-out result)**")
    if not splits["validation"]:
        splits["validation"] = list(splits["test"])
        notes.append("no validation patient: the checkpoint is chosen on the test clips (optimistic)")
    path = out / "demo_datalist.json"
    path.write_text(json.dumps({**datalist, **splits}, indent=1))
    return path, notes


def run_wall_demo(
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    quick: bool = False,
    seed: int = 0,
    bundle_dir: str | os.PathLike | None = None,
    minutes: float | None = None,
) -> dict[str, Any]:
    """Convert the synthetic A4C clips of ``data_dir``, train the wall bundle briefly, evaluate it.

    Args:
        data_dir: a synthetic dataset folder (``echo_monai.synthetic.make_dataset``) with A4C clips.
        out_dir: receives ``wall_data/`` (NIfTI pairs), ``bundle/`` (``models/model.pt``, ``output/eval``
            with metrics, per-frame and per-recording CSVs, overlays and regional figures), and copies of
            ``metrics.csv``, ``summary.json``, one overlay GIF and one regional figure at its top.
        quick: 64 px frames and 2 epochs (seconds; for tests); else 96 px and up to 60 epochs or 6 minutes.
        seed: training seed.
        bundle_dir: the bundle folder (default: the one in this source checkout).
        minutes: training budget in minutes instead of the mode's own (training stops after the first
            validated epoch past it; the best checkpoint so far is kept).

    Returns:
        ``{"train_seconds", "epochs", "best_val_dice", "metrics", "summary", "paths", "summary_lines"}``.

    Raises:
        EchoDataError: no A4C clip with wall truth in ``data_dir``, or no bundle folder.
    """
    import torch
    from ignite.engine import Events
    from monai.bundle import ConfigWorkflow

    from echo_monai.datasets.wall import prepare_wall_dataset

    settings = dict(_QUICK if quick else _FULL)
    if minutes is not None:
        settings["minutes"] = float(minutes)
    bundle = Path(bundle_dir) if bundle_dir else DEFAULT_BUNDLE
    configs = bundle / "configs"
    if not (configs / "train.json").is_file():
        raise EchoDataError(bundle, "the LV-wall bundle is not there (it ships with the source checkout)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wall_dir = out / "wall_data"
    size = settings["image_size"]
    report = prepare_wall_dataset(data_dir, wall_dir, size=size)
    if report["n_converted"] == 0:
        raise EchoDataError(data_dir, "no A4C clip with wall truth to convert")
    datalist, notes = _demo_datalist(wall_dir, out, seed)

    root = out / "bundle"
    shutil.rmtree(root / "models", ignore_errors=True)  # a stale checkpoint must not be evaluated
    common = {"bundle_root": str(root), "dataset_dir": str(wall_dir), "datalist": str(datalist),
              "image_size": [size, size], "seed": seed, "frames_per_clip": settings["frames_per_clip"]}
    files = [str(configs / "train.json"), str(configs / "networks" / "monai_unet.json")]
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    train = ConfigWorkflow(config_file=files, meta_file=str(configs / "metadata.json"),
                           logging_file=str(configs / "logging.conf"), workflow_type="train",
                           max_epochs=settings["epochs"], val_interval=settings["val_interval"], max_val_items=3,
                           **common)
    train.initialize()
    trainer = train.parser.get_parsed_content("train#trainer")
    t0 = time.perf_counter()
    if settings["minutes"]:
        budget = 60.0 * settings["minutes"]

        def _stop(engine: Any) -> None:
            # Stop after a validated epoch once the budget is spent: the best checkpoint so far is kept.
            validated = engine.state.epoch % settings["val_interval"] == 0
            if validated and time.perf_counter() - t0 > budget:
                logger.info("wall demo: training budget of %.0f min spent after epoch %d", settings["minutes"],
                            engine.state.epoch)
                engine.terminate()

        trainer.add_event_handler(Events.EPOCH_COMPLETED, _stop)
    train.run()
    train_seconds = time.perf_counter() - t0
    best_val = float(train.parser.get_parsed_content("validate#evaluator").state.best_metric)
    epochs = int(trainer.state.epoch)
    train.finalize()

    evaluate = ConfigWorkflow(config_file=[*files, str(configs / "evaluate.json")],
                              meta_file=str(configs / "metadata.json"), logging_file=str(configs / "logging.conf"),
                              workflow_type="infer", **common)
    evaluate.initialize()
    evaluate.run()
    evaluate.finalize()
    eval_dir = root / "output" / "eval"
    metrics = {k: float(v) for k, v in (line.split(",") for line in (eval_dir / "metrics.csv").read_text().split())}
    summary = json.loads((eval_dir / "summary.json").read_text())
    paths = {"eval_dir": str(eval_dir), "model": str(root / "models" / "model.pt")}
    for name in ("metrics.csv", "summary.json", "recordings.csv"):
        shutil.copyfile(eval_dir / name, out / name)
        paths[name] = str(out / name)
    for key, folder, pattern in (("overlay", "overlays", "*.gif"), ("regional_figure", "regional", "*.png")):
        found = sorted((eval_dir / folder).glob(pattern))
        if found:
            shutil.copyfile(found[0], out / f"example_{found[0].name}")
            paths[key] = str(out / f"example_{found[0].name}")

    n_test = summary.get("n_recordings", 0)
    n_train = len(json.loads(datalist.read_text())["training"])
    lines = [
        (f"Bundle `bundles/echo_lv_wall_segmentation` (MONAI UNet, Dice loss, {size} px frames), trained "
        f"{epochs} epoch(s) in {train_seconds:.0f} s on {n_train} synthetic A4C clips "
        f"(validation: best Dice {best_val:.3f}); evaluated on {n_test} held-out clip(s):"),
        "",
        (f"- wall Dice {metrics['val_mean_dice']:.3f}, IoU {metrics['val_mean_iou']:.3f}, "
        f"precision {metrics['val_precision']:.3f}, recall {metrics['val_recall']:.3f}, "
        f"HD95 {metrics['val_hd95_mm']:.1f} mm"),
    ]
    for what in ("prediction", "ground_truth"):
        s = summary.get(f"regional_{what}")
        if s:
            sens = "n/a" if s["sensitivity"] is None else f"{s['sensitivity']:.2f}"
            spec = "n/a" if s["specificity"] is None else f"{s['specificity']:.2f}"
            lines.append(f"- abnormal segments from the {what.replace('_', ' ')} masks: sensitivity {sens}, "
                         f"specificity {spec} ({s['segments_assessed']} segments assessed)")
    lines += [f"- note: {n}" for n in notes]
    lines += [f"- overlay: `{paths['overlay']}`" if "overlay" in paths else "- overlay: none written",
              f"- regional figure: `{paths['regional_figure']}`" if "regional_figure" in paths
              else "- regional figure: none (no wall traceable in the predicted masks)",
              f"- metrics: `{paths['metrics.csv']}`, per recording `{paths['recordings.csv']}`"]
    if quick:
        lines.append("- quick mode: seconds of training, so the numbers above say nothing about the method")
    return {"train_seconds": train_seconds, "epochs": epochs, "best_val_dice": best_val, "metrics": metrics,
            "summary": summary, "paths": paths, "summary_lines": lines}
