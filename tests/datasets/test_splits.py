"""Patient-grouped splits and folds: no patient in two splits, classes balanced, deterministic."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from echo_monai.datasets.splits import assign_groups, patient_from_name, patient_key, split_items


def _items(n_patients: int = 30, seed: int = 0) -> list[dict]:
    import numpy as np

    rng = np.random.default_rng(seed)
    views = ["A4C", "A2C", "PLAX", "PSAX-mid", "Subcostal"]
    items = []
    for p in range(n_patients):
        for _ in range(int(rng.integers(1, 6))):
            items.append({"image": f"x{len(items)}.dcm", "case": f"pt{p:03d}", "view": str(rng.choice(views))})
    return items


def test_patient_key_is_salted_stable_and_hides_the_id():
    a = patient_key("MRN-123456", "s1")
    assert a == patient_key(" MRN-123456 ", "s1")
    assert a != patient_key("MRN-123456", "s2")
    assert a != patient_key("MRN-123457", "s1")
    assert "123456" not in a and re.fullmatch(r"p[0-9a-f]{16}", a)
    with pytest.raises(ValueError):
        patient_key("MRN-1", "")


def test_patient_from_name_prefers_named_group_then_first_group():
    assert patient_from_name("p012_clip3.avi", re.compile(r"^(?P<patient>p\d+)_")) == "p012"
    assert patient_from_name("site/p7/clip.avi", re.compile(r"/(p\d+)/")) == "p7"
    assert patient_from_name("clip.avi", re.compile(r"p\d+")) is None


def test_split_never_puts_a_patient_in_two_splits_and_covers_every_item():
    items = _items()
    splits = split_items(items, stratify_key="view", val_fraction=0.2, test_fraction=0.2, seed=3)
    cases = {name: {i["case"] for i in v} for name, v in splits.items()}
    assert not cases["training"] & cases["validation"]
    assert not cases["training"] & cases["test"]
    assert not cases["validation"] & cases["test"]
    assert sorted(i["image"] for v in splits.values() for i in v) == sorted(i["image"] for i in items)
    # Shares near the request (whole patients, so not exact).
    n = len(items)
    assert 0.45 * n < len(splits["training"]) < 0.8 * n
    assert len(splits["validation"]) > 0.08 * n and len(splits["test"]) > 0.08 * n


def test_split_is_deterministic_and_seed_dependent():
    items = _items()
    a = split_items(items, stratify_key="view", seed=1)
    assert a == split_items(items, stratify_key="view", seed=1)
    other = [split_items(items, stratify_key="view", seed=s) for s in range(2, 6)]
    assert any(o != a for o in other)


def test_folds_are_patient_grouped_and_stratified():
    items = _items(n_patients=40)
    splits = split_items(items, stratify_key="view", test_fraction=0.2, folds=4, seed=0)
    assert set(splits) == {"training", "test"}
    folds = {}
    for item in splits["training"]:
        folds.setdefault(item["case"], set()).add(item["fold"])
    assert all(len(f) == 1 for f in folds.values())
    assert not set(folds) & {i["case"] for i in splits["test"]}
    per_fold = Counter(i["fold"] for i in splits["training"])
    assert sorted(per_fold) == [0, 1, 2, 3]
    # Stratified: each fold holds roughly a quarter of every view.
    total = Counter(i["view"] for i in splits["training"])
    for f in range(4):
        in_fold = Counter(i["view"] for i in splits["training"] if i["fold"] == f)
        for view, n in total.items():
            assert abs(in_fold[view] - n / 4) <= max(2.0, 0.35 * n / 4), (f, view, in_fold[view], n)


def test_every_requested_split_gets_a_patient_even_with_few_patients():
    bins = assign_groups({"a": {"x": 5}, "b": {"x": 1}, "c": {"x": 1}}, [0.7, 0.15, 0.15])
    assert sorted(bins.values()) == [0, 1, 2]
    # A zero share stays empty.
    bins = assign_groups({"a": {"x": 1}, "b": {"x": 1}}, [0.5, 0.0, 0.5])
    assert 1 not in bins.values()


def test_bad_fractions_and_folds_are_refused():
    with pytest.raises(ValueError):
        split_items(_items(), val_fraction=0.6, test_fraction=0.5)
    with pytest.raises(ValueError):
        split_items(_items(), folds=1)
