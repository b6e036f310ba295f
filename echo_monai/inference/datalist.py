"""The clips a view-classification run reads, checked before any training or inference starts.

Two layouts are accepted under a dataset folder:

- a MONAI datalist ``{"training": [...], "validation": [...], "test": [...]}`` whose items have
  ``image`` (relative to the dataset folder, or absolute) and ``view`` and/or ``label``; it is the
  ``datalist.json`` written by :func:`echo_monai.synthetic.make_dataset` or by
  ``data_scripts/prepare_view_dataset.py`` (with ``base_dir`` = that script's input root);
- a folder tree ``<dataset_dir>/<split>/<view>/**/<file>`` (split ``training``/``train``,
  ``validation``/``val``, ``test``), split by patient beforehand by the user.

Items are reduced to what the bundle needs (``image``, ``label``, ``clip``, ``study``), so no patient
identifier or other datalist field reaches a report, and every item collates the same way.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from echo_monai.errors import EchoDataError
from echo_monai.io.cine import cine_format
from echo_monai.views import NUM_VIEWS, VIEW_NAMES, view_index

__all__ = ["SPLIT_FOLDERS", "find_cines", "load_view_items", "view_class_weights"]

#: Folder names accepted for each split of a folder tree.
SPLIT_FOLDERS: dict[str, tuple[str, ...]] = {
    "training": ("training", "train"),
    "validation": ("validation", "val"),
    "test": ("test",),
}
_CINE_SUFFIXES = (".dcm", ".dicom", ".avi", ".mp4", ".nii", ".nii.gz")
_MAX_LISTED = 5  # problems listed by name in one error message


def _listed(names: Sequence[str]) -> str:
    more = f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else ""
    return ", ".join(names[:_MAX_LISTED]) + more


def find_cines(folder: str | os.PathLike) -> list[Path]:
    """Cine files below ``folder`` (sorted): known extensions, or no extension with a DICOM preamble.

    Hidden files and folders (``.DS_Store``, ``.git``) are ignored.
    """
    found = []
    for path in sorted(Path(folder).rglob("*")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        name = path.name.lower()
        if name.endswith(_CINE_SUFFIXES):
            found.append(path)
        elif "." not in name:
            with open(path, "rb") as fh:
                head = fh.read(132)
            if len(head) == 132 and head[128:] == b"DICM":
                found.append(path)
    return found


def _tree_items(root: Path, split: str) -> list[dict[str, Any]]:
    folders = [root / name for name in SPLIT_FOLDERS[split] if (root / name).is_dir()]
    if not folders:
        raise EchoDataError(
            root,
            f"no datalist and no {'/'.join(SPLIT_FOLDERS[split])} folder: give a datalist.json (see "
            f"data_scripts/prepare_view_dataset.py) or a tree <split>/<view>/<files>",
        )
    split_dir = folders[0]
    view_dirs = sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = []
    for d in view_dirs:
        try:
            view_index(d.name)
        except ValueError:
            unknown.append(d.name)
    if unknown:
        raise EchoDataError(
            split_dir,
            f"view folder(s) {_listed(unknown)} are not one of the 11 views ({', '.join(VIEW_NAMES)}); rename "
            f"them, or map a site's folder names with data_scripts/prepare_view_dataset.py --mapping",
        )
    items = []
    for d in view_dirs:
        for path in find_cines(d):
            items.append({"image": path.relative_to(root).as_posix(), "view": d.name})
    return items


def _datalist_items(datalist: Path, split: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(datalist.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EchoDataError(datalist, f"cannot read the datalist ({exc})") from exc
    if not isinstance(data, Mapping) or not isinstance(data.get(split), list):
        keys = sorted(k for k, v in data.items() if isinstance(v, list)) if isinstance(data, Mapping) else []
        raise EchoDataError(datalist, f"no {split!r} list in the datalist (lists found: {keys or 'none'})")
    return [dict(v) if isinstance(v, Mapping) else {"_bad": v} for v in data[split]]


def _label_of(item: Mapping[str, Any], where: Path, n: int) -> int:
    if "_bad" in item or "image" not in item or ("view" not in item and "label" not in item):
        raise EchoDataError(where, f"item {n} needs 'image' and 'view' or 'label' (got {dict(item)!r:.120})")
    label = None
    if "view" in item:
        try:
            label = view_index(str(item["view"]))
        except ValueError as exc:
            raise EchoDataError(where, f"item {n} ({item['image']}): {exc}") from None
    if "label" in item:
        try:
            given = int(item["label"])
        except (TypeError, ValueError):
            raise EchoDataError(where, f"item {n} ({item['image']}): label {item['label']!r} is not an integer") from None
        if not 0 <= given < NUM_VIEWS:
            raise EchoDataError(where, f"item {n} ({item['image']}): label {given} is outside 0..{NUM_VIEWS - 1}")
        if label is not None and given != label:
            raise EchoDataError(
                where, f"item {n} ({item['image']}): label {given} ({VIEW_NAMES[given]}) contradicts view "
                       f"{item['view']!r} ({VIEW_NAMES[label]})"
            )
        label = given
    return int(label)  # type: ignore[arg-type]


def _frame_count(item: Mapping[str, Any], path: Path) -> int | None:
    """Frames of a clip: from the datalist when it says, else from the DICOM header (no pixel decoding)."""
    for key in ("n_frames", "frames", "num_frames"):
        if isinstance(item.get(key), (int, float)):
            return int(item[key])
    if cine_format(path) != "dicom":
        return None
    from echo_monai.io.dicom_read import open_dicom

    ds = open_dicom(path, stop_before_pixels=True)
    try:
        return int(ds.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        return 1


def load_view_items(
    dataset_dir: str | os.PathLike,
    split: str = "training",
    datalist: str | os.PathLike | None = None,
    *,
    min_frames: int | None = None,
    require_all_views: bool = False,
    study_key: str = "study",
) -> list[dict[str, Any]]:
    """The checked items of one split, ready for a MONAI dataset.

    Args:
        dataset_dir: the folder image paths are relative to (and where ``datalist.json`` is looked for).
        split: ``"training"``, ``"validation"`` or ``"test"``.
        datalist: a datalist file; default ``<dataset_dir>/datalist.json``, else the folder tree.
        min_frames: refuse clips with fewer frames (the temporal window a video model samples).
        require_all_views: refuse a split that lacks any of the 11 views (a class the classifier would
            never see in training).
        study_key: item field holding a study id (clips of one study can be aggregated); absent = "".

    Returns:
        items ``{"image": absolute path, "label": int, "view": name, "clip": path as given,
        "study": str}``.

    Raises:
        EchoDataError: naming the dataset / datalist and every problem found: unknown view names,
            contradicting labels, missing files, clips shorter than ``min_frames``, missing views.
    """
    if split not in SPLIT_FOLDERS:
        raise ValueError(f"split must be one of {tuple(SPLIT_FOLDERS)}, got {split!r}")
    root = Path(dataset_dir).expanduser()
    if not root.is_dir():
        raise EchoDataError(root, "the dataset folder does not exist")
    list_path = Path(datalist).expanduser() if datalist else root / "datalist.json"
    if datalist and not list_path.is_file():
        raise EchoDataError(list_path, "the datalist file does not exist")
    where = list_path if list_path.is_file() else root
    raw = _datalist_items(list_path, split) if list_path.is_file() else _tree_items(root, split)
    if not raw:
        raise EchoDataError(where, f"the {split} split has no clips")

    items, missing, short = [], [], []
    for n, item in enumerate(raw):
        label = _label_of(item, where, n)
        rel = str(item["image"])
        path = Path(rel) if os.path.isabs(rel) else root / rel
        if not path.is_file():
            missing.append(rel)
            continue
        if min_frames:
            frames = _frame_count(item, path)
            if frames is not None and frames < min_frames:
                short.append(f"{rel} ({frames} frames)")
        items.append({"image": str(path), "label": label, "view": VIEW_NAMES[label], "clip": rel,
                      "study": str(item.get(study_key, "") or "")})
    if missing:
        raise EchoDataError(where, f"{len(missing)} {split} file(s) not found under {root}: {_listed(missing)}")
    if short:
        raise EchoDataError(
            where, f"{len(short)} {split} clip(s) are shorter than the {min_frames}-frame window: {_listed(short)}; "
                   f"remove them or lower num_frames"
        )
    if require_all_views:
        counts = Counter(i["label"] for i in items)
        empty = [VIEW_NAMES[k] for k in range(NUM_VIEWS) if counts[k] == 0]
        if empty:
            raise EchoDataError(
                where, f"the {split} split has no clip of view(s) {', '.join(empty)}: the classifier cannot learn "
                       f"a class it never sees; add clips of these views"
            )
    return items


def view_class_weights(items: Sequence[Mapping[str, Any]], num_classes: int = NUM_VIEWS) -> torch.Tensor:
    """Inverse-frequency class weights for the cross-entropy loss, mean 1 over the present classes.

    weight_k = N / (K_present * n_k); a class without items gets 0 (it cannot occur as a target).
    """
    counts = torch.bincount(torch.as_tensor([int(i["label"]) for i in items], dtype=torch.long),
                            minlength=num_classes).double()
    present = int((counts > 0).sum())
    weights = torch.where(counts > 0, counts.sum() / (max(present, 1) * counts.clamp(min=1)), torch.zeros_like(counts))
    return weights.float()
