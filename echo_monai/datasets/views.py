"""A view-classification datalist from a folder tree of cines or from a synthetic dataset.

Input, either:

- a folder tree ``<root>/<view>/**/*.dcm|*.avi|*.mp4|*.nii(.gz)`` (DICOM files without an extension
  are recognised by their ``DICM`` preamble). Folder names are matched to the 11 views with
  :func:`echo_monai.views.view_index` (case-insensitive, ``-``/``_``/nothing between words); a mapping
  file maps a site's own folder names (``{"4CH": "A4C", "misc": null}``: ``null`` leaves a folder out);
- the ``datalist.json`` of :func:`echo_monai.synthetic.make_dataset` (its ``case`` is the patient).

Output: a MONAI datalist split by patient (and optionally k patient-grouped folds), ``report.json``
and ``skipped.csv``. Inputs are referenced, not copied: ``image`` paths are relative to the input root
(pass it as ``base_dir`` to ``monai.data.load_decathlon_datalist``), or absolute on request.
Patient keys are salted hashes of the DICOM ``PatientID`` (or of the part of the path matched by a
regular expression); raw identifiers are never written.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydicom
from pydicom.errors import InvalidDicomError

from echo_monai.datasets.output import ConversionOutput, check_disjoint
from echo_monai.datasets.splits import check_split_arguments, patient_from_name, patient_key, split_items
from echo_monai.errors import EchoDataError
from echo_monai.io.dicom_read import read_echo_cine
from echo_monai.utils.files import resolve_inside
from echo_monai.views import VIEW_NAMES, view_index

__all__ = ["file_kind", "load_view_mapping", "prepare_view_dataset", "resolve_view_folder"]

_PATH_FIELDS = ("truth", "ecg_file")  # path-valued fields of a synthetic datalist item
_CHECK_SIZE = (64, 64)  # decoding at a small size proves a file readable at a fraction of the cost


def file_kind(path: Path) -> str | None:
    """``"dicom"``, ``"video"``, ``"nifti"`` or ``None`` (not an echo file) from the name or preamble."""
    name = path.name.lower()
    if name.endswith((".dcm", ".dicom")):
        return "dicom"
    if name.endswith((".avi", ".mp4")):
        return "video"
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    # PACS exports name files IM_0001 or by UID (1.2.840...), without a DICOM extension: read the preamble.
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return None
    return "dicom" if len(head) == 132 and head[128:] == b"DICM" else None


def load_view_mapping(path: str | os.PathLike) -> dict[str, str | None]:
    """Read a ``{site folder name: view name or null}`` JSON file, checking every view name.

    Raises:
        EchoDataError: unreadable file, not an object, or a value that is not one of the 11 views.
    """
    path = Path(path)
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EchoDataError(path, f"cannot read the mapping file as JSON ({exc})") from exc
    if not isinstance(mapping, dict):
        raise EchoDataError(path, 'the mapping must be a JSON object: {"site folder": "view name" or null}')
    checked: dict[str, str | None] = {}
    bad = []
    for folder, view in mapping.items():
        if view is None:
            checked[str(folder)] = None
            continue
        try:
            checked[str(folder)] = VIEW_NAMES[view_index(str(view))]
        except ValueError:
            bad.append(f"{folder!r} -> {view!r}")
    if bad:
        raise EchoDataError(path, f"unknown view names in the mapping ({'; '.join(bad)}); "
                                  f"valid names are: {', '.join(VIEW_NAMES)}")
    return checked


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


def resolve_view_folder(name: str, mapping: Mapping[str, str | None] | None = None) -> str | None:
    """The view name of a folder: from ``mapping`` (exact, then case/dash-insensitive), else by name.

    Returns:
        the canonical view name, or ``None`` when the mapping says to leave the folder out.

    Raises:
        ValueError: the folder is neither in the mapping nor a view name.
    """
    if mapping:
        if name in mapping:
            return mapping[name]
        loose = {_norm(k): v for k, v in mapping.items()}
        if _norm(name) in loose:
            return loose[_norm(name)]
    return VIEW_NAMES[view_index(name.replace(" ", ""))]


def _collect_tree(root: Path, mapping: Mapping[str, str | None] | None) -> tuple[list[tuple[Path, str]], list[tuple[str, str]], list[str]]:
    """Files with their view, set-aside entries, and view folders that the mapping leaves out."""
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    views: dict[Path, str] = {}
    ignored: list[str] = []
    bad: list[str] = []
    for folder in folders:
        try:
            view = resolve_view_folder(folder.name, mapping)
        except ValueError:
            bad.append(folder.name)
            continue
        if view is None:
            ignored.append(folder.name)
        else:
            views[folder] = view
    if bad:
        hint = " or add them to the --mapping file" if mapping else "; map site names with --mapping"
        if (root / "datalist.json").is_file():
            hint += f"; for a synthetic dataset pass {root / 'datalist.json'} as the input"
        raise EchoDataError(
            root,
            f"folder name(s) {', '.join(repr(b) for b in bad)} are not view names; valid names are: "
            f"{', '.join(VIEW_NAMES)} (case and '-'/'_' do not matter){hint}",
        )
    if not views and not ignored:
        raise EchoDataError(root, f"no view folders found; expected <root>/<view>/<files> with views "
                                  f"{', '.join(VIEW_NAMES)}, or pass a synthetic datalist.json")
    files: list[tuple[Path, str]] = []
    skipped: list[tuple[str, str]] = []
    for entry in sorted(root.iterdir()):
        if entry.is_file():
            skipped.append((entry.name, "not inside a view folder"))
    for folder, view in views.items():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = path.relative_to(root).as_posix()
            if any(part.startswith(".") for part in path.relative_to(root).parts):
                skipped.append((rel, "hidden file or folder"))
            elif file_kind(path) is None:
                skipped.append((rel, "not a DICOM, AVI/MP4 or NIfTI file"))
            else:
                files.append((path, view))
    return files, skipped, ignored


def _read_check(path: Path, kind: str) -> dict[str, Any]:
    """Decode the whole file at a small size; returns facts for the datalist item."""
    if kind == "dicom":
        cine = read_echo_cine(path, grey=True, size=_CHECK_SIZE, with_ecg=False)
    elif kind == "video":
        from echo_monai.io.video import read_video  # OpenCV is an optional extra: import it when needed

        cine = read_video(path, grey=True, size=_CHECK_SIZE)
    else:
        from echo_monai.io.nifti import read_nifti_cine

        # 3-D NIfTI files carry no frame interval; the check needs none, so no frame rate is reported.
        cine = read_nifti_cine(path, grey=True, size=_CHECK_SIZE, frame_time_ms=1.0)
        return {"n_frames": cine.num_frames}
    if cine.num_frames == 0:
        raise EchoDataError(path, "no frames")
    facts: dict[str, Any] = {"n_frames": cine.num_frames}
    if cine.num_frames > 1 and cine.frame_rate_hz > 0:
        facts["frame_rate_hz"] = round(float(cine.frame_rate_hz), 3)
    return facts


def _dicom_patient_id(path: Path) -> str | None:
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["PatientID"])
    except (InvalidDicomError, OSError, EOFError, ValueError) as exc:
        raise EchoDataError(path, f"DICOM file is truncated or corrupt ({type(exc).__name__})") from exc
    value = str(ds.get("PatientID", "") or "").strip()
    return value or None


def _synthetic_items(datalist_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    """All items of a generator datalist (every split), with paths still relative to its folder."""
    try:
        data = json.loads(datalist_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EchoDataError(datalist_path, f"cannot read the datalist ({exc})") from exc
    if not isinstance(data, dict):
        raise EchoDataError(datalist_path, "a datalist must be a JSON object of lists of items")
    items: list[dict[str, Any]] = []
    for value in data.values():
        if isinstance(value, list):
            items.extend(dict(v) for v in value if isinstance(v, dict))
    missing = [i for i in items if not {"image", "case"} <= set(i) or ("view" not in i and "label" not in i)]
    if not items or missing:
        raise EchoDataError(datalist_path, "expected items with 'image', 'case' and 'view' or 'label' "
                                           "(the datalist.json written by echo_monai.synthetic.make_dataset)")
    return datalist_path.parent, items


def prepare_view_dataset(
    input_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    mapping: str | os.PathLike | Mapping[str, str | None] | None = None,
    patient_regex: str | None = None,
    salt: str | None = None,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    folds: int | None = None,
    seed: int = 0,
    check_decode: bool = True,
    absolute_paths: bool = False,
) -> dict[str, Any]:
    """Build a patient-split view-classification datalist.

    Args:
        input_path: a view folder tree, or a synthetic ``datalist.json``.
        out_dir: output folder: ``datalist.json``, ``report.json``, ``skipped.csv``.
        mapping: a mapping file or dict ``{site folder: view or None}`` (folder trees only).
        patient_regex: finds the patient in a file's path below its view folder (``re.search``; group
            ``patient``, else group 1, else the match), e.g. ``r"^(p\\d+)_"``; overrides the DICOM
            ``PatientID``. Needed for videos and NIfTI files, which carry no patient ID.
        salt: secret for the patient-key HMAC; required for folder trees (keep it private and reuse
            it to get the same keys again).
        val_fraction, test_fraction, folds, seed: see :func:`echo_monai.datasets.splits.split_items`.
        check_decode: decode every file (at 64x64 grey) and skip unreadable ones; ``False`` reads only
            what the patient key needs.
        absolute_paths: write absolute ``image`` paths instead of paths relative to the input root.

    Returns:
        the report (also in ``report.json``): items and patients per split, items per view and split,
        empty views, skipped files with reasons.

    Raises:
        EchoDataError: a folder that is not a view, a bad mapping, an output overlapping the input;
            all before anything is written.
    """
    source = Path(input_path).expanduser().resolve()
    regex = re.compile(patient_regex) if patient_regex else None
    check_split_arguments(val_fraction, test_fraction, folds)
    check_disjoint(out_dir, [source.parent if source.is_file() else source])
    ignored: list[str] = []
    pre_skipped: list[tuple[str, str]] = []
    if source.is_file():
        if mapping is not None or regex is not None:
            raise ValueError("--mapping and --patient-regex apply to folder trees; a synthetic datalist already "
                             "names the view and the case of every clip")
        root, raw_items = _synthetic_items(source)
        mode = "synthetic datalist"
    elif source.is_dir():
        if not salt:
            raise ValueError("a --salt is required to pseudonymise patient keys of a folder tree "
                             "(any private string; keep it to get the same keys again)")
        if mapping is not None and not isinstance(mapping, Mapping):
            mapping = load_view_mapping(mapping)
        root = source
        files, pre_skipped, ignored = _collect_tree(root, mapping)
        raw_items = [{"image": p.relative_to(root).as_posix(), "view": v} for p, v in files]
        mode = "folder tree"
    else:
        raise EchoDataError(source, "the input does not exist")

    out = ConversionOutput(out_dir, inputs=[root], tool="prepare_view_dataset")
    for rel, reason in pre_skipped:
        out.skip(rel, reason)

    items: list[dict[str, Any]] = []
    for raw in raw_items:
        rel = str(raw["image"])
        try:
            path = resolve_inside(root, rel, source=rel)  # a datalist entry may not leave the data root
        except EchoDataError as exc:
            out.skip(rel, exc.problem)
            continue
        try:
            view = VIEW_NAMES[view_index(raw["view"])] if "view" in raw else VIEW_NAMES[int(raw["label"])]
        except (ValueError, IndexError, TypeError):
            out.skip(rel, f"unknown view {raw.get('view', raw.get('label'))!r}")
            continue
        if not path.is_file():
            out.skip(rel, "file not found")
            continue
        kind = file_kind(path)
        if kind is None:
            out.skip(rel, "not a DICOM, AVI/MP4 or NIfTI file")
            continue
        try:
            # Readability first: a broken file should be reported as broken, not as lacking a patient.
            facts = _read_check(path, kind) if check_decode else {}
            if mode == "synthetic datalist":
                case = str(raw["case"])
            else:
                below_view = Path(rel).relative_to(Path(rel).parts[0]).as_posix()
                raw_id = patient_from_name(below_view, regex) if regex else None
                if regex and raw_id is None:
                    out.skip(rel, f"--patient-regex {regex.pattern!r} does not match {below_view!r}")
                    continue
                if raw_id is None and kind == "dicom":
                    raw_id = _dicom_patient_id(path)
                if raw_id is None:
                    why = "the DICOM file has no PatientID" if kind == "dicom" else f"a {kind} file has no patient ID"
                    out.skip(rel, f"{why}; pass --patient-regex to take the patient from the file name")
                    continue
                case = patient_key(raw_id, salt or "")
        except EchoDataError as exc:
            out.skip(rel, exc.problem)
            continue
        except Exception as exc:  # noqa: BLE001 - a converter goes on; the reason says it is unexpected
            out.skip(rel, f"unexpected error while reading ({type(exc).__name__}: {exc})")
            continue
        item = {k: v for k, v in raw.items() if k not in ("image", "label", "view", "case", "fold")}
        item.update({
            "image": str(path) if absolute_paths else rel,
            "label": view_index(view),
            "view": view,
            "case": case,
            **facts,
        })
        # Other relative paths of a synthetic item (truth, separate ECG file) follow the image's convention.
        if absolute_paths:
            for key in _PATH_FIELDS:
                if isinstance(item.get(key), str):
                    item[key] = str(root / item[key])
        items.append(item)

    datalist = split_items(items, group_key="case", stratify_key="view", val_fraction=val_fraction,
                           test_fraction=test_fraction, folds=folds, seed=seed)
    out.write_json("datalist.json", {
        "name": "echo views",
        "description": f"view classification datalist from a {mode}, split by patient",
        "labels": {str(i): name for i, name in enumerate(VIEW_NAMES)},
        **datalist,
    })
    return out.finish(_summary(items, datalist, mode, ignored, folds, seed, absolute_paths))


def _summary(items: list[dict], datalist: dict[str, list[dict]], mode: str, ignored: list[str],
             folds: int | None, seed: int, absolute_paths: bool) -> dict[str, Any]:
    per_view = Counter(i["view"] for i in items)
    per_split_view = {name: dict(sorted(Counter(i["view"] for i in v).items())) for name, v in datalist.items()}
    summary: dict[str, Any] = {
        "input": mode,
        "image_paths": "absolute" if absolute_paths else "relative to the input root",
        "seed": seed,
        "n_items": {name: len(v) for name, v in datalist.items()},
        "n_patients": {name: len({i["case"] for i in v}) for name, v in datalist.items()},
        "items_per_view": {v: per_view.get(v, 0) for v in VIEW_NAMES},
        "items_per_split_and_view": per_split_view,
        "empty_views": [v for v in VIEW_NAMES if per_view.get(v, 0) == 0],
        "views_missing_from_split": {
            name: [v for v in VIEW_NAMES if per_view.get(v, 0) and v not in per_split_view[name]]
            for name in datalist
        },
        "ignored_folders": ignored,
    }
    if folds:
        training = datalist["training"]
        summary["folds"] = folds
        summary["items_per_fold_and_view"] = {
            str(f): dict(sorted(Counter(i["view"] for i in training if i["fold"] == f).items()))
            for f in range(folds)
        }
        summary["patients_per_fold"] = {
            str(f): len({i["case"] for i in training if i["fold"] == f}) for f in range(folds)
        }
    return summary
