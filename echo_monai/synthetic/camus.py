"""Write synthetic A4C / A2C clips in the exact on-disk formats of CAMUS, to test the CAMUS converter.

Source: a dataset written by :func:`echo_monai.synthetic.make_dataset` (its DICOM cines and truth
files). Each synthetic patient with an A4C or A2C clip becomes a CAMUS patient ``patient0001`` ...; its
end-diastolic and end-systolic frames, the half sequence between them, and label maps in CAMUS's
convention (0 background, 1 LV cavity, 2 myocardium, 3 left atrium) taken from the truth ``anatomy``
map, in one of the two layouts CAMUS has shipped:

- ``"nifti"``: ``database_nifti/patientNNNN/patientNNNN_4CH_{ED,ES,half_sequence}[_gt].nii.gz`` and
  ``Info_4CH.cfg``, arrays stored as SimpleITK writes them (x = column first, so nibabel reads
  (W, H[, T])), plus ``database_split/subgroup_{training,validation,testing}.txt``;
- ``"mhd"``: ``training/patientNNNN/patientNNNN_4CH_{ED,ES}[_gt].mhd`` + ``.raw`` (``DimSize = W H 1``)
  and ``patientNNNN_4CH_sequence.mhd`` (the half sequence, without ground truth), ``Info_4CH.cfg``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from echo_monai.io.dicom_read import read_echo_cine
from echo_monai.synthetic.anatomy import ANATOMY_LABELS
from echo_monai.utils.files import atomic_write_with

__all__ = ["CAMUS_FROM_ANATOMY", "write_camus_fixture"]


def _anatomy_id(prefix: str) -> int:
    return next(i for i, name in ANATOMY_LABELS.items() if name.split(" (")[0] == prefix)


#: CAMUS label of each generator anatomy label (everything else is background 0).
CAMUS_FROM_ANATOMY: dict[int, int] = {_anatomy_id("LV cavity"): 1, _anatomy_id("LV wall"): 2, _anatomy_id("LA"): 3}
_VIEW_CODES = {"A4C": "4CH", "A2C": "2CH"}
_SPLIT_FILES = ("subgroup_training.txt", "subgroup_validation.txt", "subgroup_testing.txt")


def _save_nifti(path: Path, array: np.ndarray, spacing_mm: tuple[float, float]) -> None:
    """(H, W) or (T, H, W) -> NIfTI holding (W, H[, T]), as SimpleITK stores CAMUS."""
    data = array.T if array.ndim == 2 else np.transpose(array, (2, 1, 0))
    affine = np.diag([spacing_mm[1], spacing_mm[0], 1.0, 1.0])
    atomic_write_with(path, lambda tmp: nib.save(nib.Nifti1Image(np.ascontiguousarray(data), affine), str(tmp)))


def _save_mhd(path: Path, array: np.ndarray, spacing_mm: tuple[float, float]) -> None:
    """(H, W) or (T, H, W) uint8 -> ``.mhd`` + ``.raw``; single frames as ``DimSize = W H 1`` like CAMUS."""
    arr = array[None] if array.ndim == 2 else array
    t, h, w = arr.shape
    raw = path.with_suffix(".raw")
    header = "\n".join([
        "ObjectType = Image",
        "NDims = 3",
        "BinaryData = True",
        "BinaryDataByteOrderMSB = False",
        "CompressedData = False",
        "TransformMatrix = 1 0 0 0 1 0 0 0 1",
        "Offset = 0 0 0",
        "CenterOfRotation = 0 0 0",
        "AnatomicalOrientation = RAI",
        f"ElementSpacing = {spacing_mm[1]:.6g} {spacing_mm[0]:.6g} 1",
        f"DimSize = {w} {h} {t}",
        "ElementType = MET_UCHAR",
        f"ElementDataFile = {raw.name}",
    ]) + "\n"
    atomic_write_with(raw, lambda tmp: tmp.write_bytes(np.ascontiguousarray(arr, dtype=np.uint8).tobytes()))
    atomic_write_with(path, lambda tmp: tmp.write_text(header))


def _camus_labels(anatomy: np.ndarray) -> np.ndarray:
    lut = np.zeros(256, dtype=np.uint8)
    for src, dst in CAMUS_FROM_ANATOMY.items():
        lut[src] = dst
    return lut[anatomy]


def _ed_es(truth: np.lib.npyio.NpzFile, labels: np.ndarray) -> tuple[int, int]:
    """First end-diastole with an end-systole after it in the clip; else largest / smallest LV cavity."""
    ed_frames = np.asarray(truth["ed_frames"]).ravel().astype(int) if "ed_frames" in truth else np.zeros(0, int)
    es_frames = np.asarray(truth["es_frames"]).ravel().astype(int) if "es_frames" in truth else np.zeros(0, int)
    for ed in sorted(ed_frames):
        later = [es for es in sorted(es_frames) if es > ed]
        if later:
            return int(ed), int(later[0])
    area = (labels == 1).reshape(labels.shape[0], -1).sum(axis=1)
    ed = int(np.argmax(area[:-1]))
    return ed, ed + 1 + int(np.argmin(area[ed + 1 :]))


def write_camus_fixture(
    dataset_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    layout: str = "nifti",
    views: Sequence[str] = ("A4C", "A2C"),
    max_patients: int | None = None,
) -> list[str]:
    """Write a CAMUS-format copy of a synthetic dataset's A4C / A2C clips.

    Args:
        dataset_dir: output folder of :func:`echo_monai.synthetic.make_dataset` (``datalist.json``,
            ``dicom/``, ``truth/``).
        out_dir: new or empty folder for the fixture.
        layout: ``"nifti"`` or ``"mhd"`` (see the module docstring).
        views: which of ``"A4C"`` / ``"A2C"`` to write (the first clip of each per patient).
        max_patients: stop after this many patients.

    Returns:
        the CAMUS patient names written, in order (``patient0001`` is the first synthetic case by name).
    """
    if layout not in ("nifti", "mhd"):
        raise ValueError(f"layout must be 'nifti' or 'mhd', got {layout!r}")
    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty; the fixture writer never overwrites files")
    datalist = json.loads((dataset_dir / "datalist.json").read_text(encoding="utf-8"))
    clips: dict[str, dict[str, dict]] = {}
    for split in ("training", "validation", "test"):
        for item in datalist.get(split, []):
            view = item.get("view")
            if view in views and "truth" in item:
                clips.setdefault(str(item["case"]), {}).setdefault(view, item)
    base = out_dir / ("database_nifti" if layout == "nifti" else "training")
    patients: list[str] = []
    for case in sorted(clips):
        if max_patients is not None and len(patients) >= max_patients:
            break
        patient = f"patient{len(patients) + 1:04d}"
        for view, item in sorted(clips[case].items()):
            _write_view(dataset_dir, item, base / patient, patient, _VIEW_CODES[view], layout)
        patients.append(patient)
    if layout == "nifti":
        lists: list[list[str]] = [[], [], []]
        for i, patient in enumerate(patients):  # round robin, so that every list has a patient early on
            lists[i % 3].append(patient)
        for filename, names in zip(_SPLIT_FILES, lists, strict=True):
            text = "".join(f"{n}\n" for n in names)
            atomic_write_with(out_dir / "database_split" / filename, lambda tmp, text=text: tmp.write_text(text))
    return patients


def _write_view(dataset_dir: Path, item: dict, folder: Path, patient: str, code: str, layout: str) -> None:
    cine = read_echo_cine(dataset_dir / item["image"], grey=True, with_ecg=False)
    with np.load(dataset_dir / item["truth"]) as truth:
        labels = _camus_labels(np.asarray(truth["anatomy"]))
        if labels.shape != cine.frames.shape:
            raise ValueError(f"{item['truth']}: anatomy {labels.shape} does not match frames {cine.frames.shape}")
        ed, es = _ed_es(truth, labels)
    frames = cine.frames
    spacing = cine.spacing_mm or (0.3, 0.3)
    stem = f"{patient}_{code}"
    seq_frames, seq_labels = frames[ed : es + 1], labels[ed : es + 1]
    info = ["ED: 1", f"ES: {es - ed + 1}", f"NbFrame: {es - ed + 1}", "Sex: F", "Age: 60", "ImageQuality: Good"]
    if layout == "nifti":
        info.append(f"FrameRate: {cine.frame_rate_hz:.1f}")
        for phase, index in (("ED", ed), ("ES", es)):
            _save_nifti(folder / f"{stem}_{phase}.nii.gz", frames[index], spacing)
            _save_nifti(folder / f"{stem}_{phase}_gt.nii.gz", labels[index], spacing)
        _save_nifti(folder / f"{stem}_half_sequence.nii.gz", seq_frames, spacing)
        _save_nifti(folder / f"{stem}_half_sequence_gt.nii.gz", seq_labels, spacing)
    else:
        for phase, index in (("ED", ed), ("ES", es)):
            _save_mhd(folder / f"{stem}_{phase}.mhd", frames[index], spacing)
            _save_mhd(folder / f"{stem}_{phase}_gt.mhd", labels[index], spacing)
        _save_mhd(folder / f"{stem}_sequence.mhd", seq_frames, spacing)
    text = "\n".join(info) + "\n"
    atomic_write_with(folder / f"Info_{code}.cfg", lambda tmp: tmp.write_text(text))
