"""HMC-QU (A4C with LV-wall masks) -> NIfTI image / wall-mask cine pairs and a datalist.

The dataset's own layout, read as it ships:

- ``HMC-QU/A4C/<id>.avi``: 25 fps A4C videos, 422x636 up to 768x1024; some names contain a space
  (``ES0001 _4CH_1.avi``);
- ``LV Ground-truth Segmentation Masks/Mask_<id>.mat``: variable ``predicted``, (frames, 224, 224),
  binary LV wall over ONE cardiac cycle;
- ``A4C.xlsx``: per recording the one-based reference (start) frame and end-of-cycle frame and, for the
  six A4C segments (AHA 3, 9, 14 | 16, 12, 6), whether each is infarcted. The header row and its
  columns are found by name, not position.

Each recording is cropped to its annotated cycle, resized to the mask grid (224x224, anisotropic, as
the masks were drawn) and written as a grey cine plus a wall-mask cine with the frame time in the
header. Every problem is reported per recording and the rest is converted.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import scipy.io

from echo_monai.datasets.output import ConversionOutput
from echo_monai.datasets.splits import check_split_arguments, patient_from_name, split_items
from echo_monai.errors import EchoDataError
from echo_monai.io.nifti import write_nifti_cine
from echo_monai.io.video import read_video

__all__ = [
    "DEFAULT_PATIENT_REGEX",
    "HMCQU_MASK_SIZE",
    "HMCQU_SEGMENTS",
    "HMCQU_SEGMENT_AHA",
    "HmcquRow",
    "SheetProblem",
    "prepare_hmcqu",
    "read_hmcqu_mask",
    "read_hmcqu_sheet",
    "recording_key",
]

#: The six A4C segments in the dataset's order, with their AHA 17-segment numbers.
HMCQU_SEGMENTS: tuple[str, ...] = (
    "basal inferoseptal",
    "mid inferoseptal",
    "apical septal",
    "apical lateral",
    "mid anterolateral",
    "basal anterolateral",
)
HMCQU_SEGMENT_AHA: tuple[int, ...] = (3, 9, 14, 16, 12, 6)
HMCQU_MASK_SIZE = 224  # the masks' (and so the converted cines') grid
_VIDEO_SUFFIXES = (".avi", ".mp4")
DEFAULT_PATIENT_REGEX = r"^\s*([A-Za-z]*\d+)"


@dataclass(frozen=True)
class SheetProblem:
    """A spreadsheet row that cannot be used: ``label`` names the row, ``recording`` is its id."""

    label: str
    recording: str
    reason: str


@dataclass
class HmcquRow:
    """One spreadsheet row: recording id, one-based cycle frames, six infarct flags (dataset order)."""

    recording: str
    start_frame: int
    end_frame: int
    infarcted: tuple[bool, ...]
    sheet_row: int


def recording_key(name: str) -> str:
    """Matching key of a recording id, file stem or mask stem: no ``Mask_`` prefix, no spaces, lower case."""
    stem = re.sub(r"\.(avi|mp4|mat)$", "", name.strip(), flags=re.IGNORECASE)
    stem = re.sub(r"^mask_", "", stem, flags=re.IGNORECASE)
    return re.sub(r"\s+", "", stem).lower()


def _safe_name(recording: str) -> str:
    """A file-name-safe output stem: ``ES0001 _4CH_1`` -> ``ES0001_4CH_1``."""
    return re.sub(r"[^A-Za-z0-9_\-]+", "", re.sub(r"\s+", "", recording)) or "recording"


# -- spreadsheet --------------------------------------------------------------------------------------

def _norm_header(value: Any) -> str:
    return re.sub(r"[^a-z0-9]+", " ", str(value).lower()).strip() if value is not None else ""


def _is_id(h: str) -> bool:
    return h in {"echo", "id", "echo id", "recording", "video", "file", "file name", "filename", "name"} or \
        h.startswith("echo")


def _is_start(h: str) -> bool:
    return "reference" in h or "start" in h or h in {"first frame", "begin"}


def _is_end(h: str) -> bool:
    return "end" in h and "cycle" in h or h in {"end", "end frame", "last frame"}


def _segment_columns(header: Sequence[str]) -> list[int] | None:
    """Column indices of the six segments in dataset order, from the header names.

    Accepts ``SEG1..SEG7`` without the apex (7-segment A4C numbering: 1, 2, 3, 5, 6, 7), ``SEG1..SEG6``,
    or names with the AHA numbers (``AHA 3`` ... ``AHA 6``) or the segment names.
    """
    seg: dict[int, int] = {}
    aha: dict[int, int] = {}
    named: dict[int, int] = {}
    for col, h in enumerate(header):
        m = re.fullmatch(r"seg(?:ment)? ?(\d)", h)
        if m:
            seg[int(m.group(1))] = col
        m = re.fullmatch(r"aha ?(\d{1,2})(?: .*)?", h) or re.search(r"\(aha ?(\d{1,2})\)", h)
        if m:
            aha[int(m.group(1))] = col
        for i, name in enumerate(HMCQU_SEGMENTS):
            if h == name or h.startswith(name + " "):
                named[i] = col
    if all(a in aha for a in HMCQU_SEGMENT_AHA):
        return [aha[a] for a in HMCQU_SEGMENT_AHA]
    if len(named) == 6:
        return [named[i] for i in range(6)]
    if all(s in seg for s in (1, 2, 3, 5, 6, 7)) and 4 not in seg:
        return [seg[s] for s in (1, 2, 3, 5, 6, 7)]
    if all(s in seg for s in range(1, 7)) and 7 not in seg:
        return [seg[s] for s in range(1, 7)]
    return None


def _flag(value: Any) -> bool | None:
    """An infarct flag from a cell: 1/0, yes/no, true/false, MI/non-MI, x/empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value > 0)
    text = str(value).strip().lower()
    if text in {"1", "yes", "y", "true", "mi", "x", "infarcted"}:
        return True
    if text in {"0", "no", "n", "false", "non-mi", "nonmi", "normal", "-"}:
        return False
    return None


