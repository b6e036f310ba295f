"""Segmentation metrics against cases small enough to count by hand."""

from __future__ import annotations

import numpy as np
import pytest

from echo_monai.errors import EchoDataError
from echo_monai.metrics import METRIC_NAMES, clip_metrics, frame_metrics


@pytest.fixture()
def clip() -> tuple[np.ndarray, np.ndarray]:
    """Label: a 10x10 square in a 20x20 frame, three frames. Prediction: exact, shifted 2 columns, empty."""
    label = np.zeros((3, 20, 20), np.uint8)
    label[:, 5:15, 5:15] = 1
    pred = np.zeros_like(label)
    pred[0, 5:15, 5:15] = 1
    pred[1, 5:15, 7:17] = 1
    return pred, label


def test_per_frame_by_hand(clip: tuple[np.ndarray, np.ndarray]) -> None:
    pred, label = clip
    m = frame_metrics(pred, label, spacing_mm=(1.0, 0.5))
    assert set(m) == set(METRIC_NAMES) and all(v.shape == (3,) for v in m.values())
    # Frame 1: TP = 10*8 = 80, FP = FN = 20, TN = 400 - 120 = 280.
    tp, fp, fn, tn = 80, 20, 20, 280
    expected = {
        "dice": 2 * tp / (2 * tp + fp + fn),
        "iou": tp / (tp + fp + fn),
        "accuracy": (tp + tn) / 400,
        "precision": tp / (tp + fp),
        "sensitivity": tp / (tp + fn),
        "specificity": tn / (tn + fp),
        "f1": 2 * tp / (2 * tp + fp + fn),
        # every non-overlapping edge point lies 2 columns (2 * 0.5 mm) from the other mask's edge
        "hd95_mm": 1.0,
    }
    for name, value in expected.items():
        assert m[name][1] == pytest.approx(value, abs=1e-6), name
        assert m[name][0] == pytest.approx(0.0 if name == "hd95_mm" else 1.0, abs=1e-6), name
    # Frame 2: nothing predicted.
    assert m["dice"][2] == 0 and m["sensitivity"][2] == 0 and m["specificity"][2] == 1
    assert m["accuracy"][2] == pytest.approx(300 / 400)
    assert np.isnan(m["precision"][2]) and np.isnan(m["hd95_mm"][2])


def test_spacing_scales_hausdorff(clip: tuple[np.ndarray, np.ndarray]) -> None:
    pred, label = clip
    assert frame_metrics(pred[1], label[1], spacing_mm=(0.3, 0.25))["hd95_mm"][0] == pytest.approx(0.5)
    assert frame_metrics(pred[1], label[1])["hd95_mm"][0] == pytest.approx(2.0)  # pixels


def test_clip_pools_confusion_matrix(clip: tuple[np.ndarray, np.ndarray]) -> None:
    pred, label = clip
    c = clip_metrics(pred, label, spacing_mm=0.5)
    # Pooled over the clip: TP = 100 + 80 + 0, FP = 0 + 20 + 0, FN = 0 + 20 + 100, TN = 1200 - 300.
    tp, fp, fn, tn = 180, 20, 120, 880
    assert c["sensitivity"] == pytest.approx(tp / (tp + fn))
    assert c["specificity"] == pytest.approx(tn / (tn + fp))
    assert c["precision"] == pytest.approx(tp / (tp + fp))
    assert c["accuracy"] == pytest.approx((tp + tn) / 1200)
    assert c["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    # Dice / IoU: mean of frames; HD95: mean over frames where both masks exist.
    assert c["dice"] == pytest.approx((1 + 0.8 + 0) / 3)
    assert c["iou"] == pytest.approx((1 + 80 / 120 + 0) / 3)
    assert c["hd95_mm"] == pytest.approx((0 + 1.0) / 2)


def test_both_empty_frame_is_perfect() -> None:
    empty = np.zeros((1, 8, 8), bool)
    m = frame_metrics(empty, empty)
    assert m["dice"][0] == 1 and m["iou"][0] == 1 and m["accuracy"][0] == 1
    assert np.isnan(m["hd95_mm"][0])


def test_bad_input() -> None:
    with pytest.raises(EchoDataError, match="differs"):
        frame_metrics(np.zeros((2, 8, 8)), np.zeros((2, 8, 9)))
    with pytest.raises(EchoDataError, match="spacing"):
        frame_metrics(np.zeros((2, 8, 8)), np.zeros((2, 8, 8)), spacing_mm=(0.0, 1.0))
    with pytest.raises(EchoDataError):
        frame_metrics(np.zeros(8), np.zeros(8))
