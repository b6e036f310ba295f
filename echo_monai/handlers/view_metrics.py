"""Ignite metric for view classification: F1 over windows, or over clips after aggregating their windows."""

from __future__ import annotations

from typing import Any

import numpy as np
from ignite.engine import Engine, Events
from ignite.metrics import Metric

from echo_monai.handlers.view_outputs import WindowRecords, window_records
from echo_monai.metrics.classification import AGGREGATIONS, aggregate_probabilities, classification_metrics
from echo_monai.views import VIEW_NAMES

__all__ = ["ViewF1", "softmax"]

_LEVELS = ("window", "clip")


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, K) logits (float64, numerically stable)."""
    if scores.size == 0:
        return scores.astype(np.float64)
    z = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class ViewF1(Metric):
    """Micro- or macro-F1 of view predictions, as a MONAI evaluator's key metric.

    It reads the engine's batch and output itself (clip keys are in the batch, not the output), so it
    needs no ``output_transform``. Windows (cycles / gated frames) of one clip are aggregated by
    ``aggregation`` when ``level="clip"``.

    Args:
        average: ``"micro"`` (= accuracy for a single-label task) or ``"macro"``.
        level: ``"clip"`` or ``"window"``.
        aggregation: ``"mean"`` probability or majority ``"vote"`` (clip level).
        logits: the network's ``pred`` are logits (softmax is applied) rather than probabilities.
        class_names: the classes, in label order.
    """

    def __init__(self, average: str = "micro", level: str = "clip", aggregation: str = "mean", logits: bool = True,
                 class_names: tuple[str, ...] | list[str] = VIEW_NAMES) -> None:
        if average not in ("micro", "macro"):
            raise ValueError(f"average must be 'micro' or 'macro', got {average!r}")
        if level not in _LEVELS:
            raise ValueError(f"level must be one of {_LEVELS}, got {level!r}")
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
        self.average, self.level, self.aggregation, self.logits = average, level, aggregation, logits
        self.class_names = tuple(class_names)
        self._records = WindowRecords()
        super().__init__(output_transform=lambda x: x)

    def reset(self) -> None:
        self._records = WindowRecords()

    def update(self, output: Any) -> None:
        # Called by ``iteration_completed`` below with the whole engine state.
        batch, out = output
        self._records.extend(window_records(batch, out))

    def iteration_completed(self, engine: Engine) -> None:
        self.update((engine.state.batch, engine.state.output))

    def compute(self) -> float:
        rec = self._records
        if not len(rec) or not rec.has_labels:
            raise RuntimeError("ViewF1 needs at least one labelled window before it can be computed")
        probs = rec.score_matrix()
        probs = softmax(probs) if self.logits else probs
        if self.level == "clip":
            agg = aggregate_probabilities(probs, rec.clips, rec.labels)
            y_true, y_pred = agg.labels, agg.predictions(self.aggregation)
        else:
            y_true, y_pred = np.asarray(rec.labels), probs.argmax(axis=1)
        metrics = classification_metrics(y_true, y_pred, self.class_names)
        return float(metrics[f"{self.average}_f1"])

    def attach(self, engine: Engine, name: str, usage: Any = None) -> None:  # type: ignore[override]
        engine.add_event_handler(Events.EPOCH_STARTED, self.started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.iteration_completed)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.completed, name)
