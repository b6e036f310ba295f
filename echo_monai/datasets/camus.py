"""CAMUS -> NIfTI image / LV-wall mask pairs and a patient-split datalist.

CAMUS (500 patients, apical 2- and 4-chamber views) comes in two layouts, both read here:

- NIfTI (current release): ``database_nifti/patient0001/patient0001_4CH_ED.nii.gz``, ``..._ED_gt``,
  ``_ES``, ``_ES_gt``, ``_half_sequence`` and ``_half_sequence_gt`` (ED to ES), ``Info_4CH.cfg``;
  ``database_split/subgroup_{training,validation,testing}.txt`` lists the official split. The arrays
  were written by SimpleITK, so nibabel returns them as (x, y[, t]) = (columns, rows[, frames]).
- MetaImage (older challenge release): ``training/patient0001/patient0001_4CH_ED.mhd`` + ``.raw``,
  ``..._ED_gt.mhd``, ``_ES``, ``_ES_gt`` and ``_sequence.mhd`` (the half sequence, no ground truth).

Labels are 0 background, 1 LV cavity, 2 myocardium, 3 left atrium; the converter keeps the myocardium
as a binary LV-wall mask, the target of the wall-segmentation bundle. Patient names (``patient0001``)
are the dataset's own pseudonyms and are kept as the case key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from echo_monai.datasets.metaimage import read_metaimage
from echo_monai.datasets.output import ConversionOutput
from echo_monai.datasets.splits import SPLIT_NAMES, check_split_arguments, split_items
from echo_monai.errors import EchoDataError
from echo_monai.io.nifti import write_nifti_cine

__all__ = [
    "CAMUS_LABELS",
    "CAMUS_VIEW_CODES",
    "CamusRecording",
    "find_camus_recordings",
    "prepare_camus",
    "read_camus_image",
    "read_camus_info",
]

CAMUS_LABELS: dict[int, str] = {0: "background", 1: "LV cavity", 2: "myocardium", 3: "left atrium"}
WALL_LABEL = 2
CAMUS_VIEW_CODES: dict[str, str] = {"A4C": "4CH", "A2C": "2CH"}
_CODE_TO_VIEW = {code: view for view, code in CAMUS_VIEW_CODES.items()}
PHASES: tuple[str, ...] = ("ED", "ES", "half_sequence")

_FILE_RE = re.compile(
    r"^(?P<patient>patient\d+)_(?P<code>[24]CH)_(?P<phase>ED|ES|half_sequence|sequence)(?P<gt>_gt)?"
    r"\.(?P<ext>nii\.gz|nii|mhd|mha)$",
    re.IGNORECASE,
)
_SPLIT_FILES = {"training": "subgroup_training.txt", "validation": "subgroup_validation.txt",
                "test": "subgroup_testing.txt"}


@dataclass
class CamusRecording:
    """The files of one patient and view: ``files[(phase, is_gt)] -> path`` and the ``Info_*.cfg``."""

    patient: str
    view: str
    files: dict[tuple[str, bool], Path] = field(default_factory=dict)
    info: Path | None = None


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def find_camus_recordings(root: str | os.PathLike) -> tuple[list[CamusRecording], list[tuple[str, str]]]:
    """Find every CAMUS recording under ``root`` (either layout, any depth).

    Returns:
        the recordings sorted by patient and view, and ``(relative path, reason)`` for files that were
        set aside (a second copy of the same image, e.g. when both layouts sit under ``root``).
    """
    root = Path(root)
    recordings: dict[tuple[str, str], CamusRecording] = {}
    duplicates: list[tuple[str, str]] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        match = _FILE_RE.match(path.name)
        if match is None:
            continue
        patient = match["patient"].lower()
        view = _CODE_TO_VIEW[match["code"].upper()]
        phase = match["phase"]
        phase = "half_sequence" if phase.lower() in ("sequence", "half_sequence") else phase.upper()
        rec = recordings.setdefault((patient, view), CamusRecording(patient=patient, view=view))
        key = (phase, match["gt"] is not None)
        if key in rec.files:
            duplicates.append((_rel(path, root), f"a second copy of {_rel(rec.files[key], root)}; not used"))
            continue
        rec.files[key] = path
        if rec.info is None:
            info = path.parent / f"Info_{match['code'].upper()}.cfg"
            rec.info = info if info.is_file() else None
    return [recordings[k] for k in sorted(recordings)], duplicates


def read_camus_info(path: str | os.PathLike) -> dict[str, str]:
    """Parse an ``Info_4CH.cfg`` (``Key: value`` lines: ED, ES, NbFrame, ImageQuality, FrameRate...)."""
    info: dict[str, str] = {}
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise EchoDataError(path, f"cannot read the info file ({exc})") from exc
    for line in text.splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            info[key.strip()] = value.strip()
    return info


def read_camus_image(path: str | os.PathLike) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Read one CAMUS image or label file in display orientation.

    Returns:
        ``(array, spacing_mm)``: array (H, W) for a single frame or (T, H, W) for a sequence, in the
        file's dtype; ``spacing_mm`` (row, column) from the header, or ``None`` when absent.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".mhd", ".mha")):
        meta = read_metaimage(path)
        array = meta.array  # (H, W) or (T, H, W): MetaImage stores x fastest
        spacing = (float(meta.spacing[1]), float(meta.spacing[0])) if len(meta.spacing) >= 2 else None
    else:
        try:
            img = nib.load(str(path))
            data = np.asanyarray(img.dataobj)
            zooms = img.header.get_zooms()
        except Exception as exc:  # nibabel raises many types for a damaged file
            raise EchoDataError(path, f"not a readable NIfTI file ({type(exc).__name__}: {exc})") from exc
        if data.ndim not in (2, 3):
            raise EchoDataError(path, f"expected a 2D image or a 2D+t sequence, got shape {data.shape}")
        # (x, y[, t]) -> (rows, cols) or (t, rows, cols)
        array = data.T if data.ndim == 2 else np.transpose(data, (2, 1, 0))
        spacing = (float(zooms[1]), float(zooms[0])) if len(zooms) >= 2 else None
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim not in (2, 3):
        raise EchoDataError(path, f"expected a 2D image or a 2D+t sequence, got shape {array.shape}")
    if spacing is not None and not all(np.isfinite(s) and s > 0 for s in spacing):
        spacing = None
    return np.ascontiguousarray(array), spacing


def _to_uint8(image: np.ndarray, path: Path) -> np.ndarray:
    """CAMUS images are 8-bit; float copies (e.g. re-saved by other tools) are mapped back to 0..255."""
    if image.dtype == np.uint8:
        return image
    values = image.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise EchoDataError(path, "the image contains NaN or infinite values")
    lo, hi = float(values.min()), float(values.max())
    if lo >= 0 and hi <= 255:
        return np.rint(values).astype(np.uint8)
    return np.rint((values - lo) / max(hi - lo, 1e-12) * 255.0).astype(np.uint8)


def _official_split(root: Path) -> dict[str, str]:
    """Patient -> split from ``database_split`` inside or next to ``root``; empty when absent."""
    for folder in (root / "database_split", root.parent / "database_split"):
        if not folder.is_dir():
            continue
        split: dict[str, str] = {}
        for name, filename in _SPLIT_FILES.items():
            listing = folder / filename
            if listing.is_file():
                for line in listing.read_text(encoding="utf-8", errors="replace").split():
                    split[line.strip().lower()] = name
        if split:
            return split
    return {}


def _convert_phase(
    rec: CamusRecording, phase: str, root: Path, out: ConversionOutput, frame_time_ms: float | None
) -> dict[str, Any] | None:
    """Write the image / wall pair of one phase; returns the datalist item or ``None`` (skip recorded)."""
    image_path = rec.files.get((phase, False))
    gt_path = rec.files.get((phase, True))
    label = f"{rec.patient} {rec.view} {phase}"
    if image_path is None and gt_path is None:
        return None
    if image_path is None or gt_path is None:
        present = image_path or gt_path
        missing = "image" if image_path is None else "ground truth"
        out.skip(_rel(present, root), f"{label}: no matching {missing} file")
        return None
    try:
        image, spacing = read_camus_image(image_path)
        gt, _ = read_camus_image(gt_path)
        image = _to_uint8(image, image_path)
    except EchoDataError as exc:
        out.skip(_rel(Path(exc.path) if exc.path else image_path, root), f"{label}: {exc.problem}")
        return None
    if image.shape != gt.shape:
        out.skip(_rel(gt_path, root), f"{label}: ground truth shape {gt.shape} != image shape {image.shape}")
        return None
    values = np.unique(gt)
    if not np.all(np.isin(values, list(CAMUS_LABELS))):
        out.skip(_rel(gt_path, root), f"{label}: labels {values.tolist()} outside CAMUS's 0..3")
        return None
    wall = (gt == WALL_LABEL).astype(np.uint8)
    if not wall.any():
        out.skip(_rel(gt_path, root), f"{label}: no myocardium (label 2) in the ground truth")
        return None
    frames = image[None] if image.ndim == 2 else image
    wall = wall[None] if wall.ndim == 2 else wall
    stem = f"{rec.patient}_{rec.view}_{phase}"
    image_rel, label_rel = f"images/{stem}.nii.gz", f"labels/{stem}_wall.nii.gz"
    ft = frame_time_ms if phase == "half_sequence" else None
    out.write_with(image_rel, lambda p: write_nifti_cine(p, frames, spacing_mm=spacing, frame_time_ms=ft))
    out.write_with(label_rel, lambda p: write_nifti_cine(p, wall, spacing_mm=spacing, frame_time_ms=ft))
    return {"image": image_rel, "label": label_rel, "case": rec.patient, "view": rec.view, "phase": phase,
            "n_frames": int(frames.shape[0])}


def prepare_camus(
    input_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    views: Sequence[str] = ("A4C",),
    phases: Sequence[str] = PHASES,
    official_split: bool = True,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
) -> dict[str, Any]:
    """Convert CAMUS into NIfTI image / wall-mask pairs with a patient-split ``datalist.json``.

    Writes under ``out_dir``: ``images/<patient>_<view>_<phase>.nii.gz`` (uint8 cines (T, H, W) stored
    as (W, H, T), T = 1 for ED and ES), ``labels/<same>_wall.nii.gz`` (uint8 {0, 1}, myocardium),
    ``datalist.json`` (``training`` / ``validation`` / ``test``; each item ``image``, ``label``, ``case``,
    ``view``, ``phase``, ``n_frames``, and for half sequences ``ed_frame`` / ``es_frame`` (0-based)),
    ``report.json`` and ``skipped.csv``.

    Args:
        input_dir: a CAMUS folder in either layout (``CAMUS_public``, ``database_nifti``, ``training``).
        views: ``"A4C"`` and/or ``"A2C"``.
        phases: any of ``"ED"``, ``"ES"``, ``"half_sequence"`` (no ground truth in the MetaImage layout).
        official_split: use ``database_split/subgroup_*.txt`` when found; otherwise (or when ``False``)
            a seeded patient split with ``val_fraction`` / ``test_fraction``.

    Returns:
        the report (also written to ``report.json``).
    """
    root = Path(input_dir).expanduser().resolve()
    if not root.is_dir():
        raise EchoDataError(root, "the CAMUS input folder does not exist")
    check_split_arguments(val_fraction, test_fraction, None)
    unknown_views = [v for v in views if v not in CAMUS_VIEW_CODES]
    unknown_phases = [p for p in phases if p not in PHASES]
    if unknown_views or unknown_phases:
        raise ValueError(f"CAMUS has views {list(CAMUS_VIEW_CODES)} and phases {list(PHASES)}; "
                         f"got {unknown_views + unknown_phases}")
    recordings, duplicates = find_camus_recordings(root)
    if not recordings:
        raise EchoDataError(root, "no CAMUS files (patientNNNN_4CH_ED.nii.gz / .mhd ...) found")
    out = ConversionOutput(out_dir, inputs=[root], tool="prepare_camus")
    for source, reason in duplicates:
        out.skip(source, reason)

    items: list[dict[str, Any]] = []
    for rec in recordings:
        if rec.view not in views:
            continue
        info: dict[str, str] = {}
        if rec.info is not None:
            try:
                info = read_camus_info(rec.info)
            except EchoDataError as exc:
                out.skip(_rel(rec.info, root), exc.problem)
        frame_rate = _float_or_none(info.get("FrameRate"))
        frame_time_ms = 1000.0 / frame_rate if frame_rate else None
        for phase in phases:
            item = _convert_phase(rec, phase, root, out, frame_time_ms)
            if item is None:
                continue
            item["image_quality"] = info.get("ImageQuality", "unknown")
            if phase == "half_sequence":
                n = item["n_frames"]
                ed, es = _int_or_none(info.get("ED")), _int_or_none(info.get("ES"))
                nb = _int_or_none(info.get("NbFrame"))
                if nb is not None and nb != n:
                    out.warn(_rel(rec.files[(phase, False)], root),
                             f"{rec.patient} {rec.view}: NbFrame {nb} in the info file but {n} frames; "
                             "converted without ED/ES frame numbers")
                else:
                    # The half sequence runs from ED to ES; the info file numbers frames from 1.
                    item["ed_frame"] = (ed - 1) if ed else 0
                    item["es_frame"] = (es - 1) if es else n - 1
            items.append(item)

    official = _official_split(root) if official_split else {}
    if official:
        datalist: dict[str, list[dict]] = {name: [] for name in SPLIT_NAMES}
        for item in items:
            split = official.get(item["case"])
            if split is None:
                out.skip(item["image"], f"{item['case']} is not in the official split lists; not used")
                continue
            datalist[split].append(item)
    else:
        datalist = split_items(items, group_key="case", stratify_key="image_quality",
                               val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    out.write_json("datalist.json", {
        "name": "CAMUS LV wall",
        "description": "CAMUS apical views, myocardium (label 2) as a binary LV-wall mask",
        "labels": {"0": "background", "1": "LV wall"},
        **datalist,
    })
    summary = {
        "input_layouts": sorted({_layout(p) for rec in recordings for p in rec.files.values()}),
        "views": list(views),
        "phases": list(phases),
        "split_source": "official (database_split)" if official else f"seeded patient split (seed {seed})",
        "n_items": {name: len(v) for name, v in datalist.items()},
        "n_patients": {name: len({i["case"] for i in v}) for name, v in datalist.items()},
    }
    return out.finish(summary)


def _layout(path: Path) -> str:
    return "metaimage" if path.name.lower().endswith((".mhd", ".mha")) else "nifti"


def _float_or_none(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and np.isfinite(value) and value > 0 else None


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(float(text)) if text is not None else None
    except ValueError:
        return None
