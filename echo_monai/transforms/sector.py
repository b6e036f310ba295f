"""Scan-sector transforms: keep a network's evidence inside the ultrasound fan.

Outside the fan an echo image carries vendor text, the depth scale, the probe name and the burned-in ECG.
None of it is anatomy, but some of it correlates with the view (the depth range, the preset name), so a
network trained on whole frames learns it as a shortcut. Two remedies, measured in
``benchmarks/results/saliency.md``:

- :class:`SectorMask` / :class:`SectorMaskd` set everything outside the sector to a constant, in training
  and at inference alike (a preprocessing step of the model's input pipeline);
- :class:`RandOutsideSector` / :class:`RandOutsideSectord` replace the outside with random content (noise,
  text-like blocks, scale ticks, a trace) during training, so that nothing there predicts the label and
  the network learns not to respond to it.

Images are channel-first: a cine (C, T, H, W) or a frame (C, H, W); the sector mask is (H, W) bool, or
(1, H, W) as the dictionary transforms store it under ``mask_key`` so that it collates like an image.
Without a stored mask the sector is estimated from the image with
:func:`echo_monai.io.sector.scan_sector_mask` (the changing region of a cine; the bright region of one
frame, which is less reliable: compute the mask on the whole cine, before frames are drawn).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, RandomizableTransform, Transform

from echo_monai.errors import EchoDataError
from echo_monai.io.sector import scan_sector_mask
from echo_monai.transforms.io import SCAN_REGION_META_KEY

__all__ = [
    "SECTOR_MASK_KEY",
    "RandOutsideSector",
    "RandOutsideSectord",
    "SectorMask",
    "SectorMaskd",
    "estimate_sector_mask",
]

#: Default data-dictionary key of the (1, H, W) bool sector mask written by :class:`SectorMaskd`.
SECTOR_MASK_KEY = "sector_mask"


def _source(img: torch.Tensor | np.ndarray) -> str | None:
    meta = getattr(img, "meta", None)
    return None if meta is None else meta.get("filename_or_obj")


def _check_image(img: torch.Tensor | np.ndarray) -> None:
    if img.ndim not in (3, 4) or img.shape[0] < 1:
        raise EchoDataError(_source(img), f"expected a channel-first frame (C, H, W) or cine (C, T, H, W), "
                                          f"got shape {tuple(img.shape)}")


def _scan_region(img: torch.Tensor | np.ndarray) -> tuple[int, int, int, int] | None:
    """The file's tissue region from the image's meta (set by ``LoadEchoCine``), if it fits the image.

    Nothing outside it can be sector. It matters for grey cines with a burned-in ECG: without colour, the
    sweeping trace below the fan changes like the fan does and, at network input sizes, touches it.
    """
    meta = getattr(img, "meta", None) or {}
    box, shape = meta.get(SCAN_REGION_META_KEY), meta.get("spatial_shape")
    if box is None or shape is None:
        return None
    box, shape = (np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v).reshape(-1) for v in (box, shape))
    if box.size != 4 or box.min() < 0 or tuple(shape.tolist()) != tuple(img.shape[-2:]):
        return None  # no region given, or the frames were cropped / resized since loading
    return int(box[0]), int(box[1]), int(box[2]), int(box[3])


def estimate_sector_mask(img: torch.Tensor | np.ndarray, value_range: float = 1.0) -> np.ndarray:
    """(H, W) bool scan sector of a channel-first cine (C, T, H, W) or frame (C, H, W).

    ``value_range`` is the image's white level (1.0 for :class:`~echo_monai.transforms.LoadEchoCine`'s
    scaled output, 255 for raw grey levels). Three channels are read as RGB, so that coloured overlays
    (the ECG trace) are left out of the sector. The file's tissue region, when ``LoadEchoCine`` stored a
    trusted one in the image's meta, bounds the sector.
    """
    _check_image(img)
    x = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
    if x.ndim == 3:
        x = x[:, None]
    grey = np.clip(np.asarray(x, dtype=np.float32) * (255.0 / float(value_range)), 0, 255).round().astype(np.uint8)
    frames = np.moveaxis(grey, 0, -1) if grey.shape[0] == 3 else grey.mean(axis=0, dtype=np.float32).astype(np.uint8)
    try:
        return scan_sector_mask(frames, scan_region=_scan_region(img))
    except EchoDataError as err:
        raise EchoDataError(_source(img), err.problem) from None


def _as_mask(mask: torch.Tensor | np.ndarray, img: torch.Tensor | np.ndarray) -> torch.Tensor:
    """(H, W) bool tensor from an (H, W) or (1, H, W) mask, checked against the image's last two axes."""
    m = torch.as_tensor(np.asarray(mask.detach().cpu() if isinstance(mask, torch.Tensor) else mask)).bool()
    if m.ndim == 3 and m.shape[0] == 1:
        m = m[0]
    if tuple(m.shape) != tuple(img.shape[-2:]):
        raise EchoDataError(_source(img), f"sector mask of shape {tuple(m.shape)} does not fit frames of size "
                                          f"{tuple(img.shape[-2:])}")
    if not bool(m.any()):
        raise EchoDataError(_source(img), "the sector mask is empty")
    return m


