"""Patient keys and patient-grouped, stratified splits and folds.

A model must never see the same patient in training and in evaluation: every split here assigns whole
patients. Within that constraint the assignment balances a class label (the view, the MI flag) across
splits, greedily, the way scikit-learn's ``StratifiedGroupKFold`` does: patients are placed one by one,
largest first, each into the split whose per-class counts it brings closest to their targets.

Raw patient identifiers never reach an output: :func:`patient_key` turns them into a salted HMAC.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "SPLIT_NAMES",
    "assign_groups",
    "check_split_arguments",
    "patient_from_name",
    "patient_key",
    "split_items",
]

SPLIT_NAMES: tuple[str, str, str] = ("training", "validation", "test")


def patient_key(raw_id: str, salt: str) -> str:
    """Pseudonymous, stable key of a patient identifier: ``"p"`` + 16 hex digits of HMAC-SHA256.

    The same ``(raw_id, salt)`` always gives the same key; without the salt the key cannot be traced
    back by hashing candidate IDs (medical record numbers are short enough to enumerate).
    """
    if not salt:
        raise ValueError("a non-empty salt is required to pseudonymise patient identifiers")
    digest = hmac.new(salt.encode("utf-8"), str(raw_id).strip().encode("utf-8"), hashlib.sha256)
    return "p" + digest.hexdigest()[:16]


def patient_from_name(name: str, pattern: re.Pattern[str]) -> str | None:
    """The patient part of ``name`` found by ``pattern`` (``re.search``), or ``None`` without a match.

    The named group ``patient`` wins, then the first group, then the whole match.
    """
    match = pattern.search(name)
    if match is None:
        return None
    if "patient" in pattern.groupindex:
        value = match.group("patient")
    elif pattern.groups:
        value = match.group(1)
    else:
        value = match.group(0)
    return value or None


def assign_groups(
    group_counts: Mapping[str, Mapping[str, int]],
    weights: Sequence[float],
    *,
    seed: int = 0,
) -> dict[str, int]:
    """Assign whole groups (patients) to bins (splits or folds), balancing classes and sizes.

    Args:
        group_counts: per group, the number of items of each class, e.g. ``{"p1": {"A4C": 3}}``.
        weights: the share each bin should get (normalised here); a zero-weight bin gets nothing.
        seed: the order in which equally sized groups are placed (the result is deterministic).

    Returns:
        bin index per group. Every bin with a positive weight gets at least one group when there are
        enough groups.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.size == 0 or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be non-negative with a positive sum, got {list(weights)}")
    w = w / w.sum()
    groups = sorted(group_counts)
    if not groups:
        return {}
    classes = sorted({c for counts in group_counts.values() for c in counts})
    cls_index = {c: i for i, c in enumerate(classes)}
    counts = np.zeros((len(groups), len(classes)), dtype=np.float64)
    for g, name in enumerate(groups):
        for c, n in group_counts[name].items():
            counts[g, cls_index[c]] = n
    class_totals = counts.sum(axis=0)
    targets = w[:, None] * class_totals[None, :]  # (bins, classes)
    size_targets = w * counts.sum()
    n_groups_target = w * len(groups)

    # Large groups first (they are the hardest to place); a seeded shuffle breaks ties reproducibly.
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(groups))
    order = sorted(order, key=lambda g: -counts[g].sum())

    filled = np.zeros_like(targets)
    sizes = np.zeros(len(w))
    n_in_bin = np.zeros(len(w))
    assignment = np.full(len(groups), -1)
    norm = np.maximum(class_totals, 1.0)
    for g in order:
        best, best_cost = -1, np.inf
        for b in np.flatnonzero(w > 0):
            after = filled.copy()
            after[b] += counts[g]
            # Squared relative deviation from the per-class targets, plus the item and group totals,
            # so that a split stays close to its share even when one class dominates.
            cost = float(np.sum(((after - targets) / norm) ** 2))
            new_sizes = sizes.copy()
            new_sizes[b] += counts[g].sum()
            cost += float(np.sum(((new_sizes - size_targets) / max(counts.sum(), 1.0)) ** 2))
            new_n = n_in_bin.copy()
            new_n[b] += 1
            cost += float(np.sum(((new_n - n_groups_target) / len(groups)) ** 2))
            if cost < best_cost - 1e-12:
                best, best_cost = b, cost
        assignment[g] = best
        filled[best] += counts[g]
        sizes[best] += counts[g].sum()
        n_in_bin[best] += 1

    # Small data: make sure every wanted bin gets a patient, taking the smallest group from the fullest bin.
    for b in np.flatnonzero(w > 0):
        if n_in_bin[b] > 0:
            continue
        donors = [d for d in range(len(w)) if n_in_bin[d] > 1]
        if not donors:
            break
        donor = max(donors, key=lambda d: (n_in_bin[d], -d))
        members = [g for g in range(len(groups)) if assignment[g] == donor]
        moved = min(members, key=lambda g: (counts[g].sum(), groups[g]))
        assignment[moved] = b
        n_in_bin[donor] -= 1
        n_in_bin[b] += 1
    return {groups[g]: int(assignment[g]) for g in range(len(groups))}


