"""ECG-gated frame and cycle selection on cines loaded by :class:`~echo_monai.transforms.LoadEchoCine`.

Input everywhere: a (C, T, H, W) MetaTensor whose ``meta["gating"]`` holds the cine's
:class:`~echo_monai.ecg.gating.Gating` and ``meta["frame_times_ms"]`` its frame times. Outputs drop those two
(ragged, not collatable) and carry plain facts instead: ``frame_index``/``phase`` for frames,
``cycle_index``/``cycle_start``/``cycle_end``/``cycle_source`` for cycles, plus the gating summary.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Randomizable, Transform

from echo_monai.ecg.gating import Gating
from echo_monai.errors import ECGError
from echo_monai.transforms.io import FRAME_TIMES_META_KEY, GATING_META_KEY

__all__ = [
    "CropCardiacCycles",
    "CropCardiacCyclesd",
    "RandCardiacCycle",
    "RandCardiacCycled",
    "RandSelectGatedFrame",
    "RandSelectGatedFramed",
    "SelectGatedFrames",
    "SelectGatedFramesd",
    "SelectPhaseFrames",
    "SelectPhaseFramesd",
]

_PHASES = ("ed", "es", "ed_es")
_UNGATED = ("raise", "middle")


def _gating_of(img: torch.Tensor) -> tuple[Gating, np.ndarray, dict]:
    meta = getattr(img, "meta", None)
    if meta is None or GATING_META_KEY not in meta:
        raise ECGError(
            None if meta is None else meta.get("filename_or_obj"),
            "no cardiac gating on this image: load it with LoadEchoCine(gating=True) first",
        )
    return meta[GATING_META_KEY], np.asarray(meta[FRAME_TIMES_META_KEY], dtype=np.float64), meta


def _plain_meta(meta: dict, **extra) -> dict:
    out = {k: v for k, v in meta.items() if k not in (GATING_META_KEY, FRAME_TIMES_META_KEY)}
    out.update(extra)
    return out


def _phase_frames(gating: Gating, phase: str, path) -> list[tuple[int, str]]:
    if phase not in _PHASES:
        raise ValueError(f"phase must be one of {_PHASES}, got {phase!r}")
    chosen = []
    if phase in ("ed", "ed_es"):
        chosen += [(int(f), "ed") for f in gating.ed_frames]
    if phase in ("es", "ed_es"):
        chosen += [(int(f), "es") for f in gating.es_frames]
    if not chosen:
        raise ECGError(path, f"no {phase.upper()} frame inside the clip (gating: {gating.method})")
    return sorted(chosen)


class SelectGatedFrames(Transform):
    """Pick the end-diastolic and/or end-systolic frames: (C, T, H, W) -> (C, K, H, W).

    Args:
        phase: ``"ed"``, ``"es"`` or ``"ed_es"`` (both, in time order).
        max_frames: keep at most this many (the first ones), or all if None.
        ungated: what a cine without any frame of that phase gives (gating failed, e.g. loaded with
            ``allow_ungated=True``, or a clip shorter than a beat): ``"raise"`` an ``ECGError``, or
            ``"middle"``: its middle frame with ``phase = "ungated"`` in the meta, so a classifier still
            sees the clip and reports say the frame was not gated (the whole-clip fallback of the cycle
            transforms, for single frames).
    """

    def __init__(self, phase: str = "ed", max_frames: int | None = None, ungated: str = "raise") -> None:
        if phase not in _PHASES:
            raise ValueError(f"phase must be one of {_PHASES}, got {phase!r}")
        if ungated not in _UNGATED:
            raise ValueError(f"ungated must be one of {_UNGATED}, got {ungated!r}")
        self.phase = phase
        self.max_frames = max_frames
        self.ungated = ungated

    def frames(self, img: torch.Tensor) -> list[tuple[int, str]]:
        """The chosen ``(frame index, "ed"|"es"|"ungated")`` pairs for ``img``."""
        gating, _, meta = _gating_of(img)
        try:
            chosen = _phase_frames(gating, self.phase, meta.get("filename_or_obj"))
        except ECGError:
            if self.ungated == "raise":
                raise
            chosen = [(int(img.shape[1]) // 2, "ungated")]
        return chosen[: self.max_frames] if self.max_frames else chosen

    def __call__(self, img: torch.Tensor) -> MetaTensor:
        chosen = self.frames(img)
        _, _, meta = _gating_of(img)
        idx = [f for f, _ in chosen]
        out = torch.as_tensor(img)[:, idx]
        return MetaTensor(out, meta=_plain_meta(meta, num_selected=len(idx)))


class SelectGatedFramesd(MapTransform):
    """Each gated frame as its own sample: returns a list of dicts with (C, H, W) images.

    The first key decides the frames; the other keys (e.g. a label cine) get the same frames. Every sample
    carries ``frame_index`` and ``phase`` in its meta.
    """

    def __init__(
        self, keys: KeysCollection, phase: str = "ed", max_frames: int | None = None,
        ungated: str = "raise", allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.selector = SelectGatedFrames(phase, max_frames, ungated)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> list[dict]:
        keys = list(self.key_iterator(data))
        chosen = self.selector.frames(data[keys[0]])
        samples = []
        for frame, phase in chosen:
            d = dict(data)
            for key in keys:
                d[key] = _frame_sample(data[key], frame, phase)
            samples.append(d)
        return samples


def _frame_sample(img: torch.Tensor, frame: int, phase: str) -> MetaTensor:
    meta = getattr(img, "meta", {})
    return MetaTensor(torch.as_tensor(img)[:, frame].clone(), meta=_plain_meta(meta, frame_index=frame, phase=phase))


class RandSelectGatedFrame(Randomizable, Transform):
    """One randomly chosen ED (or ES) frame per call, for training image models: -> (C, H, W).

    ``ungated`` as in :class:`SelectGatedFrames`.
    """

    def __init__(self, phase: str = "ed", ungated: str = "raise") -> None:
        self.selector = SelectGatedFrames(phase, ungated=ungated)
        self._choice: tuple[int, str] | None = None

    def randomize(self, chosen: Sequence[tuple[int, str]]) -> None:
        self._choice = chosen[self.R.randint(len(chosen))]

    def __call__(self, img: torch.Tensor, randomize: bool = True) -> MetaTensor:
        if randomize:
            self.randomize(self.selector.frames(img))
        frame, phase = self._choice
        return _frame_sample(img, frame, phase)


class RandSelectGatedFramed(Randomizable, MapTransform):
    """Dictionary version of :class:`RandSelectGatedFrame`; all keys get the same frame."""

    def __init__(
        self, keys: KeysCollection, phase: str = "ed", ungated: str = "raise", allow_missing_keys: bool = False
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.picker = RandSelectGatedFrame(phase, ungated)

    def set_random_state(self, seed=None, state=None):
        super().set_random_state(seed, state)
        self.picker.set_random_state(seed, state)
        return self

    def randomize(self, data=None) -> None:
        self.picker.randomize(data)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        keys = list(self.key_iterator(d))
        self.picker.randomize(self.picker.selector.frames(d[keys[0]]))
        for key in keys:
            d[key] = self.picker(d[key], randomize=False)
        return d


# ------------------------------------------------------------------------------------------------------
# Whole cycles


def _interp_time(img: torch.Tensor, positions: np.ndarray, mode: str) -> torch.Tensor:
    """Sample a (C, T, H, W) tensor at fractional frame ``positions`` along T."""
    x = torch.as_tensor(img)
    t = x.shape[1]
    pos = np.clip(positions, 0, t - 1)
    if mode == "nearest":
        return x[:, np.rint(pos).astype(np.int64)]
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, t - 1)
    w = torch.as_tensor(pos - lo, dtype=x.dtype if x.is_floating_point() else torch.float32)
    w = w.view(1, -1, *([1] * (x.ndim - 2)))
    return x[:, lo] * (1 - w) + x[:, hi] * w


def _cycle_windows(gating: Gating, times: np.ndarray) -> tuple[list[tuple[float, float]], str]:
    """(start time, end time) in ms of each complete cycle; the whole clip when there is none."""
    if gating.cycles:
        source = "ecg_cycle" if gating.ecg_source != "none" else "image_cycle"
        return [(times[s], times[e]) for s, e in gating.cycles], source
    return [(times[0], times[-1] + (times[-1] - times[0]) / max(len(times) - 1, 1))], "whole_clip"


def _positions(times: np.ndarray, start_ms: float, end_ms: float, num_frames: int) -> np.ndarray:
    """Fractional frame indices of ``num_frames`` evenly spaced times in [start, end) (irregular frame times OK)."""
    sample_times = start_ms + (end_ms - start_ms) * np.arange(num_frames) / num_frames
    return np.interp(sample_times, times, np.arange(len(times), dtype=np.float64))


class CropCardiacCycles(Transform):
    """Cut a cine into its complete R-R cycles, each resampled in time to ``num_frames`` frames.

    (C, T, H, W) -> list of (C, num_frames, H, W), one per cycle (ED to the next ED). A clip without a
    complete cycle gives one sample of the whole clip with ``meta["cycle_source"] = "whole_clip"``.

    Args:
        num_frames: frames per cycle after resampling (evenly spaced in time, so irregular frame times
            and different heart rates give phase-aligned clips).
        mode: ``"linear"`` interpolation between neighbouring frames or ``"nearest"`` frame.
        max_cycles: keep at most this many cycles (the first ones).
    """

    def __init__(self, num_frames: int = 16, mode: str = "linear", max_cycles: int | None = None) -> None:
        if mode not in ("linear", "nearest"):
            raise ValueError(f"mode must be 'linear' or 'nearest', got {mode!r}")
        if num_frames < 1:
            raise ValueError(f"num_frames must be positive, got {num_frames}")
        self.num_frames = int(num_frames)
        self.mode = mode
        self.max_cycles = max_cycles

    def windows(self, img: torch.Tensor) -> tuple[list[tuple[float, float]], str]:
        gating, times, _ = _gating_of(img)
        windows, source = _cycle_windows(gating, times)
        return (windows[: self.max_cycles] if self.max_cycles else windows), source

    def crop(self, img: torch.Tensor, index: int, window: tuple[float, float], source: str, n: int) -> MetaTensor:
        # A label cine has no gating of its own: it is cut at the frame times it carries.
        meta = getattr(img, "meta", {})
        times = np.asarray(meta.get(FRAME_TIMES_META_KEY, np.arange(img.shape[1])), dtype=np.float64)
        pos = _positions(times, window[0], window[1], self.num_frames)
        out = _interp_time(img, pos, self.mode)
        extra = {
            "cycle_index": index, "n_cycles": n, "cycle_source": source,
            "cycle_start_ms": float(window[0]), "cycle_end_ms": float(window[1]),
        }
        return MetaTensor(out.clone(), meta=_plain_meta(meta, **extra))

    def __call__(self, img: torch.Tensor) -> list[MetaTensor]:
        windows, source = self.windows(img)
        return [self.crop(img, i, w, source, len(windows)) for i, w in enumerate(windows)]


class SelectPhaseFrames(CropCardiacCycles):
    """K phase-aligned frames per cycle (nearest frames at K evenly spaced phases from ED):
    (C, T, H, W) -> list of (C, K, H, W), one per cycle."""

    def __init__(self, num_phases: int = 4, max_cycles: int | None = None) -> None:
        super().__init__(num_frames=num_phases, mode="nearest", max_cycles=max_cycles)


class RandCardiacCycle(Randomizable, CropCardiacCycles):
    """One cardiac cycle per call, chosen at random, for training video models.

    With ``phase_jitter > 0`` the one-cycle window starts up to that fraction of a cycle after ED (the
    clip still spans exactly one R-R interval), which augments the phase the model sees first.
    """

    def __init__(self, num_frames: int = 16, mode: str = "linear", phase_jitter: float = 0.0) -> None:
        CropCardiacCycles.__init__(self, num_frames=num_frames, mode=mode)
        if not 0.0 <= phase_jitter < 1.0:
            raise ValueError(f"phase_jitter must be in [0, 1), got {phase_jitter}")
        self.phase_jitter = phase_jitter
        self._pick: tuple[int, float] = (0, 0.0)

    def randomize(self, n_windows: int) -> None:
        self._pick = (int(self.R.randint(n_windows)), float(self.R.uniform(0.0, self.phase_jitter)))

    def choose(self, img: torch.Tensor, randomize: bool = True) -> tuple[int, tuple[float, float], str, int]:
        windows, source = self.windows(img)
        if randomize:
            self.randomize(len(windows))
        index, shift = self._pick
        index = min(index, len(windows) - 1)
        start, end = windows[index]
        if shift and source != "whole_clip":
            _, times, _ = _gating_of(img)
            length = end - start
            start = min(start + shift * length, times[-1] - length)  # stay inside the clip
            start = max(start, times[0])
            end = start + length
        return index, (start, end), source, len(windows)

    def __call__(self, img: torch.Tensor, randomize: bool = True) -> MetaTensor:  # type: ignore[override]
        return self.crop(img, *self.choose(img, randomize))


class CropCardiacCyclesd(MapTransform):
    """Dictionary version of :class:`CropCardiacCycles`: a list of samples, one per cycle. The first key
    decides the cycles; the other keys (e.g. a label cine) are cut at the same times."""

    def __init__(
        self, keys: KeysCollection, num_frames: int = 16, mode: str | Sequence[str] = "linear",
        max_cycles: int | None = None, allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        modes = [mode] * len(self.keys) if isinstance(mode, str) else list(mode)
        self.croppers = [CropCardiacCycles(num_frames, m, max_cycles) for m in modes]

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> list[dict]:
        keys = list(self.key_iterator(data))
        windows, source = self.croppers[0].windows(data[keys[0]])
        samples = []
        for i, w in enumerate(windows):
            d = dict(data)
            for key, cropper in zip(keys, self.croppers):
                d[key] = cropper.crop(_with_times(data[key], data[keys[0]]), i, w, source, len(windows))
            samples.append(d)
        return samples


class SelectPhaseFramesd(CropCardiacCyclesd):
    """Dictionary version of :class:`SelectPhaseFrames`: a list of samples, one per cycle."""

    def __init__(self, keys: KeysCollection, num_phases: int = 4, max_cycles: int | None = None,
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, num_frames=num_phases, mode="nearest", max_cycles=max_cycles,
                         allow_missing_keys=allow_missing_keys)


class RandCardiacCycled(Randomizable, MapTransform):
    """Dictionary version of :class:`RandCardiacCycle`; all keys get the same cycle and window."""

    def __init__(
        self, keys: KeysCollection, num_frames: int = 16, mode: str = "linear", phase_jitter: float = 0.0,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.cropper = RandCardiacCycle(num_frames, mode, phase_jitter)

    def set_random_state(self, seed=None, state=None):
        super().set_random_state(seed, state)
        self.cropper.set_random_state(seed, state)
        return self

    def randomize(self, data=None) -> None:
        self.cropper.randomize(data)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        keys = list(self.key_iterator(d))
        chosen = self.cropper.choose(d[keys[0]])
        for key in keys:
            d[key] = self.cropper.crop(_with_times(d[key], data[keys[0]]), *chosen)
        return d


def _with_times(img: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Give a label cine the reference cine's frame times so both are cut at the same times."""
    meta = getattr(img, "meta", None)
    if img is reference or (meta is not None and FRAME_TIMES_META_KEY in meta):
        return img
    ref_meta = getattr(reference, "meta", {})
    out = MetaTensor(torch.as_tensor(img), meta=dict(meta or {}))
    out.meta[FRAME_TIMES_META_KEY] = ref_meta.get(FRAME_TIMES_META_KEY)
    return out
