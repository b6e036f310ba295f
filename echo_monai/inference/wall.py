"""The LV-wall segmentation bundle's own pieces: data loading, HD95 in mm, and per-recording results.

Used from ``bundles/echo_lv_wall_segmentation/configs/*.json`` (so the bundle runs from any folder) and
by :mod:`echo_monai.inference.wall_demo`:

- :func:`load_wall_items`: a split of a wall datalist (synthetic, HMC-QU or CAMUS converter output) with
  absolute paths, every recording checked first; bad ones are reported one by one and left out;
- :class:`WallGatingd`: ED / ES frames of a cine without them in its datalist item, from its ECG when it
  has one (``LoadEchoCined(gating=True)``), as plain keys that collate;
- :class:`WallHausdorff95`: per-clip HD95 in mm (mean over frames) using each recording's pixel spacing,
  a MONAI cumulative metric that ``IgniteMetricHandler`` can wrap (MONAI's ``HausdorffDistance`` handler
  has no way to receive a per-recording spacing);
- :func:`analyse_wall_masks`: ED -> ES regional analysis of a predicted (or true) mask cine: per-segment
  displacement, thickening, abnormal segments, MI;
- :class:`WallResultsWriter`: an Ignite handler writing, per recording, the mask cine (NIfTI), an overlay
  GIF, the per-segment CSV and the regional figure, plus per-frame metrics and a summary of the regional
  detection when the truth is known.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch
from monai.config import KeysCollection
from monai.metrics import CumulativeIterationMetric
from monai.transforms import MapTransform
from monai.utils import MetricReduction
from PIL import Image
from scipy.spatial import ConvexHull, QhullError

from echo_monai.datasets.wall import MIN_WALL_VIDEO_SIZE, check_wall_pair, one_cycle
from echo_monai.errors import EchoDataError
from echo_monai.io.nifti import read_nifti_cine, write_nifti_cine
from echo_monai.metrics.segmentation import METRIC_NAMES, clip_metrics, frame_metrics
from echo_monai.regional.classify import SegmentAssessment, classify_segments
from echo_monai.regional.motion import SegmentMotion, segment_motion
from echo_monai.regional.plot import plot_regional
from echo_monai.regional.segments import AHA_SEGMENTS, SEGMENT_NAMES
from echo_monai.utils.files import atomic_write_with

__all__ = [
    "RegionalResult",
    "WallGatingd",
    "WallHausdorff95",
    "WallResultsWriter",
    "analyse_wall_masks",
    "ed_es_from_masks",
    "load_wall_items",
    "wall_input_items",
    "write_overlay_gif",
]

logger = logging.getLogger(__name__)


# -- data ---------------------------------------------------------------------------------------------

def _nifti_cine_shape(path: Path) -> tuple[int, int, int]:
    """(T, H, W) of a NIfTI cine from its header (no pixel data read)."""
    try:
        shape = nib.load(str(path)).shape
    except Exception as exc:  # nibabel raises ImageFileError, OSError ... for damaged files
        raise EchoDataError(path, f"not a readable NIfTI file ({type(exc).__name__}: {exc})") from exc
    if len(shape) >= 4 and shape[2] == 1:
        return int(shape[3]), int(shape[1]), int(shape[0])
    if len(shape) == 3:
        return int(shape[2]), int(shape[1]), int(shape[0])
    if len(shape) == 2:
        return 1, int(shape[1]), int(shape[0])
    raise EchoDataError(path, f"shape {shape} is not a 2-D cine")


def load_wall_items(
    dataset_dir: str | os.PathLike,
    split: str = "training",
    datalist: str | os.PathLike | None = None,
    *,
    min_size: Sequence[int] = MIN_WALL_VIDEO_SIZE,
    max_items: int | None = None,
) -> list[dict[str, Any]]:
    """Items of one split of a wall datalist, paths made absolute, each recording checked.

    A recording is left out (with a warning naming it and the problem) when its files are missing or
    unreadable, the mask's frame count differs from the video's, the mask is empty, or the video is not
    an A4C recording at a usable size (see :func:`echo_monai.datasets.wall.check_wall_pair`). Items
    without a mask (``has_mask`` false, HMC-QU's ``--include-unmasked``) are left out silently.

    Args:
        dataset_dir: the converter's output folder; relative paths in the datalist are relative to it.
        split: ``"training"``, ``"validation"`` or ``"test"``.
        datalist: the datalist file (default ``dataset_dir/datalist.json``).
        min_size: smallest usable (H, W).
        max_items: keep only the first n good items (quick runs).

    Raises:
        EchoDataError: no datalist, no such split, or no usable item in it.
    """
    root = Path(dataset_dir).expanduser()
    listing = Path(datalist).expanduser() if datalist else root / "datalist.json"
    try:
        content = json.loads(listing.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise EchoDataError(listing, "datalist not found (run a data_scripts/prepare_* converter first)") from exc
    except (OSError, ValueError) as exc:
        raise EchoDataError(listing, f"unreadable datalist ({exc})") from exc
    if split not in content or not isinstance(content[split], list):
        splits = [k for k, v in content.items() if isinstance(v, list) and v and isinstance(v[0], dict)]
        raise EchoDataError(listing, f"no split {split!r} in the datalist (it has {splits})")
    items: list[dict[str, Any]] = []
    for raw in content[split]:
        if not raw.get("has_mask", True) or "label" not in raw:
            continue
        item = dict(raw)
        for key in ("image", "label", "segments"):
            if key in item and isinstance(item[key], str):
                item[key] = str((root / item[key]) if not os.path.isabs(item[key]) else Path(item[key]))
        name = str(item.get("recording") or Path(item["image"]).name.split(".")[0])
        item["recording"] = name
        try:
            for key in ("image", "label"):
                if not Path(item[key]).is_file():
                    raise EchoDataError(item[key], f"{key} file not found")
            image_shape = _nifti_cine_shape(Path(item["image"])) if str(item["image"]).endswith((".nii", ".nii.gz")) \
                else None
            mask = read_nifti_cine(item["label"], labels=True).frames
            check_wall_pair(image_shape or mask.shape, mask, min_size=min_size, path=item["image"])
        except EchoDataError as exc:
            logger.warning("%s: left out of %s: %s", name, split, exc)
            continue
        items.append(item)
        if max_items is not None and len(items) >= max_items:
            break
    if not items:
        raise EchoDataError(listing, f"no usable recording with a wall mask in split {split!r}")
    return items


_CINE_SUFFIXES = (".dcm", ".dicom", ".avi", ".mp4", ".nii", ".nii.gz")


def wall_input_items(
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    min_size: Sequence[int] = MIN_WALL_VIDEO_SIZE,
) -> list[dict[str, Any]]:
    """Inference items ``{"image": path, "recording": name}`` for cine files and folders of them.

    Every cine is opened first (pixels read, no ECG); one that cannot be read or is smaller than
    ``min_size`` (not an A4C recording at a usable size) is reported by name with the reason and left
    out, so that one bad file does not stop the others.

    Args:
        inputs: DICOM, AVI/MP4 or NIfTI files, or folders (searched recursively for those suffixes).
        min_size: smallest usable (H, W).

    Raises:
        EchoDataError: nothing usable among the inputs.
    """
    from echo_monai.io.cine import read_cine

    given = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    files: list[Path] = []
    for entry in given:
        path = Path(entry).expanduser()
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(_CINE_SUFFIXES)
                            and not any(part.startswith(".") for part in p.relative_to(path).parts))
        else:
            files.append(path)
    items: list[dict[str, Any]] = []
    problems: list[str] = []
    names: set[str] = set()
    for path in files:
        try:
            if not path.is_file():
                raise EchoDataError(path, "file not found")
            shape = read_cine(path, grey=True, with_ecg=False).frames.shape
            if shape[1] < min_size[0] or shape[2] < min_size[1]:
                raise EchoDataError(path, f"frames of {shape[1]}x{shape[2]} pixels are smaller than a usable A4C "
                                          f"recording (at least {min_size[0]}x{min_size[1]})")
            if shape[0] < 2:
                raise EchoDataError(path, "a single frame: wall motion needs a cine")
        except EchoDataError as exc:
            logger.warning("%s: not processed: %s", path, exc.problem)
            problems.append(f"{path.name}: {exc.problem}")
            continue
        name = _safe(re.sub(r"\.(nii\.gz|nii|dcm|dicom|avi|mp4)$", "", path.name, flags=re.IGNORECASE))
        stem, k = name, 1
        while name.lower() in names:  # two inputs with one name must not overwrite each other's outputs
            k += 1
            name = f"{stem}_{k}"
        names.add(name.lower())
        items.append({"image": str(path.resolve()), "recording": name})
    if not items:
        detail = "; ".join(problems) if problems else "no DICOM, AVI/MP4 or NIfTI cine found"
        raise EchoDataError(None, f"no usable input cine ({detail})")
    return items


class WallGatingd(MapTransform):
    """ED / ES frames from the cine's gating into the plain keys ``ed_frame`` / ``es_frame``.

    After ``LoadEchoCined(gating=True, allow_ungated=True)``: takes one cycle (first ED with a later ES)
    from ``meta["gating"]`` unless the item already has ``ed_frame`` and ``es_frame`` (from the datalist),
    and removes the non-collatable gating object from the metadata. Without a usable ECG the item gets
    ``ed_frame = es_frame = -1``: :func:`analyse_wall_masks` then finds them from the masks. Only ECG-based
    timing is used (``gating_source`` records it); the image fallback of gating is left to the masks,
    which show the LV cavity directly.
    """

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            meta = getattr(d[key], "meta", None)
            gating = meta.pop("gating", None) if meta is not None else None
            meta_source = str(meta.get("ecg_source", "none")) if meta is not None else "none"
            if "ed_frame" in d and "es_frame" in d and int(d["ed_frame"]) >= 0:
                d.setdefault("gating_source", "datalist")
                continue
            d["ed_frame"], d["es_frame"], d["gating_source"] = -1, -1, "masks"
            if gating is not None and meta_source != "none":
                cycle = one_cycle(gating.ed_frames, gating.es_frames)
                if cycle is not None:
                    d["ed_frame"], d["es_frame"], d["gating_source"] = cycle[0], cycle[1], meta_source
        return d


# -- metric -------------------------------------------------------------------------------------------

def _spacing_of(*tensors: Any) -> tuple[float, float] | None:
    """(row, column) spacing in mm from the ``spacing_mm`` meta of the first tensor that has a valid one."""
    for t in tensors:
        meta = getattr(t, "meta", None)
        if not meta or "spacing_mm" not in meta:
            continue
        values = np.asarray([float(torch.as_tensor(v).flatten()[0]) for v in meta["spacing_mm"]], dtype=np.float64)
        if values.size == 2 and np.all(values > 0) and np.all(np.isfinite(values)):
            return float(values[0]), float(values[1])
    return None


class WallHausdorff95(CumulativeIterationMetric):
    """95th-percentile Hausdorff distance of wall masks in mm, per frame, averaged over each clip's frames.

    Inputs ``y_pred`` and ``y``: binarised (B, 1, T, H, W) clips or (B, 1, H, W) frames. The pixel spacing
    is read from the ``spacing_mm`` metadata of ``y`` (or ``y_pred``), as :class:`LoadEchoCine` sets it;
    without it the distance is in pixels and a warning says so. Frames where either mask is empty are
    left out of a clip's mean (NaN if every frame is). ``aggregate`` reduces the clips (NaN-aware mean).
    """

    def __init__(self, reduction: MetricReduction | str = MetricReduction.MEAN,
                 get_not_nans: bool = False) -> None:
        super().__init__()
        self.reduction = reduction
        self.get_not_nans = get_not_nans
        self._warned = False

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        if y is None:
            raise ValueError("WallHausdorff95 needs the ground truth y")
        spacing = _spacing_of(y, y_pred)
        if spacing is None and not self._warned:
            logger.warning("no pixel spacing in the label metadata: HD95 is in pixels, not mm")
            self._warned = True
        out = torch.full((y_pred.shape[0], 1), float("nan"), dtype=torch.float64)
        for b in range(y_pred.shape[0]):
            p = torch.as_tensor(y_pred[b, 0]).detach().cpu()
            t = torch.as_tensor(y[b, 0]).detach().cpu()
            hd = frame_metrics(p, t, spacing)["hd95_mm"]
            if np.isfinite(hd).any():
                out[b, 0] = float(np.nanmean(hd))
        return out

    def aggregate(self, reduction: MetricReduction | str | None = None):  # type: ignore[override]
        from monai.metrics.utils import do_metric_reduction

        data = self.get_buffer()
        if not isinstance(data, torch.Tensor):
            raise TypeError("the data to aggregate must be a PyTorch Tensor")
        f, not_nans = do_metric_reduction(data, reduction or self.reduction)
        # MONAI reduces "no finite value" to 0, which would read as a perfect 0 mm: say NaN instead.
        f = torch.where(torch.as_tensor(not_nans) > 0, f, torch.full_like(f, float("nan")))
        return (f, not_nans) if self.get_not_nans else f


# -- regional analysis --------------------------------------------------------------------------------

def _cavity_area_px(mask: np.ndarray) -> float:
    """LV cavity area of one A4C wall mask (pixels): the wall's convex hull minus the wall, which for the
    inverted U of an A4C wall is the cavity closed by the mitral chord."""
    pts = np.argwhere(mask > 0)
    if pts.shape[0] < 3:
        return float("nan")
    try:
        hull = ConvexHull(pts.astype(np.float64))
    except QhullError:
        return float("nan")
    return float(hull.volume) - float(pts.shape[0])  # 2-D "volume" is the area


def ed_es_from_masks(masks: np.ndarray) -> tuple[int, int]:
    """(ED, ES) frames from a wall-mask cine (T, H, W) alone, for cines without ECG timing.

    ED is the frame with the largest LV cavity; ES the smallest cavity after it, or before it when the
    smallest one after ED is only the clip's last frame (a clip that ends in systole) while the one
    before is a real minimum. The cavity is flat around ED, so ED is the less precise of the two.

    Raises:
        EchoDataError: fewer than two frames with a traceable wall.
    """
    area = np.array([_cavity_area_px(m) for m in np.asarray(masks)])
    ok = np.flatnonzero(np.isfinite(area))
    if ok.size < 2:
        raise EchoDataError(None, "fewer than two frames with a wall to find ED and ES from")
    ed = int(ok[np.argmax(area[ok])])
    picks: list[tuple[bool, int]] = []  # (a minimum inside the clip, frame), after ED first
    for pool in (ok[ok > ed], ok[ok < ed]):
        if pool.size:
            frame = int(pool[np.argmin(area[pool])])
            picks.append((frame not in (int(ok[0]), int(ok[-1])), frame))
    inside = [frame for interior, frame in picks if interior]
    return ed, inside[0] if inside else picks[0][1]


@dataclass
class RegionalResult:
    """Regional analysis of one mask cine: ``motion`` and ``assessment`` are ``None`` when it failed
    (``problem`` says why). ``ed_frame`` / ``es_frame`` are the frames used, ``timing`` where they came from."""

    ed_frame: int
    es_frame: int
    timing: str
    motion: SegmentMotion | None = None
    assessment: SegmentAssessment | None = None
    problem: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def analyse_wall_masks(
    masks: np.ndarray,
    spacing_mm: tuple[float, float] | float,
    ed_frame: int | None = None,
    es_frame: int | None = None,
    *,
    timing: str = "given",
    classify_kw: Mapping[str, Any] | None = None,
) -> RegionalResult:
    """ED -> ES regional wall motion of a wall-mask cine and the abnormal segments.

    Args:
        masks: (T, H, W) wall masks (predicted or true), non-zero = wall.
        spacing_mm: (row, column) pixel size in mm.
        ed_frame, es_frame: 0-based frames of one cycle; ``None`` or negative: found from the masks
            (:func:`ed_es_from_masks`).
        timing: where the given frames came from (recorded in the result).
        classify_kw: options of :func:`echo_monai.regional.classify_segments`.

    Returns:
        :class:`RegionalResult`; a wall that cannot be traced gives ``motion=None`` and the reason, not
        an exception, so that one bad recording does not stop an evaluation.
    """
    masks = np.asarray(masks) > 0
    if ed_frame is None or es_frame is None or ed_frame < 0 or es_frame < 0 or ed_frame == es_frame:
        try:
            ed_frame, es_frame = ed_es_from_masks(masks)
        except EchoDataError as exc:
            return RegionalResult(-1, -1, "masks", problem=exc.problem)
        timing = "masks"
    result = RegionalResult(int(ed_frame), int(es_frame), timing)
    try:
        result.motion = segment_motion(masks.astype(np.uint8), ed_frame, es_frame, spacing_mm)
    except EchoDataError as exc:
        result.problem = exc.problem
        return result
    result.assessment = classify_segments(result.motion, **dict(classify_kw or {}))
    return result


# -- outputs ------------------------------------------------------------------------------------------

def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return atomic_write_with(path, lambda p: p.write_text(buf.getvalue(), encoding="utf-8"))


def _edge(mask: np.ndarray) -> np.ndarray:
    """One-pixel inner border of a binary (H, W) mask."""
    m = mask.astype(bool)
    inner = m.copy()
    inner[1:, :] &= m[:-1, :]
    inner[:-1, :] &= m[1:, :]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    return m & ~inner


def write_overlay_gif(
    path: str | os.PathLike,
    frames: np.ndarray,
    masks: np.ndarray,
    frame_time_ms: float,
    truth: np.ndarray | None = None,
) -> Path:
    """Animated GIF of the cine with the predicted wall tinted orange (and the true wall's outline in green).

    Args:
        frames: (T, H, W) grey frames, uint8 or float in [0, 1].
        masks: (T, H, W) predicted wall masks.
        frame_time_ms: display interval per frame.
        truth: optional (T, H, W) true wall masks.
    """
    frames = np.asarray(frames)
    grey = frames if frames.dtype == np.uint8 else np.clip(np.round(frames * 255.0), 0, 255).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=-1).astype(np.float32)
    wall = np.asarray(masks) > 0
    orange = np.array([255.0, 140.0, 0.0], dtype=np.float32)
    rgb[wall] = 0.55 * rgb[wall] + 0.45 * orange
    if truth is not None:
        edges = np.stack([_edge(t > 0) for t in np.asarray(truth)])
        rgb[edges] = np.array([0.0, 220.0, 0.0], dtype=np.float32)
    images = [Image.fromarray(f) for f in np.clip(rgb, 0, 255).astype(np.uint8)]
    duration = max(20, round(frame_time_ms))  # browsers slow GIF frames under 20 ms down to 100 ms
    return atomic_write_with(Path(path), lambda p: images[0].save(p, format="GIF", save_all=True,
                                                          append_images=images[1:], duration=duration, loop=0))


def _numpy(x: Any) -> np.ndarray:
    return np.asarray(x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", name).strip("._") or "recording"


def _scalar(value: Any, default: Any = None) -> Any:
    if value is None:
        return default
    if isinstance(value, torch.Tensor):
        return value.flatten()[0].item() if value.numel() else default
    if isinstance(value, (list, tuple)) and len(value) == 1:
        return _scalar(value[0], default)
    return value


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


class WallResultsWriter:
    """Per-recording outputs of an evaluation or inference run, as an Ignite handler.

    For every recording (decollated ``engine.state.output`` / ``engine.state.batch`` items) it writes
    under ``output_dir``:

    - ``masks/<recording>_wall.nii.gz``: the predicted wall cine (uint8 {0, 1}, spacing, frame time);
    - ``overlays/<recording>.gif``: the cine with the prediction (and the truth's outline);
    - ``regional/<recording>_segments.csv`` and ``regional/<recording>.png``: ED -> ES per-segment
      displacement, thickening, shortening, score, abnormal; the regional figure;

    and at the end ``recordings.csv`` (one row per recording: timing, MI, per-clip metrics when a label
    is given), ``frame_metrics.csv`` (per frame, with labels), ``regional.csv`` (all segments, from the
    prediction and, with labels, from the true masks) and ``summary.json`` (mean metrics; abnormal-segment
    sensitivity / specificity and MI detection against the datalist's ``infarcted`` flags).

    Args:
        output_dir: folder for the outputs (created).
        pred_key, label_key, image_key: keys of the binarised prediction, the true mask and the image,
            each (1, T, H, W) (or (C, T, H, W) for the image: channel 0 is drawn).
        overlays, figures: write the GIFs / regional figures (off for fast benchmarks).
        classify_kw: options of :func:`echo_monai.regional.classify_segments`.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        pred_key: str = "pred",
        label_key: str = "label",
        image_key: str = "image",
        overlays: bool = True,
        figures: bool = True,
        classify_kw: Mapping[str, Any] | None = None,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.pred_key, self.label_key, self.image_key = pred_key, label_key, image_key
        self.overlays, self.figures = overlays, figures
        self.classify_kw = dict(classify_kw or {})
        self.recordings: list[dict[str, Any]] = []
        self.frame_rows: list[list[Any]] = []
        self.segment_rows: list[list[Any]] = []

    def attach(self, engine: Any) -> None:
        from ignite.engine import Events

        engine.add_event_handler(Events.STARTED, self.reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)
        engine.add_event_handler(Events.COMPLETED, lambda _: self.finish())

    def reset(self, _engine: Any = None) -> None:
        self.recordings, self.frame_rows, self.segment_rows = [], [], []

    def __call__(self, engine: Any) -> None:
        outputs, batches = engine.state.output, engine.state.batch
        if isinstance(outputs, dict):
            raise TypeError("WallResultsWriter needs decollated outputs (evaluator decollate=True)")
        for out, item in zip(outputs, batches):
            self.add(out, item)

    def add(self, out: Mapping[str, Any], item: Mapping[str, Any]) -> dict[str, Any]:
        """Analyse and write one recording from its output and input dictionaries; returns its row."""
        pred = _numpy(out[self.pred_key])
        pred = (pred[0] if pred.ndim == 4 else pred) > 0.5
        label_t = out.get(self.label_key, item.get(self.label_key))
        label = None
        if isinstance(label_t, torch.Tensor) and label_t.ndim >= 3:
            label = _numpy(label_t)
            label = (label[0] if label.ndim == 4 else label) > 0
            if label.shape != pred.shape:
                raise EchoDataError(None, f"prediction {pred.shape} and label {label.shape} differ in shape")
        image_t = out.get(self.image_key, item.get(self.image_key))
        image = _numpy(image_t)[0] if isinstance(image_t, torch.Tensor) and image_t.ndim == 4 else None
        if image is not None and image.shape != pred.shape:
            image = None  # an image still at the network's size cannot be drawn under the full-size mask
        meta_src = label_t if label is not None else image_t
        spacing = _spacing_of(meta_src, image_t, out[self.pred_key]) or (1.0, 1.0)
        meta = getattr(image_t, "meta", {}) or {}
        name = str(_scalar(item.get("recording")) or Path(str(_scalar(meta.get("filename_or_obj"), "recording"))).name)
        name = _safe(re.sub(r"\.(nii\.gz|nii|dcm|avi|mp4)$", "", name))
        frame_time = float(_scalar(item.get("frame_time_ms"), 0.0) or 0.0)
        times = meta.get("frame_times_ms")
        if frame_time <= 0 and times is not None and len(np.ravel(_numpy(times))) > 1:
            frame_time = float(np.median(np.diff(np.ravel(_numpy(times)))))
        frame_time = frame_time if frame_time > 0 else 40.0
        ed, es = int(_scalar(item.get("ed_frame"), -1)), int(_scalar(item.get("es_frame"), -1))
        source = str(_scalar(item.get("gating_source"), "datalist" if ed >= 0 else "masks"))
        infarcted = item.get("infarcted")
        truth_flags = None
        if infarcted is not None:
            flags = np.array([bool(_scalar(v)) for v in infarcted]) if not isinstance(infarcted, torch.Tensor) \
                else _numpy(infarcted).astype(bool).ravel()
            truth_flags = flags if flags.shape == (6,) else None

        row: dict[str, Any] = {"recording": name, "n_frames": int(pred.shape[0])}
        write_nifti_cine(self.output_dir / "masks" / f"{name}_wall.nii.gz", pred.astype(np.uint8),
                         spacing_mm=spacing, frame_time_ms=frame_time)
        if label is not None:
            for f, values in enumerate(zip(*(frame_metrics(pred, label, spacing)[k] for k in METRIC_NAMES))):
                self.frame_rows.append([name, f, *(round(float(v), 6) for v in values)])
            row.update({k: round(v, 6) for k, v in clip_metrics(pred, label, spacing).items()})
        if self.overlays and image is not None:
            write_overlay_gif(self.output_dir / "overlays" / f"{name}.gif", image, pred, frame_time, truth=label)

        sources = [("prediction", pred)] + ([("ground truth", label)] if label is not None else [])
        for what, masks in sources:
            res = analyse_wall_masks(masks, spacing, ed, es, timing=source, classify_kw=self.classify_kw)
            prefix = "" if what == "prediction" else "gt_"
            row[prefix + "ed_frame"], row[prefix + "es_frame"] = res.ed_frame, res.es_frame
            row[prefix + "timing"] = res.timing
            row[prefix + "mi"] = None if res.assessment is None else int(res.assessment.mi)
            row[prefix + "regional_problem"] = res.problem
            if res.motion is None or res.assessment is None:
                continue
            m, a = res.motion, res.assessment
            rows = []
            for k in range(6):
                rows.append([name, what, k + 1, SEGMENT_NAMES[k], AHA_SEGMENTS[k],
                             *(round(float(v), 4) for v in (m.peak_displacement_mm[k], m.thickening_pct[k],
                                                            m.shortening_pct[k], a.score[k])),
                             int(a.assessed[k]), int(a.abnormal[k]),
                             "" if truth_flags is None else int(truth_flags[k])])
            self.segment_rows += rows
            if what == "prediction":
                _write_csv(self.output_dir / "regional" / f"{name}_segments.csv", _SEGMENT_HEADER, rows)
                if self.figures:
                    ed_image = image[res.ed_frame] if image is not None else None
                    plot_regional(m, a, image=ed_image, frame_times_ms=np.arange(pred.shape[0]) * frame_time,
                                  out_path=self.output_dir / "regional" / f"{name}.png", title=name)
        if truth_flags is not None:
            row["infarcted"] = "".join(str(int(v)) for v in truth_flags)
            row["true_mi"] = int(truth_flags.any())
        self.recordings.append(row)
        return row

    def finish(self) -> dict[str, Any]:
        """Write the tables and ``summary.json``; returns the summary."""
        self.output_dir.mkdir(parents=True, exist_ok=True)
        keys: list[str] = []
        for r in self.recordings:
            keys += [k for k in r if k not in keys]
        _write_csv(self.output_dir / "recordings.csv", keys, [[r.get(k, "") for k in keys] for r in self.recordings])
        if self.frame_rows:
            _write_csv(self.output_dir / "frame_metrics.csv", ["recording", "frame", *METRIC_NAMES], self.frame_rows)
        _write_csv(self.output_dir / "regional.csv", _SEGMENT_HEADER, self.segment_rows)
        summary = self.summary()
        atomic_write_with(self.output_dir / "summary.json",
                lambda p: p.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8"))
        return summary

    def summary(self) -> dict[str, Any]:
        """Mean per-clip metrics and, where truth flags exist, regional detection per mask source."""
        out: dict[str, Any] = {"n_recordings": len(self.recordings)}
        for k in METRIC_NAMES:
            v = [r[k] for r in self.recordings if k in r and r[k] is not None and np.isfinite(r[k])]
            if v:
                out[f"mean_{k}"] = round(float(np.mean(v)), 4)
        for what in ("prediction", "ground truth"):
            rows = [r for r in self.segment_rows if r[1] == what and r[-1] != ""]
            if not rows:
                continue
            seen = np.array([r[-3] for r in rows], bool)
            pred = np.array([r[-2] for r in rows], bool)
            truth = np.array([r[-1] for r in rows], bool)
            tp, fn = int((seen & truth & pred).sum()), int((seen & truth & ~pred).sum())
            tn, fp = int((seen & ~truth & ~pred).sum()), int((seen & ~truth & pred).sum())
            prefix = "" if what == "prediction" else "gt_"
            recs = [r for r in self.recordings if r.get(prefix + "mi") is not None and "true_mi" in r]
            mi_tp = sum(1 for r in recs if r[prefix + "mi"] and r["true_mi"])
            mi_fn = sum(1 for r in recs if not r[prefix + "mi"] and r["true_mi"])
            mi_tn = sum(1 for r in recs if not r[prefix + "mi"] and not r["true_mi"])
            mi_fp = sum(1 for r in recs if r[prefix + "mi"] and not r["true_mi"])
            out[f"regional_{what.replace(' ', '_')}"] = {
                "segments_assessed": int(seen.sum()), "segments_not_assessed": int((~seen).sum()),
                "tp": tp, "fn": fn, "tn": tn, "fp": fp,
                "sensitivity": _rate(tp, tp + fn), "specificity": _rate(tn, tn + fp),
                "recordings": len(recs), "mi_sensitivity": _rate(mi_tp, mi_tp + mi_fn),
                "mi_specificity": _rate(mi_tn, mi_tn + mi_fp),
            }
        return out


_SEGMENT_HEADER = ["recording", "masks", "segment", "name", "aha", "peak_displacement_mm", "thickening_pct",
                   "shortening_pct", "score", "assessed", "abnormal", "infarcted"]
