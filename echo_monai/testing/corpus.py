"""A corpus of broken and hostile inputs, generated from valid files (never hand-made binaries).

Each case starts from a file the project writes correctly (:func:`echo_monai.io.write_echo_dicom`,
nibabel, OpenCV via :func:`echo_monai.io.write_video`, the synthetic HMC-QU export) and breaks exactly
one thing, so that a test can check that readers, transforms and data scripts answer with a clear
:class:`~echo_monai.errors.EchoDataError` naming the file and the problem, and that batch scripts skip
the file, say why, and go on with the rest.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from pydicom.encaps import encapsulate, generate_frames

from echo_monai.io.dicom_write import write_echo_dicom
from echo_monai.io.types import EcgSignal

__all__ = ["BadCase", "copy_cines_into_view_tree", "make_bad_corpus", "valid_cine_frames", "write_valid_cine"]

#: Frames of the valid base cine: enough for two beats at 75 bpm, small enough for fast tests.
BASE_FRAMES, BASE_SIZE, BASE_FRAME_MS = 40, (64, 80), 40.0
_WHEN = dt.datetime(2020, 1, 2, 3, 4, 5)
_UID_ROOT = "1.2.826.0.1.3680043.10.1389."  # fixed UIDs: the corpus is the same bytes on every run


@dataclass(frozen=True)
class BadCase:
    """One broken input.

    Attributes:
        name: short identifier, e.g. ``"truncated_dicom"``.
        path: the broken file (or folder, for dataset layouts).
        kind: ``"cine"`` (DICOM/AVI/NIfTI read as a cine), ``"datalist"``, ``"hmcqu_mask"``,
            ``"camus"`` (a recording inside the CAMUS layout under ``root``).
        problem: what is wrong, in words.
        expect: lower-case words of which at least one must appear in the error message.
        readable: the file is valid as a file (e.g. a single frame) and a reader may return it; what
            must fail is the step that needs more (gating a cycle).
        root: for cases inside a dataset layout, the layout's root folder.
        extra: case-specific facts for the tests (e.g. the escaping entries of a datalist).
    """

    name: str
    path: Path
    kind: str
    problem: str
    expect: tuple[str, ...]
    readable: bool = False
    root: Path | None = None
    extra: dict = field(default_factory=dict)


def valid_cine_frames(n_frames: int = BASE_FRAMES, size: tuple[int, int] = BASE_SIZE,
                      seed: int = 0) -> np.ndarray:
    """(T, H, W) uint8 frames of a beating bright ring on speckle: real JPEG content, not flat grey."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot(yy - h / 2, xx - w / 2)
    speckle = rng.gamma(2.0, 20.0, size=(h, w)).astype(np.float32)
    frames = np.empty((n_frames, h, w), dtype=np.uint8)
    for t in range(n_frames):
        radius = min(h, w) * (0.25 + 0.06 * np.cos(2 * np.pi * t * BASE_FRAME_MS / 800.0))
        ring = 150.0 * np.exp(-((r - radius) / 3.0) ** 2)
        frames[t] = np.clip(speckle * 0.6 + ring, 0, 255).astype(np.uint8)
    return frames


def _ecg(duration_ms: float, fs: float = 500.0) -> EcgSignal:
    """One lead in mV: QRS and T waves every 800 ms (75 bpm), baseline wander and a little noise (a
    noise-free trace sits exactly on its baseline, which quality checks rightly call clipped)."""
    t = np.arange(int(duration_ms * fs / 1000.0) + 1) / fs
    x = 0.08 * np.sin(2 * np.pi * 0.25 * t) + np.random.default_rng(7).normal(0.0, 0.015, t.size)
    for b in np.arange(0.2, t[-1], 0.8):
        x += 1.2 * np.exp(-((t - b) / 0.012) ** 2) + 0.25 * np.exp(-((t - b - 0.3) / 0.05) ** 2)
    return EcgSignal(signal=x.astype(np.float32)[None], fs=fs, t0_ms=0.0, channel_names=["II"])


