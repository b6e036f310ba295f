"""The echo study pipeline, free of the MONAI Deploy SDK: find cines, classify views, segment A4C walls.

Steps (each a function the SDK operators in :mod:`apps.echo_study_app.operators` wrap):

1. :func:`find_cine_series` - the Ultrasound Multi-frame cines of a DICOM folder (ECG waveform objects
   beside them are found by :mod:`echo_monai.io` when each cine is read);
2. :func:`classify_view` - every cine through the exported view model with the view bundle's own
   preprocessing (ECG-gated cardiac cycles; mean probability over the cycles);
3. :func:`segment_wall` - A4C cines through the exported wall model frame by frame, back to the stored
   frame size, then the regional ED -> ES analysis (:func:`echo_monai.inference.wall.analyse_wall_masks`);
4. :func:`write_wall_seg` / :func:`write_overlay_png` / :func:`write_study_report` - DICOM SEG, PNG and
   the per-study JSON + CSV report.

The models are TorchScript files written by ``python -m echo_monai.export``; their stored settings
(``echo_monai.json``: frame size, frames per cycle, temporal context) decide the preprocessing, so a
model and its preprocessing cannot drift apart. Reports name series by UID and file name only; no
patient identifier is copied into them. The DICOM SEG needs a patient and a study module (the standard
requires them): by default they are de-identified (:data:`SEG_PATIENT_MODES`), ``"source"`` copies them.
A cine is gated once: the view step's cardiac timing is handed to the wall step.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pydicom
import torch
import torch.nn.functional as F
from monai.transforms import Compose, EnsureTyped, Resized
from PIL import Image
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from echo_monai.ecg.gating import Gating
from echo_monai.errors import EchoDataError
from echo_monai.export.bundle import read_model_settings
from echo_monai.inference.views import EnsureGatingd
from echo_monai.inference.wall import RegionalResult, WallGatingd, analyse_wall_masks
from echo_monai.regional.segments import AHA_SEGMENTS, SEGMENT_NAMES
from echo_monai.transforms import LoadEchoCined
from echo_monai.transforms.frames import StackFramesd
from echo_monai.transforms.gating import CropCardiacCyclesd, SelectGatedFramesd
from echo_monai.transforms.io import GATING_META_KEY
from echo_monai.transforms.sector import SectorMaskd
from echo_monai.utils.files import atomic_write_with

__all__ = [
    "SEG_PATIENT_MODES",
    "CineSeries",
    "ExportedModel",
    "ViewResult",
    "WallResult",
    "classify_series",
    "classify_view",
    "find_cine_series",
    "run_study",
    "segment_series",
    "segment_wall",
    "study_folder_name",
    "write_overlay_png",
    "write_reports",
    "write_study_report",
    "write_wall_seg",
]

US_MULTIFRAME_STORAGE = "1.2.840.10008.5.1.4.1.1.3.1"
ECG_STORAGE = {"1.2.840.10008.5.1.4.1.1.9.1.1", "1.2.840.10008.5.1.4.1.1.9.1.2", "1.2.840.10008.5.1.4.1.1.9.1.3"}
MYOCARDIUM = Code("74281007", "SCT", "Myocardium")
ANATOMICAL_STRUCTURE = Code("91723000", "SCT", "Anatomical Structure")
SEG_LABEL = "LV wall"
#: What a DICOM SEG keeps of its source's patient and study modules: ``"deidentified"`` (the default)
#: or ``"source"`` (copied, for a SEG that must file beside its source in the same PACS patient).
SEG_PATIENT_MODES = ("deidentified", "source")
SegPatient = Literal["deidentified", "source"]


@dataclass(frozen=True)
class CineSeries:
    """One ultrasound multi-frame cine of the input (a series usually holds one)."""

    path: Path
    study_uid: str
    series_uid: str
    sop_instance_uid: str
    series_number: int | None
    n_frames: int


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def find_cine_series(input_dir: str | os.PathLike) -> tuple[list[CineSeries], list[tuple[str, str]]]:
    """The US multi-frame cines under ``input_dir`` (recursive), sorted by study, series number and UID.

    Returns:
        (cines, skipped): skipped lists (relative path, reason) for files that are not cines; ECG
        waveform objects are not listed there (they are read with their cine).

    Raises:
        EchoDataError: the folder does not exist or holds no cine.
    """
    root = Path(input_dir)
    if not root.is_dir():
        raise EchoDataError(root, "the input DICOM folder does not exist")
    cines: list[CineSeries] = []
    skipped: list[tuple[str, str]] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - pydicom raises several types for non-DICOM files
            skipped.append((rel, "not a DICOM file"))
            continue
        sop_class = str(ds.get("SOPClassUID", ""))
        if sop_class in ECG_STORAGE:
            continue
        if sop_class != US_MULTIFRAME_STORAGE:
            skipped.append((rel, f"not an ultrasound multi-frame cine (SOP class {sop_class or 'missing'})"))
            continue
        try:
            number = ds.get("SeriesNumber")
            cines.append(CineSeries(path, str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID),
                                    str(ds.SOPInstanceUID), None if number in (None, "") else int(number),
                                    int(ds.get("NumberOfFrames", 1) or 1)))
        except (AttributeError, ValueError, TypeError) as exc:
            skipped.append((rel, f"cine without usable study/series/instance UIDs ({exc})"))
    if not cines:
        raise EchoDataError(root, f"no ultrasound multi-frame cine found ({len(skipped)} other file(s))")
    cines.sort(key=lambda c: (c.study_uid, c.series_number if c.series_number is not None else 1 << 30,
                              c.series_uid, c.sop_instance_uid))
    return cines, skipped


class ExportedModel:
    """An exported TorchScript model with its stored settings (``settings["task"]``: view or wall).

    Args:
        path: ``model.ts`` from ``python -m echo_monai.export``.
        task: the task the caller needs; a model of another task is refused.
        device: torch device.
    """

    def __init__(self, path: str | os.PathLike, task: str, device: str | torch.device = "cpu") -> None:
        self.path = Path(path)
        self.settings = read_model_settings(self.path)
        if self.settings.get("task") != task:
            raise EchoDataError(self.path, f"a {self.settings.get('task')!r} model was given where a {task!r} model "
                                           "is needed (check --view-model / --wall-model)")
        self.device = torch.device(device)
        self.module = torch.jit.load(str(self.path), map_location=self.device).eval()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.module(x.to(self.device)).float().cpu()


@dataclass
class ViewResult:
    """View of one cine: the class of the mean probability over its cardiac cycles (or gated frames).

    ``gating`` is the cine's cardiac timing as the view step found it (handed to :func:`segment_wall`).
    """

    view: str
    probability: float
    probabilities: dict[str, float]
    n_windows: int
    ecg_source: str
    gating_method: str
    gating: Gating | None = field(default=None, repr=False)


def _view_preprocessing(settings: dict[str, Any]) -> Compose:
    """The view bundle's validation preprocessing, rebuilt from the model's settings."""
    load = LoadEchoCined(keys="image", grey=int(settings["in_channels"]) == 1, size=settings["image_size"],
                         gating=True, allow_ungated=True)
    if "gated_phase" in settings:
        windows = SelectGatedFramesd(keys="image", phase=settings["gated_phase"], ungated="middle")
    else:
        windows = CropCardiacCyclesd(keys="image", num_frames=int(settings["num_frames"]),
                                     max_cycles=settings.get("max_cycles"))
    steps = [load, EnsureGatingd(keys="image")]
    if settings.get("sector_mask"):  # models exported before the bundle masked the sector carry no such key
        steps.append(SectorMaskd(keys="image", allow_unmasked=True))
    return Compose([*steps, windows, EnsureTyped(keys="image", dtype=torch.float32)])


def classify_view(path: str | os.PathLike, model: ExportedModel) -> ViewResult:
    """Classify one cine file with a view model (same preprocessing and clip aggregation as the bundle)."""
    steps = _view_preprocessing(model.settings).transforms
    loaded = Compose(steps[:2])({"image": os.fspath(path)})  # read + gate; kept for the wall step
    gating = loaded["image"].meta.get(GATING_META_KEY)
    samples = Compose(steps[2:])(loaded)
    samples = samples if isinstance(samples, list) else [samples]
    if not samples:
        raise EchoDataError(path, "no cardiac cycle or gated frame to classify")
    batch = torch.stack([torch.as_tensor(s["image"]) for s in samples])
    probs = torch.softmax(model(batch), dim=1).mean(dim=0).numpy()
    names = list(model.settings["class_names"])
    best = int(np.argmax(probs))
    meta = getattr(samples[0]["image"], "meta", {}) or {}
    return ViewResult(names[best], float(probs[best]), {n: float(p) for n, p in zip(names, probs)}, len(samples),
                      str(meta.get("ecg_source", "none")), str(meta.get("gating_method", "")), gating)


@dataclass
class WallResult:
    """LV wall masks of one cine at its stored frame size, with the regional analysis.

    ``frames`` (T, H, W) grey in [0, 1]; ``masks`` (T, H, W) bool; ``spacing_mm`` (row, column) or
    ``None`` when the file gives no physical size (the regional analysis is then in pixels).
    """

    frames: np.ndarray
    masks: np.ndarray
    spacing_mm: tuple[float, float] | None
    ecg_source: str
    regional: RegionalResult
    extra: dict[str, Any] = field(default_factory=dict)


def segment_wall(path: str | os.PathLike, model: ExportedModel, batch_frames: int = 16,
                 gating: Gating | None = None) -> WallResult:
    """Segment the LV wall in every frame of an A4C cine and analyse ED -> ES regional motion.

    Mirrors the wall bundle's inference: grey frames in [0, 1], ECG gating for the ED/ES frames, the
    temporal context the model was trained with, resize to the model's frame size, sigmoid, resize back
    (trilinear over frames and pixels), threshold 0.5.

    Args:
        gating: the cine's timing from :func:`classify_view` (``ViewResult.gating``), so that it is not
            gated twice; ``None`` gates it here. Only ECG-based timing is used for ED/ES (see
            :class:`~echo_monai.inference.wall.WallGatingd`), and that does not depend on the frame size
            or colour the view step read the cine at, so both give the same result.
    """
    settings = model.settings
    k = int(settings.get("temporal_context", 0))
    image = LoadEchoCined(keys="image", grey=True, gating=gating is None, allow_ungated=True,
                          scale=True)({"image": os.fspath(path)})
    if gating is not None:
        image["image"].meta.update(gating.summary())
        image["image"].meta[GATING_META_KEY] = gating
    loaded = WallGatingd(keys="image")(image)
    cine = torch.as_tensor(loaded["image"]).float()  # (1, T, H, W)
    prepared = Compose([StackFramesd(keys="image", k=k),
                        Resized(keys="image", spatial_size=[-1, *settings["image_size"]], mode="trilinear",
                                anti_aliasing=True)])(dict(loaded))
    x = torch.as_tensor(prepared["image"]).float().permute(1, 0, 2, 3)  # (T, C * (2k + 1), h, w)
    logits = torch.cat([model(x[i:i + batch_frames]) for i in range(0, x.shape[0], batch_frames)])
    prob = torch.sigmoid(logits[:, :1]).permute(1, 0, 2, 3)[None]  # (1, 1, T, h, w)
    prob = F.interpolate(prob, size=tuple(cine.shape[1:]), mode="trilinear", align_corners=False)
    masks = (prob[0, 0] > 0.5).numpy()
    meta = getattr(loaded["image"], "meta", {}) or {}
    spacing = tuple(float(s) for s in meta.get("spacing_mm", (0.0, 0.0)))
    known = len(spacing) == 2 and min(spacing) > 0
    ed, es = int(loaded.get("ed_frame", -1)), int(loaded.get("es_frame", -1))
    source = str(loaded.get("gating_source", "masks"))
    regional = analyse_wall_masks(masks, spacing if known else (1.0, 1.0), ed, es, timing=source)
    return WallResult(cine[0].numpy(), masks, spacing if known else None, str(meta.get("ecg_source", "none")),
                      regional)


SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
# The Patient and General Study modules a SEG must carry (the Type 2 elements may be empty).
_PATIENT_KEYWORDS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")
_STUDY_KEYWORDS = ("StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber")
# De-identification Method is LO (64 characters a value), multi-valued.
DEIDENTIFICATION_METHOD = (
    "echo_study_app",
    "patient name and ID replaced by a study pseudonym",
    "birth date and sex empty",
    "study date, time and ID empty",
    "accession number and referring physician empty",
    "UIDs retained",
)


def _set_patient_and_study(ds: pydicom.Dataset, source: pydicom.Dataset, mode: str) -> None:
    """Fill the SEG's Patient and General Study modules from ``source`` as ``mode`` allows.

    ``"deidentified"``: the name and ID become ``study_<hash of the Study Instance UID>`` (the report
    folder's name; the UID itself stays, so nothing new is told), every other identifying element is
    empty, and Patient Identity Removed / De-identification Method say so. The study, series and SOP
    instance UIDs are kept in both modes: the SEG belongs to its study and references its source frames.
    ``"source"``: everything copied, including a de-identification the source already records.
    """
    if mode not in SEG_PATIENT_MODES:
        raise ValueError(f"seg patient mode {mode!r}: choose from {SEG_PATIENT_MODES}")
    ds.StudyInstanceUID = source.StudyInstanceUID
    if mode == "source":
        for kw in _PATIENT_KEYWORDS + _STUDY_KEYWORDS:
            setattr(ds, kw, source.get(kw, ""))
        for kw in ("PatientIdentityRemoved", "DeidentificationMethod"):
            if kw in source:
                setattr(ds, kw, source[kw].value)
        return
    pseudonym = study_folder_name(str(source.StudyInstanceUID))
    ds.PatientName, ds.PatientID = pseudonym, pseudonym
    for kw in _PATIENT_KEYWORDS[2:] + _STUDY_KEYWORDS:
        setattr(ds, kw, "")
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = list(DEIDENTIFICATION_METHOD)


def write_wall_seg(source_path: str | os.PathLike, masks: np.ndarray, out_path: str | os.PathLike, *,
                   series_number: int = 901, software_version: str = "0.1.0",
                   patient: SegPatient = "deidentified") -> Path:
    """Write ``masks`` (T, H, W) of the cine ``source_path`` as a binary DICOM SEG (segment 1, LV wall).

    One SEG frame per source frame with wall (empty frames are left out, as the standard allows), each
    referencing its source frame (Derivation Image > Source Image > Referenced Frame Number) and
    indexed by (segment, temporal position = source frame number). An echo cine has no patient
    coordinate system, so the SEG has none either (no Frame of Reference, no plane positions):
    highdicom 0.28 refuses multi-frame sources without one, so the IOD is assembled here, with
    highdicom's segment description. The patient and study modules, which the standard requires, are
    de-identified (``patient="deidentified"``, the default) or copied (``"source"``); see
    :func:`_set_patient_and_study`. Nothing else of the patient is written.
    """
    import highdicom as hd
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.pixels import pack_bits
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    source = pydicom.dcmread(source_path, stop_before_pixels=True)
    if not source.get("StudyInstanceUID") or not source.get("SOPInstanceUID"):
        raise EchoDataError(source_path, "the cine has no Study / SOP Instance UID for the SEG to reference")
    frames = int(source.get("NumberOfFrames", 1) or 1)
    if masks.shape != (frames, int(source.Rows), int(source.Columns)):
        raise EchoDataError(source_path, f"mask shape {masks.shape} does not match the cine "
                                         f"({frames}, {source.Rows}, {source.Columns})")
    kept = [t for t in range(frames) if masks[t].any()]
    if not kept:
        raise EchoDataError(source_path, "the wall mask is empty in every frame: no DICOM SEG written")
    now = datetime.datetime.now()
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = SEG_STORAGE
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = SEG_STORAGE
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    _set_patient_and_study(ds, source, patient)
    ds.Modality = "SEG"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = int(series_number)
    ds.SeriesDescription = "LV wall (echo_monai)"
    ds.InstanceNumber = 1
    ds.Manufacturer, ds.ManufacturerModelName = "echo_monai", "echo_study_app"
    ds.DeviceSerialNumber, ds.SoftwareVersions = "none", software_version
    ds.ContentDate, ds.ContentTime = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.ContentLabel, ds.ContentDescription, ds.ContentCreatorName = "LV_WALL", "LV wall segmentation", ""
    ds.SegmentationType = "BINARY"
    ds.LossyImageCompression = "00"
    ds.Rows, ds.Columns, ds.NumberOfFrames = int(source.Rows), int(source.Columns), len(kept)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 1, 0, 0
    ds.SegmentSequence = [hd.seg.SegmentDescription(
        segment_number=1, segment_label=SEG_LABEL, segmented_property_category=ANATOMICAL_STRUCTURE,
        segmented_property_type=MYOCARDIUM, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name="echo_monai LV wall", version=software_version, family=codes.cid7162.ArtificialIntelligence),
    )]
    dim_uid = generate_uid()
    organisation = Dataset()
    organisation.DimensionOrganizationUID = dim_uid
    ds.DimensionOrganizationSequence = [organisation]
    index = []
    for pointer, group, label in ((0x0062000B, 0x0062000A, "Segment number"),
                                  (0x00209128, 0x00209111, "Temporal position (source frame number)")):
        item = Dataset()
        item.DimensionOrganizationUID = dim_uid
        item.DimensionIndexPointer, item.FunctionalGroupPointer, item.DimensionDescriptionLabel = pointer, group, label
        index.append(item)
    ds.DimensionIndexSequence = index
    derivation_code = codes.DCM.Segmentation
    purpose = codes.cid7202.SourceImageForImageProcessingOperation
    per_frame = []
    for t in kept:
        ref = Dataset()
        ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = source.SOPClassUID, source.SOPInstanceUID
        ref.ReferencedFrameNumber = t + 1
        ref.PurposeOfReferenceCodeSequence = [hd.sr.CodedConcept(purpose.value, purpose.scheme_designator,
                                                                  purpose.meaning)]
        derivation = Dataset()
        derivation.DerivationCodeSequence = [hd.sr.CodedConcept(derivation_code.value,
                                                                 derivation_code.scheme_designator,
                                                                 derivation_code.meaning)]
        derivation.SourceImageSequence = [ref]
        content = Dataset()
        content.DimensionIndexValues = [1, t + 1]
        content.TemporalPositionIndex = t + 1
        segment = Dataset()
        segment.ReferencedSegmentNumber = 1
        frame = Dataset()
        frame.DerivationImageSequence = [derivation]
        frame.FrameContentSequence = [content]
        frame.SegmentIdentificationSequence = [segment]
        per_frame.append(frame)
    ds.PerFrameFunctionalGroupsSequence = per_frame
    ds.SharedFunctionalGroupsSequence = [Dataset()]
    instance = Dataset()
    instance.ReferencedSOPClassUID, instance.ReferencedSOPInstanceUID = source.SOPClassUID, source.SOPInstanceUID
    series = Dataset()
    series.SeriesInstanceUID = source.SeriesInstanceUID
    series.ReferencedInstanceSequence = [instance]
    ds.ReferencedSeriesSequence = [series]
    ds.PixelData = pack_bits(np.asarray(masks[kept], dtype=np.uint8))
    return atomic_write_with(Path(out_path), lambda p: ds.save_as(p, enforce_file_format=True))


def write_overlay_png(frames: np.ndarray, masks: np.ndarray, frame: int, out_path: str | os.PathLike) -> Path:
    """PNG of one grey frame (values in [0, 1]) with the wall mask tinted red."""
    grey = np.clip(np.asarray(frames[frame], dtype=np.float32) * 255.0, 0, 255).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=2).astype(np.float32)
    m = np.asarray(masks[frame], dtype=bool)
    rgb[m] = 0.5 * rgb[m] + 0.5 * np.array([255.0, 40.0, 40.0])
    image = Image.fromarray(rgb.astype(np.uint8))
    return atomic_write_with(Path(out_path), lambda p: image.save(p, format="PNG"))


def _finite(v: float) -> float | None:
    return round(float(v), 4) if np.isfinite(v) else None


def _segment_rows(res: RegionalResult) -> list[dict[str, Any]]:
    if res.motion is None or res.assessment is None:
        return []
    m, a = res.motion, res.assessment
    return [{"segment": k + 1, "name": SEGMENT_NAMES[k], "aha": AHA_SEGMENTS[k],
             "peak_displacement_mm": _finite(m.peak_displacement_mm[k]), "thickening_pct": _finite(m.thickening_pct[k]),
             "shortening_pct": _finite(m.shortening_pct[k]), "score": _finite(a.score[k]),
             "assessed": bool(a.assessed[k]), "abnormal": bool(a.abnormal[k])} for k in range(6)]


def study_folder_name(study_uid: str) -> str:
    """A stable folder name for a study that does not repeat its UID."""
    return "study_" + hashlib.sha1(study_uid.encode()).hexdigest()[:10]


def write_study_report(out_dir: Path, series_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Write ``report.json`` (everything) and ``report.csv`` (one row per cine) and ``wall_segments.csv``."""
    report = {"n_cines": len(series_rows), "series": series_rows}
    atomic_write_with(out_dir / "report.json", lambda p: p.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8"))
    header = ["file", "series_uid", "series_number", "view", "probability", "n_windows", "ecg_source",
              "wall", "ed_frame", "es_frame", "timing", "mi", "regional_problem", "seg_file", "overlay_file"]
    rows = []
    for r in series_rows:
        w = r.get("wall") or {}
        rows.append([r["file"], r["series_uid"], r["series_number"], r["view"], round(r["probability"], 4),
                     r["n_windows"], r["ecg_source"], "yes" if w else "no", w.get("ed_frame", ""), w.get("es_frame", ""),
                     w.get("timing", ""), w.get("mi", ""), w.get("problem", r.get("error", "")),
                     w.get("seg_file", ""), w.get("overlay_file", "")])
    atomic_write_with(out_dir / "report.csv", lambda p: p.write_text(_csv_text(header, rows), encoding="utf-8"))
    seg_header = ["file", "series_uid", "segment", "name", "aha", "peak_displacement_mm", "thickening_pct",
                  "shortening_pct", "score", "assessed", "abnormal"]
    seg_rows = [[r["file"], r["series_uid"], *(s[k] for k in seg_header[2:])]
                for r in series_rows for s in (r.get("wall") or {}).get("segments", [])]
    atomic_write_with(out_dir / "wall_segments.csv", lambda p: p.write_text(_csv_text(seg_header, seg_rows), encoding="utf-8"))
    return report


def classify_series(cines: Sequence[CineSeries], root: Path, view_model: ExportedModel) -> list[dict[str, Any]]:
    """One report row per cine with its view (a cine that cannot be classified gets ``error``).

    ``row["_gating"]`` holds the cine's cardiac timing for :func:`segment_series`; keys starting with
    ``_`` stay out of the reports.
    """
    rows = []
    for n, cine in enumerate(cines):
        row: dict[str, Any] = {"index": n, "file": cine.path.relative_to(root).as_posix(), "path": str(cine.path),
                               "study": study_folder_name(cine.study_uid), "series_uid": cine.series_uid,
                               "sop_instance_uid": cine.sop_instance_uid, "series_number": cine.series_number,
                               "n_frames": cine.n_frames}
        try:
            view = classify_view(cine.path, view_model)
        except EchoDataError as exc:
            row.update(view="", probability=float("nan"), n_windows=0, ecg_source="none", error=exc.problem)
        else:
            row.update(view=view.view, probability=view.probability, probabilities=view.probabilities,
                       n_windows=view.n_windows, ecg_source=view.ecg_source, gating_method=view.gating_method,
                       _gating=view.gating)
        rows.append(row)
    return rows


def segment_series(rows: list[dict[str, Any]], wall_model: ExportedModel, output_dir: str | os.PathLike,
                   wall_views: Sequence[str] = ("A4C",), seg_patient: SegPatient = "deidentified",
                   ) -> list[dict[str, Any]]:
    """Add ``wall`` (regional analysis, SEG and overlay files) to the rows of cines whose view is in ``wall_views``.

    A row's ``_gating`` (from :func:`classify_series`) is reused; ``seg_patient`` is what the DICOM SEG
    keeps of the patient and study (:data:`SEG_PATIENT_MODES`).
    """
    if seg_patient not in SEG_PATIENT_MODES:
        raise ValueError(f"seg_patient {seg_patient!r}: choose from {SEG_PATIENT_MODES}")
    out = Path(output_dir)
    for row in rows:
        if row.get("view") not in wall_views:
            continue
        folder = out / row["study"]
        stem = f"series_{row['index']:03d}"
        try:
            wall = segment_wall(row["path"], wall_model, gating=row.get("_gating"))
            seg = write_wall_seg(row["path"], wall.masks, folder / "seg" / f"{stem}_lv_wall_seg.dcm",
                                 series_number=900 + row["index"], patient=seg_patient)
        except EchoDataError as exc:
            row["wall"] = {"problem": exc.problem}
            continue
        res = wall.regional
        per_frame = wall.masks.reshape(len(wall.masks), -1).sum(axis=1)
        shown = res.ed_frame if res.ed_frame >= 0 else int(np.argmax(per_frame))
        png = write_overlay_png(wall.frames, wall.masks, shown, folder / "overlays" / f"{stem}_wall.png")
        row["wall"] = {"ed_frame": res.ed_frame, "es_frame": res.es_frame, "timing": res.timing,
                       "mi": None if res.assessment is None else bool(res.assessment.mi), "problem": res.problem,
                       "spacing_mm": wall.spacing_mm, "units": "mm" if wall.spacing_mm is not None else "pixels",
                       "wall_frames": int((per_frame > 0).sum()), "segments": _segment_rows(res),
                       "seg_file": seg.relative_to(folder).as_posix(), "overlay_file": png.relative_to(folder).as_posix()}
    return rows


def write_reports(output_dir: str | os.PathLike, rows: Sequence[dict[str, Any]],
                  skipped: Sequence[tuple[str, str]] = ()) -> dict[str, dict[str, Any]]:
    """``skipped.csv`` and, per study, ``report.json`` / ``report.csv`` / ``wall_segments.csv``."""
    out = Path(output_dir)
    atomic_write_with(out / "skipped.csv", lambda p: p.write_text(_csv_text(["file", "reason"], skipped), encoding="utf-8"))
    by_study: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_study.setdefault(row["study"], []).append(
            {k: v for k, v in row.items() if k not in ("path", "study") and not k.startswith("_")})
    return {name: write_study_report(out / name, study_rows) for name, study_rows in by_study.items()}


def run_study(input_dir: str | os.PathLike, output_dir: str | os.PathLike, view_model: ExportedModel,
              wall_model: ExportedModel | None, wall_views: Sequence[str] = ("A4C",),
              seg_patient: SegPatient = "deidentified") -> dict[str, dict[str, Any]]:
    """The whole pipeline on a DICOM folder; one report folder per study under ``output_dir``.

    ``seg_patient``: what the DICOM SEGs keep of the patient and study (:data:`SEG_PATIENT_MODES`).

    Returns:
        study folder name -> the study's report (as written to its ``report.json``).
    """
    root = Path(input_dir)
    cines, skipped = find_cine_series(root)
    rows = classify_series(cines, root, view_model)
    if wall_model is not None:
        segment_series(rows, wall_model, output_dir, wall_views, seg_patient)
    return write_reports(output_dir, rows, skipped)