class SectorMask(Transform):
    """Set every pixel outside the scan sector to ``fill``: (C, [T,] H, W) -> same shape and type.

    Args:
        fill: value outside the sector (0 = black, in the image's intensity units).
        value_range: the image's white level, used only when the mask is estimated from the image.
    """

    def __init__(self, fill: float = 0.0, value_range: float = 1.0) -> None:
        self.fill = float(fill)
        self.value_range = float(value_range)

    def __call__(self, img: torch.Tensor, mask: torch.Tensor | np.ndarray | None = None) -> torch.Tensor:
        """``mask``: (H, W) or (1, H, W) bool; estimated from ``img`` when None."""
        _check_image(img)
        m = _as_mask(estimate_sector_mask(img, self.value_range) if mask is None else mask, img)
        out = torch.as_tensor(img).clone()
        out[..., ~m.to(out.device)] = self.fill
        return out


class SectorMaskd(MapTransform):
    """Dictionary version of :class:`SectorMask`; keeps the mask as ``d[mask_key]``, (1, H, W) bool.

    The mask is read from ``d[mask_key]`` when present (e.g. from the file's ultrasound region or a truth
    file), else estimated once from the first key and stored there, so that later transforms
    (:class:`RandOutsideSectord`) and the explanation handlers can use the same sector. Put it right after
    loading, before frames or cycles are drawn: the estimate needs the whole cine's motion.

    ``allow_unmasked``: when no sector can be estimated (a still cine), keep the image as it is and store
    an all-true mask instead of raising :class:`~echo_monai.errors.EchoDataError` (for inference, where
    one odd file should not stop a batch).
    """

    def __init__(self, keys: KeysCollection, mask_key: str = SECTOR_MASK_KEY, fill: float = 0.0,
                 value_range: float = 1.0, allow_unmasked: bool = False, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.mask_key = mask_key
        self.masker = SectorMask(fill, value_range)
        self.allow_unmasked = allow_unmasked

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        keys = list(self.key_iterator(d))
        if not keys:
            return d
        mask = d.get(self.mask_key)
        if mask is None:
            try:
                mask = estimate_sector_mask(d[keys[0]], self.masker.value_range)
            except EchoDataError:
                if not self.allow_unmasked:
                    raise
                d[self.mask_key] = torch.ones((1, *d[keys[0]].shape[-2:]), dtype=torch.bool)
                return d
        m = _as_mask(mask, d[keys[0]])
        for key in keys:
            d[key] = self.masker(d[key], m)
        d[self.mask_key] = m[None]
        return d


class RandOutsideSector(RandomizableTransform):
    """With probability ``prob``, replace everything outside the scan sector by random content.

    The content imitates what scanners put there, drawn anew for every call so that none of it can
    predict a label: a dark background level with noise (fresh in every frame), text-like rows of bright
    blocks, a ruler of tick marks and a bright trace running across the image (static over the frames,
    as burned-in annotations are). Inside the sector the image is untouched.

    Args:
        prob: probability of replacing the outside.
        value_range: the image's white level (content is drawn in [0, value_range]).
        max_background: highest background grey level, as a fraction of ``value_range``.
        max_noise_std: highest noise standard deviation, as a fraction of ``value_range``.
        max_glyph_rows: most rows of text-like blocks.
    """

    def __init__(self, prob: float = 0.5, value_range: float = 1.0, max_background: float = 0.15,
                 max_noise_std: float = 0.15, max_glyph_rows: int = 6) -> None:
        RandomizableTransform.__init__(self, prob)
        self.value_range = float(value_range)
        self.max_background = float(max_background)
        self.max_noise_std = float(max_noise_std)
        self.max_glyph_rows = int(max_glyph_rows)
        self._layer: np.ndarray | None = None  # (H, W) static content in [0, 1], NaN where none
        self._background = 0.0
        self._noise_std = 0.0
        self._noise_seed = 0

    def randomize(self, data: Sequence[int] | None = None) -> None:
        """Draw whether to act and, for an (H, W) ``data`` shape, the static content."""
        super().randomize(None)
        if not self._do_transform or data is None:
            return
        h, w = (int(v) for v in data)
        self._background = float(self.R.uniform(0.0, self.max_background))
        self._noise_std = float(self.R.uniform(0.0, self.max_noise_std))
        self._noise_seed = int(self.R.randint(0, 2 ** 31 - 1))  # same noise for every key of a sample
        self._layer = self._static_layer(h, w)

    def _static_layer(self, h: int, w: int) -> np.ndarray:
        layer = np.full((h, w), np.nan, dtype=np.float32)
        unit = max(1, round(min(h, w) / 32))  # glyph size grows with the image, as screen fonts do
        for _ in range(int(self.R.randint(0, self.max_glyph_rows + 1))):
            # a row of text: blocks one glyph high, separated by gaps
            y = int(self.R.randint(0, h))
            x = int(self.R.randint(0, w))
            height = unit * int(self.R.randint(1, 3))
            for _ in range(int(self.R.randint(2, 10))):
                width = unit * int(self.R.randint(1, 3))
                layer[y:y + height, x:x + width] = self.R.uniform(0.5, 1.0)
                x += width + unit * int(self.R.randint(1, 3))
        if self.R.rand() < 0.5:  # depth ruler: a column of ticks
            x = int(self.R.randint(0, w))
            step = max(2, int(self.R.randint(2, 6)) * unit)
            layer[int(self.R.randint(0, step))::step, x:x + 2 * unit] = self.R.uniform(0.5, 1.0)
        if self.R.rand() < 0.5:  # a trace across the image (an ECG or respiration curve)
            xs = np.arange(w)
            base = self.R.uniform(0.1, 0.9) * h
            ys = base + self.R.uniform(0.02, 0.1) * h * np.sin(2 * np.pi * xs / self.R.uniform(0.2, 1.0) / w
                                                              + self.R.uniform(0, 2 * np.pi))
            spikes = self.R.rand(w) < 0.03
            ys = ys - spikes * self.R.uniform(0.05, 0.15) * h
            layer[np.clip(ys.round().astype(int), 0, h - 1), xs] = self.R.uniform(0.5, 1.0)
        return layer

    def __call__(self, img: torch.Tensor, mask: torch.Tensor | np.ndarray | None = None,
                 randomize: bool = True) -> torch.Tensor:
        """``img``: (C, [T,] H, W); ``mask``: (H, W) or (1, H, W) bool, estimated from ``img`` when None."""
        _check_image(img)
        if randomize:
            self.randomize(tuple(img.shape[-2:]))
        if not self._do_transform:
            return img
        if self._layer is None or self._layer.shape != tuple(img.shape[-2:]):
            raise ValueError("call randomize with this image's (H, W) before randomize=False")
        m = _as_mask(estimate_sector_mask(img, self.value_range) if mask is None else mask, img)
        out = torch.as_tensor(img).clone()
        # fresh in every frame, the same in every channel (grey noise)
        noise = np.random.RandomState(self._noise_seed).standard_normal(tuple(out.shape[1:])).astype(np.float32)
        noise *= self._noise_std
        content = np.where(np.isnan(self._layer), self._background + noise, self._layer)
        content = torch.from_numpy(np.clip(content, 0.0, 1.0) * self.value_range).to(out.dtype).to(out.device)
        outside = ~m.to(out.device)
        out[..., outside] = content[..., outside]
        return out


class RandOutsideSectord(RandomizableTransform, MapTransform):
    """Dictionary version of :class:`RandOutsideSector`: every key gets the same content.

    The mask is read from ``d[mask_key]`` (as :class:`SectorMaskd` stores it) or estimated from the first key.
    """

    def __init__(self, keys: KeysCollection, mask_key: str = SECTOR_MASK_KEY, prob: float = 0.5,
                 value_range: float = 1.0, max_background: float = 0.15, max_noise_std: float = 0.15,
                 max_glyph_rows: int = 6, allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.mask_key = mask_key
        self.filler = RandOutsideSector(1.0, value_range, max_background, max_noise_std, max_glyph_rows)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        super().set_random_state(seed, state)
        self.filler.set_random_state(seed, state)
        return self

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        keys = list(self.key_iterator(d))
        self.randomize(None)
        if not keys or not self._do_transform:
            return d
        mask = d.get(self.mask_key)
        if mask is None:
            mask = estimate_sector_mask(d[keys[0]], self.filler.value_range)
        self.filler.randomize(tuple(d[keys[0]].shape[-2:]))
        for key in keys:
            d[key] = self.filler(d[key], mask, randomize=False)
        return d
