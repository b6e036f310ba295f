"""Frame-wise transforms: train and run 2D networks on cines.

A cine here is channel-first (C, T, H, W), as :class:`~echo_monai.transforms.LoadEchoCine` returns it. A
2D segmentation network sees one frame (C, H, W) at a time:

- :class:`RandFrame` / :class:`RandFramed` draw random frames for training (image and mask get the same
  frame; ``num_samples`` draws several per loaded cine, so a cached cine feeds more than one sample);
- :class:`SplitFrames` / :class:`SplitFramesd` turn a cine into every one of its frames, as samples;
- :class:`StackFrames` / :class:`StackFramesd` add the k neighbouring frames of each side as channels
  (2D+t input, see :func:`echo_monai.networks.stack_neighbour_frames`) before a frame is drawn.

At inference a whole cine goes through ``monai.inferers.SliceInferer(spatial_dim=0)``, which runs the
2D network over the T axis; no transform is needed there.

Every output frame keeps the cine's metadata (without the per-frame arrays, which would not collate
between cines of different lengths) plus ``frame_index``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Randomizable, Transform

from echo_monai.errors import EchoDataError

__all__ = [
    "FRAME_INDEX_META_KEY",
    "RandFrame",
    "RandFramed",
    "SplitFrames",
    "SplitFramesd",
    "StackFrames",
    "StackFramesd",
]

#: Meta key of a frame sample: its 0-based index in the cine.
FRAME_INDEX_META_KEY = "frame_index"
# Per-cine objects that do not belong to a single frame (and would not collate across cines).
_CINE_ONLY_META = ("gating", "frame_times_ms")


def _check_cine(img: torch.Tensor) -> None:
    if img.ndim != 4 or img.shape[1] < 1:
        name = getattr(img, "meta", {}).get("filename_or_obj")
        raise EchoDataError(name, f"expected a cine of shape (C, T, H, W) with T >= 1, got {tuple(img.shape)}")


def _frame(img: torch.Tensor, index: int) -> MetaTensor:
    """Frame ``index`` of a (C, T, H, W) cine as a (C, H, W) MetaTensor with the cine's plain metadata."""
    meta = {k: v for k, v in dict(getattr(img, "meta", {})).items() if k not in _CINE_ONLY_META}
    times = getattr(img, "meta", {}).get("frame_times_ms")
    meta[FRAME_INDEX_META_KEY] = int(index)
    if times is not None and len(times) > index:
        meta["frame_time_ms"] = float(np.asarray(times)[index])
    return MetaTensor(torch.as_tensor(img)[:, index].clone(), meta=meta)


class RandFrame(Randomizable, Transform):
    """Draw ``num_samples`` frames of a cine uniformly at random (with replacement).

    Input (C, T, H, W); output a list of ``num_samples`` (C, H, W) MetaTensors (``frame_index`` in meta).
    """

    def __init__(self, num_samples: int = 1) -> None:
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        self.num_samples = int(num_samples)
        self._indices: list[int] = []

    def randomize(self, n_frames: int) -> None:
        self._indices = [int(i) for i in self.R.randint(0, n_frames, size=self.num_samples)]

    def __call__(self, img: torch.Tensor, randomize: bool = True) -> list[MetaTensor]:
        _check_cine(img)
        if randomize or not self._indices:
            self.randomize(img.shape[1])
        if max(self._indices) >= img.shape[1]:
            raise EchoDataError(getattr(img, "meta", {}).get("filename_or_obj"),
                                f"frame {max(self._indices)} drawn for another cine is past this one's "
                                f"{img.shape[1]} frames")
        return [_frame(img, i) for i in self._indices]


class RandFramed(Randomizable, MapTransform):
    """Dictionary version of :class:`RandFrame`: every key gets the same frames (image and mask stay paired).

    Returns a list of ``num_samples`` dictionaries, as MONAI's multi-sample crops do (datasets and
    ``list_data_collate`` flatten it). The keys must have the same number of frames.
    """

    def __init__(self, keys: KeysCollection, num_samples: int = 1, allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.picker = RandFrame(num_samples)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        super().set_random_state(seed, state)
        self.picker.set_random_state(seed, state)
        return self

    def randomize(self, data: int) -> None:
        self.picker.randomize(data)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> list[dict]:
        d = dict(data)
        keys = list(self.key_iterator(d))
        if not keys:
            return [d]
        n_frames = _same_frame_count(d, keys)
        self.picker.randomize(n_frames)
        frames = {key: self.picker(d[key], randomize=False) for key in keys}
        return [{**d, **{key: frames[key][s] for key in keys}} for s in range(self.picker.num_samples)]


class SplitFrames(Transform):
    """Every frame of a cine as its own sample: (C, T, H, W) -> list of T (C, H, W) MetaTensors."""

    def __call__(self, img: torch.Tensor) -> list[MetaTensor]:
        _check_cine(img)
        return [_frame(img, i) for i in range(img.shape[1])]


class SplitFramesd(MapTransform):
    """Dictionary version of :class:`SplitFrames`: a list of T dictionaries, frame t of every key in item t."""

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.splitter = SplitFrames()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> list[dict]:
        d = dict(data)
        keys = list(self.key_iterator(d))
        if not keys:
            return [d]
        n_frames = _same_frame_count(d, keys)
        frames = {key: self.splitter(d[key]) for key in keys}
        return [{**d, **{key: frames[key][t] for key in keys}} for t in range(n_frames)]


class StackFrames(Transform):
    """2D+t input: each frame with its ``k`` neighbours on each side stacked as channels.

    (C, T, H, W) -> (C * (2k+1), T, H, W), channels ordered oldest frame first (all C channels of frame
    t-k, then of t-k+1 ...); frames beyond the ends
    repeat the first / last frame (as :func:`echo_monai.networks.stack_neighbour_frames`).
    """

    def __init__(self, k: int = 1) -> None:
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        self.k = int(k)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        _check_cine(img)
        if self.k == 0:
            return img
        x = torch.as_tensor(img)
        t = x.shape[1]
        offsets = torch.arange(-self.k, self.k + 1)
        idx = (torch.arange(t)[:, None] + offsets[None, :]).clamp(0, t - 1)  # (T, 2k+1)
        stacked = x[:, idx].permute(2, 0, 1, 3, 4)  # (2k+1, C, T, H, W): frame-major, as the network helper
        out = stacked.reshape(x.shape[0] * (2 * self.k + 1), t, *x.shape[2:])
        return MetaTensor(out, meta=dict(getattr(img, "meta", {}))) if isinstance(img, MetaTensor) else out


class StackFramesd(MapTransform):
    """Dictionary version of :class:`StackFrames` (apply it to the image only, never to the mask)."""

    def __init__(self, keys: KeysCollection, k: int = 1, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.stacker = StackFrames(k)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.stacker(d[key])
        return d


def _same_frame_count(d: Mapping[Hashable, torch.Tensor], keys: list[Hashable]) -> int:
    """The common T of ``d[key]`` for every key; a mismatch names the file and both counts."""
    counts = {}
    for key in keys:
        _check_cine(d[key])
        counts[key] = int(d[key].shape[1])
    if len(set(counts.values())) > 1:
        names = {str(k): getattr(d[k], "meta", {}).get("filename_or_obj") for k in keys}
        raise EchoDataError(next(iter(names.values())),
                            f"frame counts differ between keys: {counts} (files {names})")
    return next(iter(counts.values()))