def read_hmcqu_sheet(path: str | os.PathLike) -> tuple[list[HmcquRow], list[SheetProblem]]:
    """Read ``A4C.xlsx``: the usable rows, and the rows that cannot be used with the reason.

    The header row is the first row (within the first 20) that names a recording column, a
    reference/start frame column and an end-of-cycle column; segment columns are found by name in that
    row or the one above (two-row headers).

    Raises:
        EchoDataError: not a readable workbook, or no such header row (the message lists what it saw).
    """
    import openpyxl  # the datasets extra; only the HMC-QU converter needs it

    path = Path(path)
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/InvalidFileException for bad files
        raise EchoDataError(path, f"not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from exc
    try:
        sheet = workbook["A4C"] if "A4C" in workbook.sheetnames else workbook.worksheets[0]
        table = [list(r) for r in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()

    header_index = columns = None
    for r, row in enumerate(table[:20]):
        names = [_norm_header(v) for v in row]
        id_col = next((c for c, h in enumerate(names) if _is_id(h)), None)
        start_col = next((c for c, h in enumerate(names) if _is_start(h)), None)
        end_col = next((c for c, h in enumerate(names) if _is_end(h)), None)
        if id_col is None or start_col is None or end_col is None:
            continue
        segs = _segment_columns(names)
        if segs is None and r > 0:
            above = [_norm_header(v) for v in table[r - 1]]
            merged = [n or a for n, a in zip(names, above + [""] * (len(names) - len(above)))]
            segs = _segment_columns(merged)
        if segs is None:
            raise EchoDataError(path, f"header row {r + 1} has no six segment columns (SEG1, SEG2, SEG3, "
                                      f"SEG5, SEG6, SEG7 or AHA 3, 9, 14, 16, 12, 6); it has {row}")
        header_index, columns = r, (id_col, start_col, end_col, segs)
        break
    if header_index is None or columns is None:
        seen = [[v for v in row if v is not None] for row in table[:5]]
        raise EchoDataError(path, "no header row with a recording column, a reference (start) frame column "
                                  f"and an end-of-cycle column in the first 20 rows; the first rows are {seen}")

    id_col, start_col, end_col, seg_cols = columns
    rows: list[HmcquRow] = []
    problems: list[SheetProblem] = []
    for r in range(header_index + 1, len(table)):
        row = table[r] + [None] * (max(seg_cols + [id_col, start_col, end_col]) + 1 - len(table[r]))
        if row[id_col] is None or not str(row[id_col]).strip():
            continue
        recording = str(row[id_col]).strip()
        label = f"A4C.xlsx row {r + 1} ({recording})"
        try:
            start, end = int(float(row[start_col])), int(float(row[end_col]))
        except (TypeError, ValueError):
            values = f"{row[start_col]!r}, {row[end_col]!r}"
            problems.append(SheetProblem(label, recording, f"start/end-of-cycle frames {values} are not numbers"))
            continue
        if start < 1 or end < start:
            problems.append(SheetProblem(label, recording,
                                         f"cycle frames {start}..{end} are not a one-based increasing range"))
            continue
        flags = [_flag(row[c]) for c in seg_cols]
        if any(f is None for f in flags):
            problems.append(SheetProblem(label, recording,
                                         f"segment labels {[row[c] for c in seg_cols]} are not 0/1"))
            continue
        rows.append(HmcquRow(recording=recording, start_frame=start, end_frame=end,
                             infarcted=tuple(bool(f) for f in flags), sheet_row=r + 1))
    return rows, problems


# -- masks --------------------------------------------------------------------------------------------

def read_hmcqu_mask(path: str | os.PathLike, variable: str = "predicted") -> np.ndarray:
    """Read a wall mask ``.mat`` -> uint8 (frames, H, W) in {0, 1}.

    MATLAB v5/v7 files are read with scipy; v7.3 (HDF5) files with h5py when it is installed.

    Raises:
        EchoDataError: unreadable file, missing variable, not 3D, or values other than 0/1.
    """
    path = Path(path)
    try:
        data = scipy.io.loadmat(path, variable_names=[variable])
        if variable not in data:
            names = [n for n, *_ in scipy.io.whosmat(path)]
            raise EchoDataError(path, f"no variable {variable!r} in the .mat file (it has {names})")
        mask = np.asarray(data[variable])
    except NotImplementedError:  # scipy's answer to MATLAB v7.3 (HDF5) files
        mask = _read_mat73(path, variable)
    except EchoDataError:
        raise
    except Exception as exc:  # scipy raises ValueError/TypeError/OSError for damaged files
        raise EchoDataError(path, f"not a readable MATLAB file ({type(exc).__name__}: {exc})") from exc
    if mask.ndim != 3:
        raise EchoDataError(path, f"expected {variable!r} of shape (frames, H, W), got {mask.shape}")
    values = np.unique(mask)
    if not np.all(np.isin(values, [0, 1])):
        raise EchoDataError(path, f"the mask is not binary: values {values[:8].tolist()}")
    return mask.astype(np.uint8)


def _read_mat73(path: Path, variable: str) -> np.ndarray:
    try:
        import h5py
    except ImportError as exc:
        raise EchoDataError(path, "a MATLAB v7.3 (HDF5) file: install h5py to read it, or re-save it in "
                                  "MATLAB with save(..., '-v7')") from exc
    try:
        with h5py.File(path, "r") as fh:
            if variable not in fh:
                raise EchoDataError(path, f"no variable {variable!r} in the .mat file (it has {list(fh)})")
            # MATLAB is column-major: HDF5 stores the axes reversed.
            return np.asarray(fh[variable]).transpose()
    except OSError as exc:
        raise EchoDataError(path, f"not a readable MATLAB v7.3 file ({exc})") from exc


# -- conversion ---------------------------------------------------------------------------------------

def _find_dir(root: Path, name: str) -> Path | None:
    """``root/name`` or ``root/<one level>/name`` (the dataset unpacks as ``HMC-QU/A4C``), any case."""
    for base in (root, *sorted(p for p in root.iterdir() if p.is_dir())):
        for child in sorted(p for p in base.iterdir() if p.is_dir()):
            if child.name.lower() == name.lower():
                return child
    return None


def _find_sheet(root: Path) -> Path | None:
    found = sorted(p for p in root.rglob("*.xlsx") if p.name.lower() == "a4c.xlsx")
    return found[0] if found else None


def _resize(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(T, H, W) uint8 -> (T, size[0], size[1]); area averaging when shrinking, as for the masks' frames."""
    h, w = size
    interp = cv2.INTER_AREA if frames.shape[1] >= h and frames.shape[2] >= w else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (w, h), interpolation=interp) for f in frames])


