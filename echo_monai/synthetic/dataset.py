"""A synthetic echo dataset on disk: DICOM cines, truth files, a MONAI datalist, a summary and a figure.

Layout written by :func:`make_dataset` into ``out_dir``::

    dicom/<case>/<clip>.dcm         Ultrasound Multi-frame DICOM (JPEG baseline, native, RLE, lossless, palette)
    dicom/<case>/<clip>_ecg.dcm     separate ECG waveform object (some ``waveform`` clips)
    truth/<clip>.npz                frame times, R / T-end times, ED / ES frames, anatomy labels, A4C wall truth
    datalist.json                   {"training": [...], "validation": [...], "test": [...]}, split by patient
    fake_identifiers.json           the fake patient identifiers written into the DICOM files, per case
    README.md                       counts per view / split / ECG form / compression, seed and settings
    figures/views_ed_es.png         one clip per view: ED and ES frames and the ECG with ED / ES marks

Everything is a pure function of the seed: pixel data, tags and UIDs (derived from the seed, not drawn
from the clock). Cases are pseudonymous keys (``case0003``), never the fake PatientID.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.uid import generate_uid

from echo_monai.errors import EchoDataError
from echo_monai.io.dicom_write import write_ecg_waveform_dicom, write_echo_dicom
from echo_monai.io.types import EcgSignal
from echo_monai.synthetic.anatomy import ANATOMY_LABELS, HeartParams, random_heart
from echo_monai.synthetic.generator import SyntheticClip, random_settings, render_clip
from echo_monai.synthetic.identity import fake_patient
from echo_monai.utils.files import atomic_write
from echo_monai.views import VIEW_NAMES, view_index

__all__ = ["MARKER_FILE", "choose_storage", "make_dataset", "patient_heart", "write_clip", "write_truth"]

#: File that marks a folder as created by :func:`make_dataset` (it may then be written into again).
MARKER_FILE = ".echo_monai_synthetic"
_SPLITS = ("training", "validation", "test")


def _uid(seed: int, *parts: object) -> str:
    """A DICOM UID that is a pure function of the seed and ``parts``."""
    return generate_uid(entropy_srcs=["echo_monai.synthetic", str(seed), *map(str, parts)])


def patient_heart(seed: int, patient: int) -> HeartParams:
    """The heart of synthetic patient ``patient`` (about half have 1-3 infarcted A4C segments)."""
    return random_heart(np.random.default_rng([seed, 7, patient]), infarct_prob=0.5)


def choose_storage(rng: np.random.Generator, colour: bool) -> tuple[str, str]:
    """(compression, photometric) as found in exports: mostly JPEG baseline, some native, a few palette."""
    if colour:
        return ("jpeg_baseline", "YBR_FULL_422") if rng.random() < 0.65 else ("none", "RGB")
    u = rng.random()
    if u < 0.45:
        return "jpeg_baseline", "MONOCHROME2"
    if u < 0.80:
        return "none", "MONOCHROME2"
    if u < 0.87:
        return "none", "PALETTE COLOR"
    if u < 0.94:
        return "rle", "MONOCHROME2"
    return "jpeg_lossless", "MONOCHROME2"


def _palette(rng: np.random.Generator) -> np.ndarray:
    """A grey ramp with a faint vendor tint (sepia or blue), as palette-colour echo exports use."""
    ramp = np.arange(256, dtype=np.float64)
    tint = np.array([1.0, 0.93, 0.8]) if rng.random() < 0.5 else np.array([0.85, 0.93, 1.0])
    return np.clip(ramp[:, None] * tint[None, :], 0, 255).astype(np.uint8)


def write_clip(clip: SyntheticClip, path: Path, *, seed: int, case: str, clip_id: str, patient: dict[str, str],
               rng: np.random.Generator, study_time: dt.datetime, storage: tuple[str, str] | None = None,
               separate_ecg: bool | None = None) -> dict:
    """Write ``clip`` as DICOM (plus a separate ECG object for some waveform clips); returns what was written.

    ``storage`` (compression, photometric) and ``separate_ecg`` override the random choices.
    """
    colour = clip.frames.ndim == 4
    compression, photometric = choose_storage(rng, colour)
    if storage is not None:
        compression, photometric = storage
    frames = clip.frames
    palette = None
    if photometric == "PALETTE COLOR":
        palette = _palette(rng)
    ecg_signal = EcgSignal(signal=clip.ecg.signal[None, :].astype(np.float32), fs=float(clip.ecg.fs),
                           t0_ms=float(clip.ecg_t0_ms), source="synthetic", channel_names=["II"])
    form = clip.settings.ecg_form
    draw_separate = rng.random() < 0.3
    separate_ecg = form == "waveform" and (draw_separate if separate_ecg is None else separate_ecg)
    r_in = clip.r_times_ms[(clip.r_times_ms >= 0) & (clip.r_times_ms <= clip.frame_times_ms[-1])]
    with_rwave = form == "waveform" and rng.random() < 0.5
    extra = [r for r in (clip.tissue_region, clip.trace_region) if r is not None]
    when = study_time + dt.timedelta(seconds=int(rng.integers(0, 1800)))
    sync_uid = _uid(seed, case, clip_id, "sync")
    mean_hr = 60000.0 / float(np.mean(np.diff(clip.r_times_ms))) if clip.r_times_ms.size > 1 else None
    write_echo_dicom(
        path, frames, clip.frame_times_ms, spacing_mm=None if clip.tissue_region else clip.spacing_mm,
        scan_region=None if clip.tissue_region else clip.scan_region, extra_regions=extra, compression=compression, photometric=photometric, palette=palette,
        ecg=ecg_signal if form == "waveform" and not separate_ecg else None,
        r_wave_times_ms=r_in if with_rwave else None, patient=patient,
        study_uid=_uid(seed, case, "study"), series_uid=_uid(seed, case, clip_id, "series"),
        heart_rate_bpm=mean_hr if form != "none" else None, acquisition_datetime=when,
        synchronization_uid=sync_uid,
        extra_tags={"SOPInstanceUID": _uid(seed, case, clip_id, "sop"),
                    "FrameOfReferenceUID": _uid(seed, case, clip_id, "for"),
                    "Manufacturer": "echo_monai synthetic", "ManufacturerModelName": "echo-make-synthetic",
                    "StudyID": case[-4:], "SeriesNumber": int(rng.integers(1, 60)),
                    "StudyDescription": "Synthetic TTE"},
    )
    ecg_path = None
    if separate_ecg:
        ecg_path = path.with_name(path.stem + "_ecg.dcm")
        write_ecg_waveform_dicom(ecg_path, ecg_signal, path)
        _fix_uids(ecg_path, _uid(seed, case, clip_id, "ecg-sop"), _uid(seed, case, clip_id, "ecg-series"))
    return {"compression": compression, "photometric": photometric,
            "ecg_file": ecg_path, "r_wave_time_vector": with_rwave}


def _fix_uids(path: Path, sop_uid: str, series_uid: str) -> None:
    """Give a separately written ECG object seed-derived UIDs (the writer draws fresh ones)."""
    ds = dcmread(path)
    ds.SOPInstanceUID = sop_uid
    ds.SeriesInstanceUID = series_uid
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "wb") as fh:
        ds.save_as(fh, enforce_file_format=True)
    os.replace(tmp, path)


def write_truth(clip: SyntheticClip, path: Path) -> Path:
    """Save the clip's truth as a compressed ``.npz`` (atomically); keys are listed in the module doc."""
    arrays: dict[str, np.ndarray] = {
        "frame_times_ms": clip.frame_times_ms,
        "r_times_ms": clip.r_times_ms,
        "t_end_times_ms": clip.t_end_times_ms,
        "ed_frames": clip.ed_frames,
        "es_frames": clip.es_frames,
        "view_index": np.int64(clip.view_index),
        "heart_rate_bpm": np.float64(60000.0 / np.mean(np.diff(clip.r_times_ms))),
        "beat_types": np.asarray(clip.ecg.beat_types).astype("U1"),
        "anatomy": clip.anatomy,
        "sector_mask": clip.sector_mask,
        "spacing_mm": np.asarray(clip.spacing_mm, dtype=np.float64),
        "scan_region": np.asarray(clip.scan_region, dtype=np.int64),
        "ecg_mv": clip.ecg.signal.astype(np.float32),
        "ecg_fs": np.float64(clip.ecg.fs),
        "ecg_t0_ms": np.float64(clip.ecg_t0_ms),
        "contraction": clip.contraction,
        "infarcted": clip.infarcted,
    }
    if clip.wall_mask is not None:
        arrays["wall_mask"] = clip.wall_mask
        arrays["segments"] = clip.segments
    if clip.trace_region is not None:
        r = clip.trace_region
        arrays["trace_region"] = np.array([r.x0, r.y0, r.x1, r.y1], dtype=np.int64)
        arrays["trace_seconds_per_pixel"] = np.float64(r.delta_x)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "wb") as fh:
        fh.write(buf.getvalue())
    os.replace(tmp, path)
    return path


