"""View handlers on a real MONAI SupervisedEvaluator: the report files and the F1 key metric.

The network is a fixed linear map, so the expected predictions are computed here independently of the
handlers, from the same inputs.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from monai.data import DataLoader, Dataset, list_data_collate
from monai.engines import SupervisedEvaluator

from echo_monai.handlers import ClassificationReportHandler, ViewF1
from echo_monai.metrics.classification import aggregate_probabilities, classification_metrics

torch.set_num_threads(1)
NAMES = ["v0", "v1", "v2"]


def _items(labelled: bool = True) -> list[dict]:
    rng = np.random.default_rng(3)
    items = []
    # 6 clips of 2 studies, 1-3 windows each; inputs are noisy one-hot codes of the true class so the
    # linear network below is mostly, not always, right.
    for c in range(6):
        label = c % 3
        for _ in range(1 + c % 3):
            x = rng.normal(0.0, 0.8, size=(1, 2, 3)).astype(np.float32)
            x[0, 0, label] += 1.0
            item = {"image": torch.from_numpy(x), "clip": f"dicom/clip{c}.dcm", "study": f"s{c // 3}"}
            if labelled:
                item["label"] = label
            items.append(item)
    return items


class _FirstRow(torch.nn.Module):
    """Logits = the first row of the (1, 2, 3) input: a fixed 'network' whose output we can predict."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0, 0, :] * 3.0


def _run(items, tmp_path, decollate: bool, batch_size: int = 4):
    loader = DataLoader(Dataset(items), batch_size=batch_size, collate_fn=list_data_collate)
    report = ClassificationReportHandler(tmp_path / "report", class_names=NAMES)
    metrics = {"micro": ViewF1("micro", "clip", class_names=NAMES)} if "label" in items[0] else None
    evaluator = SupervisedEvaluator(
        device=torch.device("cpu"), val_data_loader=loader, network=_FirstRow(),
        key_val_metric=metrics, additional_metrics={"window": ViewF1("micro", "window", class_names=NAMES)}
        if metrics else None, val_handlers=[report], decollate=decollate,
    )
    evaluator.run()
    return evaluator, report


def _expected(items):
    logits = np.stack([i["image"][0, 0].numpy() * 3.0 for i in items])
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    return probs, [i["clip"] for i in items], [i["label"] for i in items]


@pytest.mark.parametrize("decollate", [False, True])
def test_report_and_key_metric_agree_with_an_independent_computation(tmp_path, decollate):
    items = _items()
    evaluator, _ = _run(items, tmp_path, decollate)
    probs, clips, labels = _expected(items)
    agg = aggregate_probabilities(probs, clips, labels)
    want_clip = classification_metrics(agg.labels, agg.mean_pred, NAMES)
    want_window = classification_metrics(labels, probs.argmax(1), NAMES)

    assert evaluator.state.metrics["micro"] == pytest.approx(want_clip["micro_f1"])
    assert evaluator.state.metrics["window"] == pytest.approx(want_window["micro_f1"])
    written = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert written["n_clips"] == 6 and written["n_windows"] == len(items)
    assert written["clip"]["mean"]["confusion"] == want_clip["confusion"]
    assert written["window"]["macro_f1"] == pytest.approx(want_window["macro_f1"])
    assert written["n_studies"] == 6  # 2 studies x 3 views

    with open(tmp_path / "report" / "clip_predictions.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["clip"] for r in rows] == [f"dicom/clip{c}.dcm" for c in range(6)]
    for g, row in enumerate(rows):
        assert row["predicted_view"] == NAMES[agg.mean_pred[g]]
        assert row["true_view"] == NAMES[agg.labels[g]]
        assert float(row["p_v1"]) == pytest.approx(agg.probabilities[g, 1], abs=1e-4)
        assert int(row["n_windows"]) == agg.n_windows[g]


def test_confusion_csv_has_counts_and_row_fractions(tmp_path):
    _run(_items(), tmp_path, decollate=False)
    with open(tmp_path / "report" / "confusion_clip.csv") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["kind", "true_view", *NAMES]
    counts = np.array([[int(v) for v in r[2:]] for r in rows[1:4]])
    fractions = np.array([[float(v) for v in r[2:]] for r in rows[4:7]])
    assert counts.sum() == 6
    np.testing.assert_allclose(fractions.sum(axis=1), 1.0, atol=1e-3)
    assert (tmp_path / "report" / "confusion_clip.png").stat().st_size > 1000


def test_without_labels_only_predictions_are_written(tmp_path):
    _run(_items(labelled=False), tmp_path, decollate=True)
    out = tmp_path / "report"
    assert not (out / "metrics.json").exists()
    with open(out / "clip_predictions.csv") as fh:
        header = next(csv.reader(fh))
    assert "true_view" not in header and header[:2] == ["clip", "predicted_view"]