def prepare_hmcqu(
    input_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    sheet: str | os.PathLike | None = None,
    patient_regex: str = DEFAULT_PATIENT_REGEX,
    min_video_size: tuple[int, int] = (224, 224),
    include_unmasked: bool = False,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    folds: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Convert HMC-QU A4C recordings with masks into NIfTI pairs and a patient-split datalist.

    Writes under ``out_dir``: ``images/<id>.nii.gz`` (uint8 grey cine of the annotated cycle,
    (T, 224, 224) stored as (W, H, T), frame time in ms in the header), ``labels/<id>_wall.nii.gz`` (uint8
    {0, 1}), ``datalist.json`` (items: ``image``, ``label``, ``has_mask``, ``case``, ``recording``,
    ``infarcted`` (six 0/1 in the order of :data:`HMCQU_SEGMENTS`; their AHA numbers are the top-level
    ``segment_aha``), ``mi`` (0/1), ``n_frames``, ``cycle_frames`` (one-based start and end in the
    video), ``frame_time_ms``), ``report.json``, ``skipped.csv``. ``<id>`` is the recording id without
    spaces.

    Args:
        input_dir: the folder holding ``HMC-QU/A4C`` (or ``A4C``), ``LV Ground-truth Segmentation Masks``
            and ``A4C.xlsx`` (searched below it when ``sheet`` is not given).
        patient_regex: finds the patient in a recording id (``ES0001 _4CH_1`` -> ``ES0001``) so that
            recordings of one patient stay in one split.
        min_video_size: (H, W) below which a video is not an HMC-QU A4C video (they are 422x636 and up).
        include_unmasked: also convert recordings without a mask (image only, ``has_mask`` false, no
            ``label`` key), e.g. for MI classification over all recordings; segmentation pipelines must
            then keep only items with ``has_mask``.
        val_fraction, test_fraction, folds, seed: see :func:`echo_monai.datasets.splits.split_items`
            (stratified by the MI flag).

    Returns:
        the report (also in ``report.json``).
    """
    root = Path(input_dir).expanduser().resolve()
    if not root.is_dir():
        raise EchoDataError(root, "the HMC-QU input folder does not exist")
    check_split_arguments(val_fraction, test_fraction, folds)
    sheet_path = Path(sheet).expanduser().resolve() if sheet else _find_sheet(root)
    if sheet_path is None or not sheet_path.is_file():
        raise EchoDataError(root, "A4C.xlsx not found; pass --sheet")
    video_dir = _find_dir(root, "A4C")
    mask_dir = _find_dir(root, "LV Ground-truth Segmentation Masks")
    if video_dir is None or mask_dir is None:
        raise EchoDataError(root, "expected the folders 'HMC-QU/A4C' (videos) and "
                                  "'LV Ground-truth Segmentation Masks' (Mask_<id>.mat)")
    pattern = re.compile(patient_regex)
    rows, sheet_problems = read_hmcqu_sheet(sheet_path)

    out = ConversionOutput(out_dir, inputs=[root, sheet_path], tool="prepare_hmcqu")

    def rel(p: Path) -> str:
        return p.relative_to(root).as_posix() if root in p.parents else p.name

    for problem in sheet_problems:
        out.skip(problem.label, problem.reason)
    videos = {recording_key(p.name): p for p in sorted(video_dir.iterdir())
              if p.is_file() and p.suffix.lower() in _VIDEO_SUFFIXES}
    masks = {recording_key(p.name): p for p in sorted(mask_dir.iterdir())
             if p.is_file() and p.suffix.lower() == ".mat"}
    # A row that could not be used is reported once, as a row; its files are not "without a row".
    row_keys: set[str] = {recording_key(p.recording) for p in sheet_problems}
    items: list[dict[str, Any]] = []
    used_names: set[str] = set()
    for row in rows:
        key = recording_key(row.recording)
        label = f"A4C.xlsx row {row.sheet_row} ({row.recording})"
        if key in row_keys:
            out.skip(label, "a second row for the same recording; not used")
            continue
        row_keys.add(key)
        if key not in videos:
            out.skip(label, "no video file for this spreadsheet row")
            continue
        if key not in masks and not include_unmasked:
            out.skip(rel(videos[key]), "no ground-truth mask (Mask_<id>.mat) for this recording")
            continue
        name = _safe_name(row.recording)
        if name.lower() in used_names:
            out.skip(label, f"output name {name!r} is already used by another recording")
            continue
        try:
            item = _convert_recording(row, videos[key], masks.get(key), name, out, min_video_size)
        except EchoDataError as exc:
            source = Path(exc.path) if exc.path else videos[key]
            out.skip(rel(source), f"{row.recording}: {exc.problem}")
            continue
        except Exception as exc:  # noqa: BLE001 - keep converting the others; the reason says it is unexpected
            out.skip(rel(videos[key]), f"{row.recording}: unexpected error ({type(exc).__name__}: {exc})")
            continue
        used_names.add(name.lower())
        patient = patient_from_name(row.recording, pattern) or row.recording
        item["case"] = re.sub(r"\s+", "", patient)
        items.append(item)
    for key, path in videos.items():
        if key not in row_keys:
            out.skip(rel(path), "video without a row in A4C.xlsx")
    for key, path in masks.items():
        if key not in row_keys:
            out.skip(rel(path), "mask without a row in A4C.xlsx")

    datalist = split_items(items, group_key="case", stratify_key="mi", val_fraction=val_fraction,
                           test_fraction=test_fraction, folds=folds, seed=seed)
    out.write_json("datalist.json", {
        "name": "HMC-QU A4C LV wall",
        "description": "HMC-QU A4C: one cardiac cycle per recording, LV-wall masks, per-segment MI labels",
        "labels": {"0": "background", "1": "LV wall"},
        "segments": list(HMCQU_SEGMENTS),
        "segment_aha": list(HMCQU_SEGMENT_AHA),
        **datalist,
    })
    return out.finish({
        "n_rows": len(rows) + len(sheet_problems),
        "n_videos": len(videos),
        "n_masks": len(masks),
        "n_converted": len(items),
        "n_with_mask": int(sum(i["has_mask"] for i in items)),
        "n_mi": int(sum(i["mi"] for i in items)),
        "seed": seed,
        "n_items": {name: len(v) for name, v in datalist.items()},
        "n_patients": {name: len({i["case"] for i in v}) for name, v in datalist.items()},
    })


def _convert_recording(row: HmcquRow, video_path: Path, mask_path: Path | None, name: str,
                       out: ConversionOutput, min_video_size: tuple[int, int]) -> dict[str, Any]:
    """Check and write one recording (image only when ``mask_path`` is ``None``); returns its item."""
    mask = None
    grid: tuple[int, int] = (HMCQU_MASK_SIZE, HMCQU_MASK_SIZE)
    if mask_path is not None:
        mask = read_hmcqu_mask(mask_path)
        grid = (int(mask.shape[1]), int(mask.shape[2]))
        cycle = row.end_frame - row.start_frame + 1
        if mask.shape[0] != cycle:
            raise EchoDataError(mask_path, f"{mask.shape[0]} mask frames but the cycle {row.start_frame}.."
                                           f"{row.end_frame} in A4C.xlsx has {cycle}")
        empty = [i for i in range(mask.shape[0]) if not mask[i].any()]
        if len(empty) == mask.shape[0]:
            raise EchoDataError(mask_path, "the mask is empty in every frame")
        if empty:
            raise EchoDataError(mask_path, f"the mask is empty in frame(s) {[i + 1 for i in empty]} of the cycle")
    cine = read_video(video_path, grey=True)
    frames = cine.frames
    if frames.ndim != 3:
        raise EchoDataError(video_path, f"expected grey frames (T, H, W), got {frames.shape}")
    h, w = frames.shape[1:]
    if h < min_video_size[0] or w < min_video_size[1]:
        raise EchoDataError(video_path, f"frames of {h}x{w} pixels are smaller than an HMC-QU A4C video "
                                        f"(at least {min_video_size[0]}x{min_video_size[1]})")
    if row.end_frame > frames.shape[0]:
        raise EchoDataError(video_path, f"the cycle ends at frame {row.end_frame} but the video has "
                                        f"{frames.shape[0]} frames")
    frames = _resize(frames[row.start_frame - 1 : row.end_frame], grid)
    fps = cine.frame_rate_hz
    frame_time_ms = 1000.0 / fps if fps > 0 else 40.0  # HMC-QU is recorded at 25 fps
    image_rel, label_rel = f"images/{name}.nii.gz", f"labels/{name}_wall.nii.gz"
    out.write_with(image_rel, lambda p: write_nifti_cine(p, frames, frame_time_ms=frame_time_ms))
    item: dict[str, Any] = {"image": image_rel}
    if mask is not None:
        out.write_with(label_rel, lambda p: write_nifti_cine(p, mask, frame_time_ms=frame_time_ms))
        item["label"] = label_rel
    return {
        **item,
        "has_mask": mask is not None,
        "recording": name,
        "infarcted": [int(f) for f in row.infarcted],
        "mi": int(any(row.infarcted)),
        "n_frames": int(frames.shape[0]),
        "cycle_frames": [row.start_frame, row.end_frame],
        "frame_time_ms": round(float(frame_time_ms), 4),
    }