@dataclass
class _Job:
    out_dir: str
    seed: int
    view: str
    view_clip: int
    patient: int
    clip_id: str
    n_frames: int
    size: tuple[int, int]
    preview: bool


def _run_job(job: _Job) -> dict:
    rng = np.random.default_rng([job.seed, 11, view_index(job.view), job.view_clip])
    case = f"case{job.patient:04d}"
    heart = patient_heart(job.seed, job.patient)
    settings = random_settings(job.view, rng, n_frames=job.n_frames, size=job.size, heart=heart)
    clip = render_clip(settings, heart)
    out = Path(job.out_dir)
    dcm_rel = Path("dicom") / case / f"{job.clip_id}.dcm"
    truth_rel = Path("truth") / f"{job.clip_id}.npz"
    patient = fake_patient(np.random.default_rng([job.seed, 13, job.patient]), job.patient)
    study_time = dt.datetime(2021, 1, 1, 8, 0) + dt.timedelta(days=int(np.random.default_rng(
        [job.seed, 17, job.patient]).integers(0, 1000)))
    written = write_clip(clip, out / dcm_rel, seed=job.seed, case=case, clip_id=job.clip_id, patient=patient,
                         rng=rng, study_time=study_time)
    write_truth(clip, out / truth_rel)
    item = {"image": dcm_rel.as_posix(), "label": clip.view_index, "view": job.view, "case": case,
            "ecg_form": settings.ecg_form, "compression": written["compression"],
            "photometric": written["photometric"], "truth": truth_rel.as_posix(),
            "frames": int(clip.frames.shape[0]), "fps": round(settings.fps, 2),
            "heart_rate_bpm": round(60000.0 / float(np.mean(np.diff(clip.r_times_ms))), 1)}
    if written["ecg_file"] is not None:
        item["ecg_file"] = Path(written["ecg_file"]).relative_to(out).as_posix()
    if job.view == "A4C":
        item["has_wall_mask"] = True
        item["infarcted"] = [bool(v) for v in clip.infarcted]
    result = {"item": item, "patient": patient, "case": case}
    if job.preview:
        ed = int(clip.ed_frames[0]) if clip.ed_frames.size else 0
        es = int(clip.es_frames[0]) if clip.es_frames.size else int(np.argmax(clip.contraction))
        if not clip.ed_frames.size:
            ed = int(np.argmin(clip.contraction))
        result["preview"] = {"ed": clip.frames[ed], "es": clip.frames[es], "ed_index": ed, "es_index": es,
                             "ecg": clip.ecg.signal, "fs": clip.ecg.fs, "t0_ms": clip.ecg_t0_ms,
                             "frame_times_ms": clip.frame_times_ms, "ed_frames": clip.ed_frames,
                             "es_frames": clip.es_frames, "view": job.view}
    return result