def check_split_arguments(val_fraction: float, test_fraction: float, folds: int | None = None) -> None:
    """Raise ``ValueError`` for fractions outside [0, 1) or summing to 1 or more, or fewer than 2 folds.

    Converters call it before they write anything, so that a typo fails at once.
    """
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(f"fractions must be in [0, 1) and sum below 1, got {val_fraction}, {test_fraction}")
    if folds is not None and folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")


def split_items(
    items: Sequence[Mapping],
    *,
    group_key: str = "case",
    stratify_key: str | None = None,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    folds: int | None = None,
    seed: int = 0,
) -> dict[str, list[dict]]:
    """Split datalist items by patient into ``training`` / ``validation`` / ``test``.

    With ``folds=k`` the test split is still held out, and every other item goes to ``training`` with a
    ``fold`` field in ``0..k-1`` (patient-grouped, stratified); there is then no ``validation`` list:
    fold ``f`` is the validation set of round ``f``.

    Args:
        items: datalist items; each has ``group_key`` (the patient) and, if given, ``stratify_key``.
        val_fraction, test_fraction: shares of patients' items for validation and test (0 allowed).
        folds: number of cross-validation folds (>= 2), or ``None``.
        seed: tie-breaking seed (same seed, same input -> same split).

    Returns:
        ``{"training": [...], "validation": [...], "test": [...]}`` (no ``validation`` with folds); item
        order within a split follows the input order.
    """
    check_split_arguments(val_fraction, test_fraction, folds)

    def counts_of(subset: Sequence[Mapping]) -> dict[str, Counter]:
        per_group: dict[str, Counter] = {}
        for item in subset:
            label = str(item[stratify_key]) if stratify_key else "_"
            per_group.setdefault(str(item[group_key]), Counter())[label] += 1
        return per_group

    if folds is None:
        train_fraction = 1.0 - val_fraction - test_fraction
        bins = assign_groups(counts_of(items), [train_fraction, val_fraction, test_fraction], seed=seed)
        out: dict[str, list[dict]] = {name: [] for name in SPLIT_NAMES}
        for item in items:
            out[SPLIT_NAMES[bins[str(item[group_key])]]].append(dict(item))
        return out

    test_bins = assign_groups(counts_of(items), [1.0 - test_fraction, test_fraction], seed=seed)
    rest = [item for item in items if test_bins[str(item[group_key])] == 0]
    fold_of = assign_groups(counts_of(rest), [1.0] * folds, seed=seed)
    training = [{**item, "fold": fold_of[str(item[group_key])]} for item in rest]
    test = [dict(item) for item in items if test_bins[str(item[group_key])] == 1]
    return {"training": training, "test": test}
