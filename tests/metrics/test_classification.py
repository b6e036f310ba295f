"""Classification metrics and window-to-clip aggregation, checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from echo_monai.metrics.classification import (
    aggregate_probabilities,
    classification_metrics,
    confusion_matrix,
)

NAMES = ("a", "b", "c", "d")


def test_confusion_matrix_rows_are_truth_columns_are_predictions():
    cm = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_metrics_match_hand_computation():
    # truth a a b b c, predicted a b b b a; class d occurs nowhere.
    m = classification_metrics([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], NAMES)
    pc = m["per_class"]
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["micro_f1"] == pytest.approx(3 / 5)
    assert pc["a"]["precision"] == pytest.approx(1 / 2) and pc["a"]["recall"] == pytest.approx(1 / 2)
    assert pc["b"]["precision"] == pytest.approx(2 / 3) and pc["b"]["recall"] == pytest.approx(1.0)
    assert pc["c"]["precision"] == 0.0 and pc["c"]["recall"] == 0.0 and pc["c"]["support"] == 1
    f1_b = 2 * (2 / 3) / (2 / 3 + 1)
    # d is absent from truth and predictions: it does not enter macro-F1.
    assert m["macro_f1"] == pytest.approx((0.5 + f1_b + 0.0) / 3)
    assert m["confusion"][2] == [1, 0, 0, 0]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=60))
def test_micro_f1_is_accuracy_and_counts_add_up(pairs):
    y_true, y_pred = zip(*pairs)
    m = classification_metrics(y_true, y_pred, NAMES)
    assert m["micro_f1"] == pytest.approx(np.mean(np.asarray(y_true) == np.asarray(y_pred)))
    assert sum(c["support"] for c in m["per_class"].values()) == len(pairs)
    assert 0.0 <= m["macro_f1"] <= 1.0


def test_labels_outside_the_classes_are_refused():
    with pytest.raises(ValueError, match="class indices"):
        classification_metrics([0, 4], [0, 1], NAMES)


def test_mean_and_vote_aggregation_can_disagree():
    # clip x: two windows weakly class 1, one window strongly class 0 -> vote 1, mean 0.
    probs = np.array([[0.45, 0.55, 0.0], [0.45, 0.55, 0.0], [0.98, 0.02, 0.0], [0.1, 0.1, 0.8]])
    agg = aggregate_probabilities(probs, ["x", "x", "x", "y"], [0, 0, 0, 2])
    assert agg.groups == ["x", "y"]
    assert agg.n_windows.tolist() == [3, 1]
    np.testing.assert_allclose(agg.probabilities[0], probs[:3].mean(axis=0))
    assert agg.mean_pred.tolist() == [0, 2]
    assert agg.vote_pred.tolist() == [1, 2]
    assert agg.labels.tolist() == [0, 2]


def test_vote_tie_goes_to_the_larger_mean_probability():
    probs = np.array([[0.9, 0.1], [0.4, 0.6]])  # one vote each; class 0 has the larger mean
    agg = aggregate_probabilities(probs, ["c", "c"])
    assert agg.vote_pred.tolist() == [0]
    assert agg.labels is None


def test_windows_of_one_clip_with_different_labels_are_refused():
    with pytest.raises(ValueError, match="different labels"):
        aggregate_probabilities(np.full((2, 2), 0.5), ["c", "c"], [0, 1])
