"""Classification metrics for view recognition, and aggregation of window predictions to clips / studies.

A clip is classified from several windows (cardiac cycles, or gated frames); its prediction is the
mean of the window probabilities (``"mean"``) or the most frequent window prediction (``"vote"``,
ties broken by the mean probability). The same rule aggregates clips to studies.

For a single-label task micro-F1 equals accuracy; macro-F1 averages the per-class F1 over the classes
that occur in the truth or the predictions (a class absent from both is not counted as 0 or 1).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "AGGREGATIONS",
    "Aggregated",
    "aggregate_probabilities",
    "classification_metrics",
    "confusion_matrix",
]

AGGREGATIONS: tuple[str, ...] = ("mean", "vote")


def _as_labels(values: Sequence[int] | np.ndarray, num_classes: int, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.int64).reshape(-1)
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        raise ValueError(f"{name} must hold class indices in [0, {num_classes}), got {arr.min()}..{arr.max()}")
    return arr


def confusion_matrix(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
                     num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) int64 counts; row = true class, column = predicted class."""
    t = _as_labels(y_true, num_classes, "y_true")
    p = _as_labels(y_pred, num_classes, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length ({t.size} vs {p.size})")
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def classification_metrics(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
                           class_names: Sequence[str]) -> dict:
    """Accuracy, micro / macro F1, per-class precision / recall / F1 / support and the confusion matrix.

    Returns:
        ``{"n", "accuracy", "micro_f1", "macro_f1", "per_class": {name: {"precision", "recall", "f1",
        "support"}}, "confusion": list of lists}``. Precision of a class never predicted is 0 (and
        recall of a class absent from the truth is 0); such classes still enter macro-F1 when they occur
        on the other side.
    """
    k = len(class_names)
    cm = confusion_matrix(y_true, y_pred, k)
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    present = (support + predicted) > 0
    n = int(cm.sum())
    accuracy = float(tp.sum() / n) if n else 0.0
    # Single-label: every error is one FP and one FN, so micro precision = recall = F1 = accuracy.
    return {
        "n": n,
        "accuracy": accuracy,
        "micro_f1": accuracy,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                   "support": int(support[i])}
            for i, name in enumerate(class_names)
        },
        "confusion": cm.tolist(),
    }


@dataclass(frozen=True)
class Aggregated:
    """Predictions aggregated over groups (clips or studies), in first-seen group order.

    Attributes:
        groups: the group keys, length G.
        probabilities: (G, K) mean window probability of each group.
        mean_pred: (G,) class of the largest mean probability.
        vote_pred: (G,) most frequent window prediction (ties: the tied class of larger mean probability).
        n_windows: (G,) windows per group.
        labels: (G,) the group's true class, or None when no labels were given.
    """

    groups: list[Hashable]
    probabilities: np.ndarray
    mean_pred: np.ndarray
    vote_pred: np.ndarray
    n_windows: np.ndarray
    labels: np.ndarray | None

    def predictions(self, method: str) -> np.ndarray:
        """(G,) predictions of ``method`` (``"mean"`` or ``"vote"``)."""
        if method not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {method!r}")
        return self.mean_pred if method == "mean" else self.vote_pred


def aggregate_probabilities(probabilities: np.ndarray, groups: Sequence[Hashable],
                            labels: Sequence[int] | np.ndarray | None = None) -> Aggregated:
    """Aggregate (N, K) window probabilities to groups by mean probability and by majority vote.

    Args:
        probabilities: (N, K) class probabilities of N windows (rows sum to 1).
        groups: N group keys (clip file, or (study, view)), one per window.
        labels: N true classes, or None; all windows of a group must share their label.

    Raises:
        ValueError: shapes disagree, or one group has windows with different labels.
    """
    probs = np.asarray(probabilities, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] != len(groups):
        raise ValueError(f"probabilities must be (N, K) with N = len(groups) = {len(groups)}, got {probs.shape}")
    k = probs.shape[1]
    index: dict[Hashable, int] = {}
    for g in groups:
        index.setdefault(g, len(index))
    rows = np.fromiter((index[g] for g in groups), dtype=np.int64, count=len(groups))
    n_groups = len(index)
    n_windows = np.bincount(rows, minlength=n_groups)
    sums = np.zeros((n_groups, k))
    np.add.at(sums, rows, probs)
    mean = sums / np.maximum(n_windows, 1)[:, None]
    votes = np.zeros((n_groups, k))
    np.add.at(votes, (rows, probs.argmax(axis=1)), 1.0)
    # A vote tie is settled by the mean probability: add less than one vote's worth of it.
    vote_pred = (votes + 0.5 * mean).argmax(axis=1)
    group_labels = None
    if labels is not None:
        lab = np.asarray(labels, dtype=np.int64).reshape(-1)
        if lab.shape[0] != len(groups):
            raise ValueError(f"labels has {lab.shape[0]} entries for {len(groups)} windows")
        group_labels = np.full(n_groups, -1, dtype=np.int64)
        for r, y in zip(rows, lab):
            if group_labels[r] not in (-1, y):
                group = list(index)[r]
                raise ValueError(f"group {group!r} has windows with different labels ({group_labels[r]} and {y})")
            group_labels[r] = y
    return Aggregated(list(index), mean, mean.argmax(axis=1), vote_pred, n_windows, group_labels)
