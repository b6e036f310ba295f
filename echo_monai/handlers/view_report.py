"""View-classification report: predictions per window / clip / study as CSV, metrics and confusion matrices.

Files written into ``output_dir`` (atomically; a run replaces its own report):

- ``window_predictions.csv``: one row per window (cardiac cycle or gated frame);
- ``clip_predictions.csv``: one row per clip: file, predicted view (mean probability), the majority
  vote, the probability of every view, windows, ECG source used for gating, true view when known;
- ``study_predictions.csv``: clips of one study and view aggregated (only when studies are known);
- with labels: ``metrics.json`` (accuracy, micro / macro F1, per-class precision / recall / F1 at
  every level and aggregation) and ``confusion_<level>.csv`` / ``.png`` (counts and row-normalised).

Clips are named by the path the datalist gave (relative to the dataset folder); nothing is read from
DICOM patient tags, so no patient identifier reaches the report.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ignite.engine import Engine, Events

from echo_monai.handlers.view_metrics import softmax
from echo_monai.handlers.view_outputs import WindowRecords, window_records
from echo_monai.metrics.classification import (
    AGGREGATIONS,
    Aggregated,
    aggregate_probabilities,
    classification_metrics,
)
from echo_monai.utils.files import atomic_write_with
from echo_monai.views import VIEW_NAMES

__all__ = ["ClassificationReportHandler", "write_view_report"]


def _write_text(path: Path, text: str) -> None:
    atomic_write_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    _write_text(path, buf.getvalue())


def _fmt(p: float) -> str:
    return f"{p:.4f}"


def _confusion_figure(path: Path, counts: np.ndarray, names: Sequence[str], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rows = counts.sum(axis=1, keepdims=True)
    norm = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    k = len(names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.62 * k, 0.8 + 0.55 * k), dpi=110)
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(k):
        for j in range(k):
            if counts[i, j]:
                ax.text(j, i, f"{counts[i, j]}\n{norm[i, j]:.0%}", ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.6 else "black")
    ax.set_xticks(range(k), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_xlabel("predicted view")
    ax.set_ylabel("true view")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true view")
    fig.tight_layout()
    atomic_write_with(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def _confusion_rows(counts: np.ndarray, names: Sequence[str]) -> list[list[Any]]:
    rows_sum = counts.sum(axis=1)
    out: list[list[Any]] = []
    for i, name in enumerate(names):
        out.append(["count", name, *counts[i].tolist()])
    for i, name in enumerate(names):
        frac = counts[i] / rows_sum[i] if rows_sum[i] else np.zeros(len(names))
        out.append(["row_fraction", name, *[_fmt(v) for v in frac]])
    return out


def _level_metrics(agg: Aggregated, names: Sequence[str]) -> dict[str, Any]:
    return {method: classification_metrics(agg.labels, agg.predictions(method), names) for method in AGGREGATIONS}


def write_view_report(output_dir: str | os.PathLike, records: WindowRecords, *,
                      class_names: Sequence[str] = VIEW_NAMES, logits: bool = True,
                      figures: bool = True) -> dict[str, Any]:
    """Write the report files (module doc) for ``records`` and return the metrics (empty without labels)."""
    out = Path(output_dir)
    names = list(class_names)
    if not len(records):
        raise ValueError("no window predictions to report: the evaluator saw no data")
    probs = softmax(records.score_matrix()) if logits else records.score_matrix()
    if probs.shape[0] and probs.shape[1] != len(names):
        raise ValueError(f"the network gives {probs.shape[1]} scores per window for {len(names)} class names")
    labelled = records.has_labels
    labels = records.labels if labelled else None
    prob_cols = [f"p_{n}" for n in names]

    _write_csv(out / "window_predictions.csv",
               ["clip", "window", "predicted_view", *prob_cols] + (["true_view"] if labelled else []),
               [[c, w, names[int(p.argmax())], *map(_fmt, p)] + ([names[y]] if labelled else [])
                for c, w, p, y in zip(records.clips, records.windows, probs, records.labels)])

    clip_agg = aggregate_probabilities(probs, records.clips, labels)
    first = {c: i for i, c in reversed(list(enumerate(records.clips)))}  # first window of each clip
    clip_rows = []
    for g, clip in enumerate(clip_agg.groups):
        i = first[clip]
        row = [clip, names[clip_agg.mean_pred[g]], _fmt(clip_agg.probabilities[g].max()), names[clip_agg.vote_pred[g]],
               *map(_fmt, clip_agg.probabilities[g]), int(clip_agg.n_windows[g]), records.ecg_sources[i],
               records.studies[i]]
        clip_rows.append(row + ([names[clip_agg.labels[g]]] if labelled else []))
    _write_csv(out / "clip_predictions.csv",
               ["clip", "predicted_view", "probability", "vote_view", *prob_cols, "n_windows", "ecg_source", "study"]
               + (["true_view"] if labelled else []), clip_rows)

    if not labelled:
        return {}
    window_pred = probs.argmax(axis=1)
    metrics: dict[str, Any] = {
        "n_windows": len(records), "n_clips": len(clip_agg.groups),
        "window": classification_metrics(records.labels, window_pred, names),
        "clip": _level_metrics(clip_agg, names),
    }
    levels = {"window": np.asarray(metrics["window"]["confusion"]), "clip": np.asarray(metrics["clip"]["mean"]["confusion"])}
    if any(records.studies):
        # A study usually holds several clips of one view: they are pooled per (study, true view).
        clip_study = {c: s for c, s in zip(records.clips, records.studies)}
        keys = [f"{clip_study[c]}|{names[y]}" for c, y in zip(clip_agg.groups, clip_agg.labels)]
        study_agg = aggregate_probabilities(clip_agg.probabilities, keys, clip_agg.labels)
        _write_csv(out / "study_predictions.csv",
                   ["study", "true_view", "predicted_view", "vote_view", *prob_cols, "n_clips"],
                   [[k.split("|")[0], names[study_agg.labels[g]], names[study_agg.mean_pred[g]],
                     names[study_agg.vote_pred[g]], *map(_fmt, study_agg.probabilities[g]), int(study_agg.n_windows[g])]
                    for g, k in enumerate(study_agg.groups)])
        metrics["n_studies"] = len(study_agg.groups)
        metrics["study"] = _level_metrics(study_agg, names)
        levels["study"] = np.asarray(metrics["study"]["mean"]["confusion"])
    for level, counts in levels.items():
        _write_csv(out / f"confusion_{level}.csv", ["kind", "true_view", *names], _confusion_rows(counts, names))
        if figures:
            m = metrics[level] if level == "window" else metrics[level]["mean"]
            _confusion_figure(out / f"confusion_{level}.png", counts, names,
                              f"{level} level (n={m['n']}): micro-F1 {m['micro_f1']:.3f}, macro-F1 {m['macro_f1']:.3f}")
    _write_text(out / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    return metrics


class ClassificationReportHandler:
    """Collect an evaluator's window predictions over one epoch and write the view report at its end.

    Args:
        output_dir: report folder (created).
        class_names: classes in label order.
        logits: the network's ``pred`` are logits (softmax applied) rather than probabilities.
        figures: also draw the confusion-matrix PNGs.
        clip_key, study_key: batch fields naming the clip and its study.
    """

    def __init__(self, output_dir: str | os.PathLike, class_names: Sequence[str] = VIEW_NAMES, logits: bool = True,
                 figures: bool = True, clip_key: str = "clip", study_key: str = "study") -> None:
        self.output_dir = Path(output_dir)
        self.class_names = list(class_names)
        self.logits = logits
        self.figures = figures
        self.clip_key, self.study_key = clip_key, study_key
        self.records = WindowRecords()
        self.metrics: dict[str, Any] = {}

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self.reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.collect)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def reset(self, engine: Engine | None = None) -> None:
        self.records = WindowRecords()

    def collect(self, engine: Engine) -> None:
        self.records.extend(window_records(engine.state.batch, engine.state.output, clip_key=self.clip_key,
                                           study_key=self.study_key))

    def __call__(self, engine: Engine) -> None:
        self.metrics = write_view_report(self.output_dir, self.records, class_names=self.class_names,
                                         logits=self.logits, figures=self.figures)
        if self.metrics:
            engine.logger.info(
                "view report in %s: clip micro-F1 %.4f, macro-F1 %.4f (%d clips, %d windows)", self.output_dir,
                self.metrics["clip"]["mean"]["micro_f1"], self.metrics["clip"]["mean"]["macro_f1"],
                self.metrics["n_clips"], self.metrics["n_windows"])
        else:
            engine.logger.info("view predictions for %d clips in %s", len(set(self.records.clips)), self.output_dir)