def _prepare_out_dir(out_dir: Path) -> None:
    if out_dir.exists():
        if not out_dir.is_dir():
            raise EchoDataError(out_dir, "the output path exists and is not a folder")
        if any(out_dir.iterdir()) and not (out_dir / MARKER_FILE).exists():
            raise EchoDataError(out_dir, "the output folder is not empty and was not created by make_dataset; "
                                         "choose a new or empty folder (nothing was written)")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER_FILE).write_text("created by echo_monai.synthetic.make_dataset\n")


def _split_patients(n_patients: int, seed: int) -> dict[int, str]:
    order = np.random.default_rng([seed, 19]).permutation(n_patients)
    n_val = max(1, round(0.15 * n_patients)) if n_patients >= 3 else 0
    n_test = max(1, round(0.15 * n_patients)) if n_patients >= 3 else 0
    split = {}
    for rank, p in enumerate(order):
        split[int(p)] = "validation" if rank < n_val else "test" if rank < n_val + n_test else "training"
    return split


def make_dataset(
    out_dir: str | os.PathLike,
    *,
    n_patients: int = 10,
    clips_per_view: int = 4,
    n_frames: int = 48,
    size: int | tuple[int, int] = 256,
    seed: int = 0,
    views: Sequence[str] | None = None,
    workers: int | None = None,
    figure: bool = True,
) -> dict:
    """Write a synthetic echo dataset (layout in the module doc) and return the datalist.

    Args:
        out_dir: a new or empty folder (or one this function created before).
        n_patients: synthetic patients; clips are dealt to them in turn, across views.
        clips_per_view: clips of each view.
        n_frames: frames per clip.
        size: frame size, ``int`` (square) or ``(H, W)``.
        seed: everything (pixels, tags, UIDs, splits) is a function of it.
        views: subset of :data:`~echo_monai.views.VIEW_NAMES` (default all 11).
        workers: processes (default: the CPU count, at most 8); 1 renders in this process.
        figure: also draw ``figures/views_ed_es.png``.

    Raises:
        EchoDataError: ``out_dir`` is a non-empty folder that this function did not create.
        ValueError: unknown view names or non-positive counts.
    """
    out = Path(out_dir)
    views = tuple(VIEW_NAMES if views is None else views)
    for v in views:
        if v not in VIEW_NAMES:
            raise ValueError(f"unknown view {v!r}; expected names from {VIEW_NAMES}")
    if n_patients < 1 or clips_per_view < 1 or n_frames < 2:
        raise ValueError("n_patients and clips_per_view must be >= 1 and n_frames >= 2")
    hw = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
    _prepare_out_dir(out)

    # clip j of view number i goes to patient (i + j * n_views) mod n_patients: every patient gets clips
    pairs = [(v, j, (i + j * len(views)) % n_patients) for i, v in enumerate(views) for j in range(clips_per_view)]
    order = np.random.default_rng([seed, 23]).permutation(len(pairs))  # clip ids do not reveal the view
    jobs = []
    for n, k in enumerate(order):
        v, j, p = pairs[int(k)]
        jobs.append(_Job(str(out), seed, v, j, p, f"clip{n:05d}", n_frames, hw, preview=(j == 0)))
    n_workers = min(len(jobs), workers if workers is not None else min(8, os.cpu_count() or 1))
    if n_workers <= 1:
        results = [_run_job(j) for j in jobs]
    else:
        # fork starts workers in milliseconds on POSIX; elsewhere the platform default (spawn)
        ctx = get_context("fork") if os.name == "posix" else get_context()
        with ProcessPoolExecutor(n_workers, mp_context=ctx) as pool:
            results = list(pool.map(_run_job, jobs, chunksize=1))

    split_of = _split_patients(n_patients, seed)
    datalist: dict[str, list] = {s: [] for s in _SPLITS}
    for res in sorted(results, key=lambda r: r["item"]["image"]):
        patient_idx = int(res["case"][4:])
        datalist[split_of[patient_idx]].append(res["item"])
    atomic_write(out / "datalist.json", json.dumps(datalist, indent=1))
    identifiers = {r["case"]: r["patient"] for r in results}
    atomic_write(out / "fake_identifiers.json", json.dumps(dict(sorted(identifiers.items())), indent=1))
    settings = {"n_patients": n_patients, "clips_per_view": clips_per_view, "n_frames": n_frames,
                "size": list(hw), "seed": seed, "views": list(views)}
    atomic_write(out / "README.md", _summary(datalist, settings))
    if figure:
        previews = [r["preview"] for r in results if "preview" in r]
        previews.sort(key=lambda p: view_index(p["view"]))
        _figure(previews, out / "figures" / "views_ed_es.png")
    return datalist