def write_valid_cine(path: str | os.PathLike, *, n_frames: int = BASE_FRAMES, size: tuple[int, int] = BASE_SIZE,
                     compression: str = "jpeg_baseline", ecg: bool = True, tag: int = 1) -> Path:
    """A valid small echo cine (JPEG baseline by default) with an ECG waveform and fixed UIDs."""
    times = np.arange(n_frames) * BASE_FRAME_MS
    return write_echo_dicom(
        path, valid_cine_frames(n_frames, size), times, spacing_mm=(0.3, 0.3), compression=compression,
        ecg=_ecg(float(times[-1]) + BASE_FRAME_MS) if ecg else None, heart_rate_bpm=75,
        study_uid=f"{_UID_ROOT}1.{tag}", series_uid=f"{_UID_ROOT}2.{tag}", synchronization_uid=f"{_UID_ROOT}3.{tag}",
        acquisition_datetime=_WHEN,
        extra_tags={"SOPInstanceUID": f"{_UID_ROOT}4.{tag}", "FrameOfReferenceUID": f"{_UID_ROOT}5.{tag}"},
    )


def _resave(ds: pydicom.Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=False)
    return path


def _nifti(path: Path, data: np.ndarray) -> Path:
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))
    return path


def _dicom_cases(out: Path) -> list[BadCase]:
    base = write_valid_cine(out / "valid_base.dcm")
    raw = base.read_bytes()
    cases = []

    p = out / "truncated.dcm"
    p.write_bytes(raw[: int(len(raw) * 0.55)])
    cases.append(BadCase("truncated_dicom", p, "cine", "the file is cut at 55 % of its bytes (inside the pixel data)",
                         ("truncated", "corrupt")))

    ds = pydicom.dcmread(base)
    del ds.PixelData
    cases.append(BadCase("no_pixel_data", _resave(ds, out / "no_pixel_data.dcm"), "cine",
                         "an image header without a PixelData element", ("pixel data",)))

    ds = pydicom.dcmread(base)
    ds.NumberOfFrames = BASE_FRAMES + 7
    cases.append(BadCase("wrong_number_of_frames", _resave(ds, out / "wrong_number_of_frames.dcm"), "cine",
                         f"NumberOfFrames says {BASE_FRAMES + 7}, the pixel data holds {BASE_FRAMES}",
                         ("numberofframes", "frames")))

    ds = pydicom.dcmread(base)
    frames = list(generate_frames(ds.PixelData, number_of_frames=BASE_FRAMES))
    mid = BASE_FRAMES // 2
    frames[mid] = frames[mid][: len(frames[mid]) // 3]  # header and a third of the scan: no EOI
    ds.PixelData = encapsulate(frames, has_bot=True)
    cases.append(BadCase("corrupt_jpeg_frame", _resave(ds, out / "corrupt_jpeg_frame.dcm"), "cine",
                         f"JPEG frame {mid} of {BASE_FRAMES} is cut to a third", ("jpeg", "decod", "corrupt", "truncated")))

    ds = pydicom.dcmread(base)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2 MP@ML, not an image codec we read
    cases.append(BadCase("unsupported_transfer_syntax", _resave(ds, out / "unsupported_transfer_syntax.dcm"),
                         "cine", "transfer syntax MPEG2 Main Profile (video), no decoder", ("transfer syntax",)))

    ds = pydicom.dcmread(base)
    ds.file_meta.TransferSyntaxUID = "1.2.3.4.5.6.7"  # not a DICOM transfer syntax at all
    cases.append(BadCase("unknown_transfer_syntax", _resave(ds, out / "unknown_transfer_syntax.dcm"),
                         "cine", "a private, unknown transfer syntax UID", ("transfer syntax",)))

    single = write_valid_cine(out / "single_frame.dcm", n_frames=1, ecg=False, tag=2)
    cases.append(BadCase("single_frame", single, "cine", "a single-frame image: nothing to gate",
                         ("frame", "cycle", "too short", "beat"), readable=True))

    ds = pydicom.dcmread(base)
    ds.PixelData = encapsulate(list(generate_frames(ds.PixelData, number_of_frames=BASE_FRAMES))[:3],
                               has_bot=True)
    ds.NumberOfFrames = 10_000
    del ds.WaveformSequence  # would be longer than the three frames; not the point of this case
    cases.append(BadCase("huge_frame_count_jpeg", _resave(ds, out / "huge_frame_count_jpeg.dcm"), "cine",
                         "NumberOfFrames 10000 with three JPEG frames of data: must fail before allocating",
                         ("numberofframes", "frames", "timevector")))

    native = write_valid_cine(out / ".native_tmp.dcm", n_frames=3, compression="none", ecg=False, tag=3)
    ds = pydicom.dcmread(native)
    native.unlink()
    ds.NumberOfFrames = 10_000
    cases.append(BadCase("huge_frame_count_native", _resave(ds, out / "huge_frame_count_native.dcm"), "cine",
                         "NumberOfFrames 10000 with three uncompressed frames of data",
                         ("numberofframes", "frames", "pixel data", "truncated", "length")))

    ds = pydicom.dcmread(base)
    ds.WaveformSequence[0].SamplingFrequency = 0
    cases.append(BadCase("ecg_zero_sampling_frequency", _resave(ds, out / "ecg_zero_fs.dcm"), "cine",
                         "the ECG waveform's SamplingFrequency is 0", ("samplingfrequency", "sampling")))

    p = out / "empty.dcm"
    p.write_bytes(b"")
    cases.append(BadCase("empty_file", p, "cine", "a zero-byte .dcm file", ("dicom", "empty", "truncated", "corrupt")))
    base.unlink()
    return cases


def _other_cine_cases(out: Path) -> list[BadCase]:
    rng = np.random.default_rng(1)
    cases = []
    p = out / "not_a_video.avi"
    p.write_bytes(b"RIFF\x00\x00\x00\x00AVI LIST" + rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    cases.append(BadCase("avi_not_a_video", p, "cine", "an .avi that is a RIFF header followed by noise",
                         ("video",)))

    p = out / "text_as_video.mp4"
    p.write_text("this is a clinic letter, not a video\n" * 20)
    cases.append(BadCase("mp4_text", p, "cine", "an .mp4 that is a text file", ("video",)))

    data = rng.uniform(0, 255, size=(80, 64, 1, 12)).astype(np.float32)  # (x, y, 1, t)
    data[10, 10, 0, 3] = np.nan
    data[20, 30, 0, 7] = np.inf
    cases.append(BadCase("nifti_nan_inf", _nifti(out / "nan_inf.nii.gz", data), "cine",
                         "a float NIfTI cine with one NaN and one inf voxel", ("nan", "inf")))

    p = out / "truncated.nii.gz"
    good = _nifti(out / ".good.nii.gz", rng.integers(0, 255, size=(80, 64, 1, 12), dtype=np.uint8))
    p.write_bytes(good.read_bytes()[:600])
    good.unlink()
    cases.append(BadCase("nifti_truncated", p, "cine", "a gzip NIfTI cut after 600 bytes",
                         ("nifti", "truncated", "readable")))
    return cases


def _datalist_cases(out: Path) -> list[BadCase]:
    data_root = out / "datalists"
    data_root.mkdir()
    write_valid_cine(data_root / "ok.dcm", tag=4)
    empty = data_root / "empty_datalist.json"
    empty.write_text(json.dumps({"training": [], "validation": [], "test": []}))
    escaping = data_root / "escaping_datalist.json"
    escaping.write_text(json.dumps({
        "training": [{"image": "ok.dcm", "view": "A4C", "case": "p1"},
                     {"image": "../../etc/passwd", "view": "A4C", "case": "p2"},
                     {"image": "/etc/passwd", "view": "A4C", "case": "p3"}],
        "validation": [{"image": "ok.dcm", "view": "A4C", "case": "p1"}],
        "test": [{"image": "ok.dcm", "view": "A4C", "case": "p1"}],
    }))
    return [
        BadCase("empty_datalist", empty, "datalist", "every split of the datalist is empty",
                ("no clips", "empty", "no item", "expected items"), root=data_root),
        BadCase("escaping_datalist", escaping, "datalist",
                "datalist entries '../../etc/passwd' and '/etc/passwd' point outside the data root",
                ("outside", "leaves", "escape", "not found", "not a dicom"), root=data_root,
                extra={"escaping": ["../../etc/passwd", "/etc/passwd"]}),
    ]


def _hmcqu_cases(out: Path) -> list[BadCase]:
    import scipy.io

    from echo_monai.synthetic.hmcqu import export_hmcqu

    root = out / "hmcqu"
    records = export_hmcqu(root, n_recordings=3, n_frames=30, size=(224, 288), seed=0, mask_fraction=1.0)
    wrong_shape, bad_labels = Path(records[1]["mask"]), Path(records[2]["mask"])
    mask = scipy.io.loadmat(wrong_shape)["predicted"]
    scipy.io.savemat(wrong_shape, {"predicted": mask[:-3]}, do_compression=True)
    mask = scipy.io.loadmat(bad_labels)["predicted"].astype(np.uint8)
    mask[mask == 1] = 2
    mask[0, :4, :4] = 7
    scipy.io.savemat(bad_labels, {"predicted": mask}, do_compression=True)
    return [
        BadCase("hmcqu_mask_wrong_shape", wrong_shape, "hmcqu_mask",
                "an HMC-QU wall mask with 3 frames fewer than the annotated cycle", ("frames", "shape"), root=root),
        BadCase("hmcqu_mask_bad_labels", bad_labels, "hmcqu_mask", "an HMC-QU wall mask with values 2 and 7, not 0/1",
                ("binary", "0/1", "values", "labels"), root=root),
    ]


def _camus_cases(out: Path) -> list[BadCase]:
    root = out / "camus" / "database_nifti"
    rng = np.random.default_rng(2)
    h, w = 48, 40

    def patient(n: int, image: np.ndarray, gt: np.ndarray) -> tuple[Path, Path]:
        folder = root / f"patient{n:04d}"
        folder.mkdir(parents=True)
        img = _nifti(folder / f"patient{n:04d}_4CH_ED.nii.gz", image.T.copy())  # (x, y) as SimpleITK writes
        lab = _nifti(folder / f"patient{n:04d}_4CH_ED_gt.nii.gz", gt.T.copy())
        return img, lab

    gt = np.zeros((h, w), dtype=np.uint8)
    gt[10:38, 8:32] = 2
    gt[14:34, 12:28] = 1
    image = rng.integers(0, 255, size=(h, w), dtype=np.uint8)
    patient(1, image, gt)
    nan_image = image.astype(np.float32)
    nan_image[5, 5] = np.nan
    nan_img, _ = patient(2, nan_image, gt)
    _, wrong = patient(3, image, gt[:40, :36].copy())
    bad = gt.copy()
    bad[0:3, 0:3] = 9
    _, bad_labels = patient(4, image, bad)
    return [
        BadCase("camus_nan_image", nan_img, "camus", "a CAMUS image with a NaN pixel", ("nan",), root=root),
        BadCase("camus_mask_wrong_shape", wrong, "camus", "a CAMUS ground truth of 40x36 for a 48x40 image",
                ("shape",), root=root),
        BadCase("camus_mask_bad_labels", bad_labels, "camus", "a CAMUS ground truth with label 9",
                ("labels", "0..3"), root=root),
    ]


def make_bad_corpus(out_dir: str | os.PathLike) -> list[BadCase]:
    """Write the bad-input corpus into ``out_dir`` (a new or empty folder) and return its cases.

    Layout: ``cines/`` (broken DICOM, AVI/MP4 and NIfTI cines), ``datalists/`` (a data root with an empty
    datalist and one whose entries escape the root), ``hmcqu/`` (HMC-QU layout with two broken masks),
    ``camus/database_nifti/`` (CAMUS layout with a NaN image and two broken ground truths), and
    ``corpus.json`` describing every case. The bytes are the same on every run, except the HMC-QU
    spreadsheet and ``.mat`` masks, whose formats record when they were written.

    Raises:
        FileExistsError: ``out_dir`` exists and is not empty.
    """
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; the corpus is written into a new or empty folder")
    cines = out / "cines"
    cines.mkdir(parents=True)
    cases = _dicom_cases(cines) + _other_cine_cases(cines) + _datalist_cases(out) + _hmcqu_cases(out)
    cases += _camus_cases(out)
    manifest = [{**asdict(c), "path": os.path.relpath(c.path, out),
                 "root": None if c.root is None else os.path.relpath(c.root, out)} for c in cases]
    (out / "corpus.json").write_text(json.dumps(manifest, indent=1))
    return cases


def copy_cines_into_view_tree(cases: list[BadCase], root: str | os.PathLike, view: str = "A4C") -> Path:
    """Copy the corpus cines into ``root/<view>/`` (the folder tree ``prepare_view_dataset`` reads)."""
    folder = Path(root) / view
    folder.mkdir(parents=True, exist_ok=True)
    for case in cases:
        if case.kind == "cine":
            shutil.copy2(case.path, folder / case.path.name)
    return folder
