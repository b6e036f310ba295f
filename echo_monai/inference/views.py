"""View-classification inference inputs: the readable clips of a folder or datalist, and a gating fallback.

:func:`collect_inference_items` is the ``dataset#data`` of the bundle's ``inference.json``: it finds the
cines, decodes each once at a small size, and writes every unreadable file with its reason to
``skipped.csv`` so that one broken export does not stop a run over a whole folder.
:class:`EnsureGatingd` lets a clip whose cardiac timing cannot be found still be classified, from the
whole clip.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform

from echo_monai.ecg.gating import Gating
from echo_monai.errors import EchoDataError
from echo_monai.inference.datalist import find_cines
from echo_monai.io.cine import read_cine
from echo_monai.transforms.io import GATING_META_KEY

__all__ = ["EnsureGatingd", "collect_inference_items", "load_network_weights"]

_CHECK_SIZE = (64, 64)  # decoding at a small size proves a file readable at a fraction of the cost


def _write_csv_atomic(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(buf.getvalue())
    os.replace(tmp, path)


def _listed_inputs(input_path: Path) -> tuple[Path, list[str]]:
    """(root, image paths relative to root or absolute) of a folder or a datalist file."""
    if input_path.is_dir():
        return input_path, [p.relative_to(input_path).as_posix() for p in find_cines(input_path)]
    try:
        data = json.loads(input_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EchoDataError(input_path, f"neither a folder nor a readable datalist ({exc})") from exc
    items = data if isinstance(data, list) else [i for v in data.values() if isinstance(v, list) for i in v] \
        if isinstance(data, Mapping) else []
    images = [str(i["image"]) if isinstance(i, Mapping) and "image" in i else str(i) for i in items]
    if not images:
        raise EchoDataError(input_path, "the datalist lists no images (expected items with an 'image' field)")
    return input_path.parent, images


def collect_inference_items(input_path: str | os.PathLike, output_dir: str | os.PathLike, *,
                            check_decode: bool = True) -> list[dict[str, Any]]:
    """Readable cines of a folder (searched recursively) or a datalist, as inference items.

    Args:
        input_path: a folder of DICOM / AVI / MP4 / NIfTI cines, or a datalist JSON (a list of items or
            a dict of lists; ``image`` paths relative to the datalist's folder or absolute).
        output_dir: where ``skipped.csv`` (file, reason) is written; always written, empty but for the
            header when nothing was skipped.
        check_decode: decode every file once (at 64 x 64 grey, with its ECG) and skip unreadable ones.

    Returns:
        items ``{"image": absolute path, "clip": path as found (relative to the input), "study": ""}``.

    Raises:
        EchoDataError: the input does not exist, or holds no readable cine at all.
    """
    source = Path(input_path).expanduser()
    if not source.exists():
        raise EchoDataError(source, "the inference input does not exist")
    root, images = _listed_inputs(source)
    items: list[dict[str, Any]] = []
    skipped: list[list[str]] = []
    for rel in images:
        path = Path(rel) if os.path.isabs(rel) else root / rel
        if not path.is_file():
            skipped.append([rel, "file not found"])
            continue
        if check_decode:
            try:
                cine = read_cine(path, grey=True, size=_CHECK_SIZE)
            except EchoDataError as exc:
                skipped.append([rel, exc.problem])
                continue
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop a folder; the reason says why
                skipped.append([rel, f"unexpected error while reading ({type(exc).__name__}: {exc})"])
                continue
            if cine.num_frames < 2:
                skipped.append([rel, f"{cine.num_frames} frame(s): a still image is not a cine"])
                continue
        items.append({"image": str(path), "clip": rel, "study": ""})
    _write_csv_atomic(Path(output_dir) / "skipped.csv", ["file", "reason"], skipped)
    if not items:
        raise EchoDataError(source, f"no readable cine found ({len(skipped)} file(s) skipped; see skipped.csv)")
    return items


class EnsureGatingd(MapTransform):
    """Give a cine loaded with ``allow_ungated=True`` whose gating failed a timing without cycles.

    Cycle cropping then classifies the whole clip (``cycle_source = "whole_clip"``) instead of failing;
    ``meta["ecg_source"]`` stays ``"none"`` and ``gating_method`` ``"failed"`` so reports show it.
    """

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            img = d[key]
            meta = getattr(img, "meta", None)
            if meta is None or GATING_META_KEY in meta:
                continue
            empty = np.zeros(0, dtype=np.int64)
            gating = Gating(ed_frames=empty, es_frames=empty, cycles=[], r_times_ms=np.zeros(0),
                            phase_positions=np.zeros((0, 0)), ecg_source="none", method="failed", es_method="none")
            out = MetaTensor(torch.as_tensor(img), meta=dict(meta))
            out.meta[GATING_META_KEY] = gating
            d[key] = out
        return d


def load_network_weights(network: torch.nn.Module, path: str | os.PathLike | None) -> torch.nn.Module:
    """Load a local weights file into ``network`` (in place) and return it; ``None`` leaves it as built.

    Accepts a state dict or a checkpoint holding one under ``model`` / ``state_dict`` / ``network``
    (as MONAI's ``CheckpointSaver`` writes), with or without DDP's ``module.`` prefix.

    Raises:
        EchoDataError: the file is missing, unreadable, or its tensors do not fit this network.
    """
    if path is None or str(path) == "":
        return network
    file = Path(path).expanduser()
    if not file.is_file():
        raise EchoDataError(file, "weights file not found")
    try:
        obj = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        raise EchoDataError(file, f"cannot read as a PyTorch weights file ({type(exc).__name__})") from exc
    for key in ("model", "state_dict", "network"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping):
        raise EchoDataError(file, "does not hold a state dict")
    state = {k.removeprefix("module."): v for k, v in obj.items()}
    target = network.state_dict()
    missing = sorted(set(target) - set(state))
    unexpected = sorted(set(state) - set(target))
    wrong = [k for k in target if k in state and tuple(state[k].shape) != tuple(target[k].shape)]
    if missing or unexpected or wrong:
        details = [f"{len(missing)} missing (e.g. {missing[0]})" if missing else "",
                   f"{len(unexpected)} unexpected (e.g. {unexpected[0]})" if unexpected else "",
                   f"{len(wrong)} of another shape (e.g. {wrong[0]})" if wrong else ""]
        raise EchoDataError(file, f"weights do not fit {type(network).__name__}: "
                                  f"{', '.join(d for d in details if d)}; was it trained with another network config?")
    network.load_state_dict(state)
    return network