def _summary(datalist: dict, settings: dict) -> str:
    items = [(s, it) for s in _SPLITS for it in datalist[s]]
    lines = ["# Synthetic echo dataset", "",
             ("Written by `echo_monai.synthetic.make_dataset` (`echo-make-synthetic`). Every file is synthetic; "
             "the patient identifiers in the DICOM files are fake (see `fake_identifiers.json`)."), "",
             "Settings: " + ", ".join(f"`{k}={v}`" for k, v in settings.items()), "",
             f"Clips: {len(items)}, patients: {len({it['case'] for _, it in items})}", "",
             "| view | " + " | ".join(_SPLITS) + " | total |", "|---|" + "---|" * (len(_SPLITS) + 1)]
    for v in VIEW_NAMES:
        counts = [sum(1 for s2, it in items if s2 == s and it["view"] == v) for s in _SPLITS]
        if sum(counts):
            lines.append(f"| {v} | " + " | ".join(map(str, counts)) + f" | {sum(counts)} |")
    for key in ("ecg_form", "compression", "photometric"):
        c = Counter(it[key] for _, it in items)
        lines += ["", f"By {key}: " + ", ".join(f"{k} {n}" for k, n in sorted(c.items()))]
    sep = sum(1 for _, it in items if "ecg_file" in it)
    a4c = [it for _, it in items if it.get("has_wall_mask")]
    lines += ["", f"Separate ECG waveform files: {sep}",
              (f"A4C clips with wall truth: {len(a4c)}, with infarcted segments: "
              f"{sum(1 for it in a4c if any(it['infarcted']))}"),
              "", ("Truth files (`truth/<clip>.npz`): frame_times_ms, r_times_ms, t_end_times_ms, ed_frames, "
              "es_frames, view_index, heart_rate_bpm, anatomy (labels in "
              "`echo_monai.synthetic.anatomy.ANATOMY_LABELS`), sector_mask, ecg_mv/ecg_fs/ecg_t0_ms; A4C also "
              "wall_mask, segments (1..6 = AHA 3, 9, 14, 16, 12, 6), infarcted."), "",
              ("ECG forms: `waveform` (WaveformSequence in the cine, or a separate ECG object named in "
               "`ecg_file`; some also carry RWaveTimeVector), `burned_sweep` / `burned_review` (RGB frames with "
               "the trace in a strip below the sector and an ultrasound region of data type 10), `none`."), "",
              "| anatomy label | structure |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in ANATOMY_LABELS.items()]
    return "\n".join(lines) + "\n"


def _figure(previews: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(previews)
    if n == 0:
        return
    fig, axes = plt.subplots(n, 3, figsize=(11, 2.6 * n), gridspec_kw={"width_ratios": [1, 1, 1.6]})
    axes = np.atleast_2d(axes)
    for row, p in zip(axes, previews):
        for ax, key in zip(row[:2], ("ed", "es")):
            img = p[key]
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255)
            ax.set_title(f"{p['view']} {key.upper()} (frame {p[key + '_index']})", fontsize=8)
            ax.axis("off")
        ax = row[2]
        t = p["t0_ms"] + np.arange(p["ecg"].size) * 1000.0 / p["fs"]
        ft = p["frame_times_ms"]
        sel = (t >= ft[0] - 200) & (t <= ft[-1] + 200)
        ax.plot(t[sel], p["ecg"][sel], color="k", lw=0.7)
        for f in p["ed_frames"]:
            ax.axvline(ft[f], color="tab:red", lw=1)
        for f in p["es_frames"]:
            ax.axvline(ft[f], color="tab:blue", lw=1, ls="--")
        ax.axvspan(ft[0], ft[-1], color="0.9", zorder=-1)
        ax.set_xlabel("ms from first frame (grey: clip; red ED, blue dashed ES)", fontsize=7)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
