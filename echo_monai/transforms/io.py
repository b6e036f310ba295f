"""Loading echo cines as MONAI MetaTensors, with their cardiac timing."""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform

from echo_monai.ecg.gating import SOURCES, gate_cine
from echo_monai.errors import EchoDataError
from echo_monai.io.cine import read_cine
from echo_monai.io.dicom_read import burned_in_ecg_area
from echo_monai.io.types import EchoCine

__all__ = ["FRAME_TIMES_META_KEY", "GATING_META_KEY", "SCAN_REGION_META_KEY", "LoadEchoCine", "LoadEchoCined",
           "trusted_scan_region"]

#: MetaTensor meta key holding the :class:`~echo_monai.ecg.gating.Gating` of a loaded cine. It is not
#: collatable; the frame-selection transforms replace it with plain facts.
GATING_META_KEY = "gating"
#: MetaTensor meta key holding the (T,) frame times in ms.
FRAME_TIMES_META_KEY = "frame_times_ms"
#: MetaTensor meta key holding the (4,) int64 ``(x0, y0, x1, y1)`` tissue region of the loaded frames
#: (inclusive pixels, in the loaded grid), or ``-1`` four times when the file gives none to trust.
SCAN_REGION_META_KEY = "scan_region"


def trusted_scan_region(cine: EchoCine) -> np.ndarray:
    """(4,) int64 tissue region of ``cine`` in its pixel grid, or ``[-1, -1, -1, -1]``.

    Only a region that the file declares *inside* its frames is trusted: some files give region bounds in
    another grid (pydicom's SonoSite example declares columns up to 595 for 320-pixel frames), and clipping
    such a region to the image would cut the fan. One pixel of slack covers rounding after a resize.
    """
    none = np.full(4, -1, dtype=np.int64)
    if cine.scan_region is None:
        return none
    box = np.asarray(cine.scan_region, dtype=np.int64)
    for r in cine.regions:
        if np.all(np.abs(np.array([r.x0, r.y0, r.x1, r.y1]) - box) <= 1):
            return box
    return none


class LoadEchoCine(Transform):
    """Read a DICOM, AVI/MP4 or NIfTI echo cine into a channel-first (C, T, H, W) float32 MetaTensor.

    With ``gating=True`` the cardiac timing is found from the best source the file has (DICOM ECG or
    R-wave times, then a burned-in trace, then the image; see :func:`echo_monai.ecg.gating.gate_cine`)
    and kept in ``meta["gating"]``; ``meta["ecg_source"]`` and ``meta["gating_method"]`` say what was used.

    Args:
        grey: one luminance channel (C = 1) if True, else RGB (C = 3; grey files are repeated).
        size: (H, W) of the output frames, or None to keep the stored size.
        gating: find ED/ES frames and cycles.
        gating_sources: the sources gating may use, tried in order (subset of ``("ecg", "burned_in",
            "image")``).
        ed_reference: ``"r_peak"`` or ``"qrs_onset"``.
        ecg_search_dir: folder holding separate ECG waveform objects; ``"same"`` means the cine's folder.
        scale: divide intensities by 255 (values in [0, 1]) if True, else keep 0-255.
        allow_ungated: if gating finds no usable source, load anyway with ``gating_method = "failed"``
            instead of raising.
    """

    def __init__(
        self,
        grey: bool = True,
        size: Sequence[int] | None = None,
        gating: bool = True,
        gating_sources: Sequence[str] = SOURCES,
        ed_reference: str = "r_peak",
        ecg_search_dir: str | None = "same",
        scale: bool = True,
        allow_ungated: bool = False,
    ) -> None:
        self.grey = grey
        self.size = None if size is None else (int(size[0]), int(size[1]))
        self.gating = gating
        self.gating_sources = tuple(gating_sources)
        self.ed_reference = ed_reference
        self.ecg_search_dir = ecg_search_dir
        self.scale = scale
        self.allow_ungated = allow_ungated

    def __call__(self, filename: str | os.PathLike) -> MetaTensor:
        path = os.fspath(filename)
        search = os.path.dirname(path) if self.ecg_search_dir == "same" else self.ecg_search_dir
        # The file's ECG is read only when gating may use it: a broken waveform must not block loading.
        with_ecg = self.gating and "ecg" in self.gating_sources
        cine = read_cine(path, grey=self.grey, size=self.size, with_ecg=with_ecg, ecg_search_dir=search)
        meta: dict = {
            "filename_or_obj": path,
            FRAME_TIMES_META_KEY: np.asarray(cine.frame_times_ms, dtype=np.float64),
            "num_frames": cine.num_frames,
            "frame_rate_hz": cine.frame_rate_hz,
            "spacing_mm": tuple(cine.spacing_mm) if cine.spacing_mm is not None else (0.0, 0.0),
            SCAN_REGION_META_KEY: trusted_scan_region(cine),
            "spatial_shape": np.asarray(cine.frames.shape[1:3], dtype=np.int64),  # (H, W) the region refers to
        }
        if self.gating:
            try:
                # A burned-in trace is read from colour frames at the stored size, but only where one can be
                # drawn: a long cine decoded whole in colour would take gigabytes.
                gating = gate_cine(
                    cine,
                    colour_cine=lambda: read_cine(path, grey=False, with_ecg=False, crop=burned_in_ecg_area),
                    sources=self.gating_sources,
                    ed_reference=self.ed_reference,
                )
            except EchoDataError:
                if not self.allow_ungated:
                    raise
                meta.update(ecg_source="none", gating_method="failed", n_cycles=0)
            else:
                meta[GATING_META_KEY] = gating
                meta.update(gating.summary())
        frames = cine.frames
        if frames.ndim == 3:
            arr = frames[None]  # (1, T, H, W)
            if not self.grey:
                arr = np.repeat(arr, 3, axis=0)
        else:
            arr = np.moveaxis(frames, -1, 0)  # (3, T, H, W)
        tensor = torch.from_numpy(np.ascontiguousarray(arr)).float()
        if self.scale:
            tensor /= 255.0
        return MetaTensor(tensor, meta=meta)


class LoadEchoCined(MapTransform):
    """Dictionary version of :class:`LoadEchoCine`: replaces each key's file path by the loaded cine."""

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False, **kwargs) -> None:
        super().__init__(keys, allow_missing_keys)
        self.loader = LoadEchoCine(**kwargs)

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.loader(d[key])
        return d
