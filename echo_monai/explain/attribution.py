"""Captum attributions for echo networks: image (B, C, H, W), video (B, C, T, H, W) and segmentation.

One entry point, :func:`attribute`, runs a named Captum method and returns one map per input pixel with
the channels summed: (B, H, W) for frames, (B, T, H, W) for clips. Every method runs inside
:func:`explanation_mode`, which puts the network in eval mode and guarantees that explaining leaves no
trace on training: parameter gradients and ``requires_grad`` flags are restored exactly, so a handler may
run between an optimiser's ``backward`` and ``step`` without changing the update.

Segmentation networks have a map as output; :class:`RegionScore` turns them into one score per sample
(the summed wall probability inside a region), and :class:`ClassContrast` turns a classifier into the
logit difference of two classes (e.g. A5C minus A4C), which is what separates two similar views.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from captum.attr import (
    GuidedBackprop,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    NoiseTunnel,
    Occlusion,
    Saliency,
)
from torch import nn

__all__ = [
    "LAYER_METHODS",
    "METHODS",
    "ClassContrast",
    "RegionScore",
    "attribute",
    "blurred",
    "explanation_mode",
    "last_conv_layer",
    "resolve_layer",
    "temporal_importance",
]

#: Captum method names accepted by :func:`attribute`.
METHODS: tuple[str, ...] = (
    "Saliency",
    "IntegratedGradients",
    "NoiseTunnel",
    "LayerGradCam",
    "GuidedGradCam",
    "Occlusion",
)
#: Methods that attribute at a layer (``layer=``, default the last convolution).
LAYER_METHODS: frozenset[str] = frozenset({"LayerGradCam", "GuidedGradCam"})
#: Methods NoiseTunnel can smooth.
_SMOOTHABLE = ("Saliency", "IntegratedGradients")


@contextmanager
def explanation_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode, gradients enabled for inputs only, in-place activations off; everything restored after.

    Parameters get ``requires_grad=False`` for the duration, so no ``.grad`` is created or accumulated on
    them; their previous ``.grad`` tensors and flags are put back untouched. In-place ReLUs are switched
    off because Captum's backward hooks (GuidedBackprop, layer methods) cannot wrap an in-place output.
    Works inside an engine's ``torch.no_grad`` / ``inference_mode`` context.
    """
    modes = [(m, m.training) for m in model.modules()]
    params = [(p, p.requires_grad, p.grad) for p in model.parameters()]
    inplace = [m for m in model.modules() if getattr(m, "inplace", False) is True]
    try:
        model.eval()
        for p, _, _ in params:
            p.requires_grad_(False)
        for m in inplace:
            m.inplace = False
        with torch.inference_mode(False), torch.enable_grad():
            yield model
    finally:
        for m in inplace:
            m.inplace = True
        for p, flag, grad in params:
            p.requires_grad_(flag)
            p.grad = grad
        for m, training in modes:
            m.training = training


def last_conv_layer(model: nn.Module) -> str:
    """Name of the last 2D / 3D convolution in definition order: Grad-CAM's usual layer."""
    convs = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Conv3d))]
    if not convs:
        raise ValueError("the network has no Conv2d / Conv3d layer for Grad-CAM; pass layer=<module name>")
    return convs[-1]


def resolve_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` (as in ``model.named_modules()``, e.g. ``"frames.encoder.features.6"``)."""
    modules = dict(model.named_modules())
    if name in modules and name != "":
        return modules[name]
    convs = [n for n, m in modules.items() if isinstance(m, (nn.Conv2d, nn.Conv3d))]
    raise ValueError(
        f"the network has no layer {name!r}; its last convolutions are {', '.join(convs[-4:]) or 'none'} "
        "(names as in model.named_modules())"
    )


class RegionScore(nn.Module):
    """A segmentation network as a scorer: summed probability of ``channel`` inside a region, (B,).

    Args:
        model: maps (B, C, H, W) to logits (B, K, H, W); K = 1 means a sigmoid output.
        channel: the class scored (the LV wall is channel 1 of a 2-class output, or 0 of a sigmoid one).

    ``forward(x, region)`` takes the region as a (B, 1, H, W) or (B, H, W) mask; without one, the
    network's own prediction for ``x`` (computed without gradient) is used. Pass the region as Captum's
    ``additional_forward_args`` so that methods that expand the batch expand it too.
    """

    def __init__(self, model: nn.Module, channel: int = 1):
        super().__init__()
        self.model = model
        self.channel = int(channel)

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W) probability of ``channel``."""
        logits = self.model(x)
        if logits.shape[1] == 1:
            return torch.sigmoid(logits[:, 0])
        return torch.softmax(logits, dim=1)[:, self.channel]

    def predicted_region(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W) bool: pixels where the network predicts ``channel``."""
        with torch.no_grad():
            logits = self.model(x)
            if logits.shape[1] == 1:
                return logits[:, 0] > 0
            return logits.argmax(dim=1) == self.channel

    def forward(self, x: torch.Tensor, region: torch.Tensor | None = None) -> torch.Tensor:
        prob = self.probabilities(x)
        if region is None:
            region = self.predicted_region(x)
        region = region.reshape(prob.shape).to(prob.dtype)
        return (prob * region).flatten(1).sum(dim=1)


class ClassContrast(nn.Module):
    """A classifier as the logit difference ``logits[:, positive] - logits[:, negative]``, (B,)."""

    def __init__(self, model: nn.Module, positive: int, negative: int):
        super().__init__()
        self.model = model
        self.positive = int(positive)
        self.negative = int(negative)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)
        return logits[:, self.positive] - logits[:, self.negative]


def _upsample_layer_map(cam: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Layer map -> input grid: (B, 1, h, w) or (B, 1, t, h, w), or (B*T, 1, h, w) from a per-frame layer.

    Returns (B, 1, *inputs.shape[2:]).
    """
    b, spatial = inputs.shape[0], tuple(inputs.shape[2:])
    if cam.ndim == 4 and inputs.ndim == 5:
        t = inputs.shape[2]
        if cam.shape[0] != b * t:
            raise ValueError(f"layer output batch {cam.shape[0]} is neither the clips' {b} nor frames' {b * t}")
        # A frame encoder sees B*T frames: put the time axis back before up-sampling.
        cam = cam.reshape(b, t, *cam.shape[1:]).transpose(1, 2)  # (B, 1, T, h, w)
    if cam.shape[0] != b or cam.ndim != inputs.ndim:
        raise ValueError(f"cannot map a layer attribution of shape {tuple(cam.shape)} onto inputs {tuple(inputs.shape)}")
    mode = "bilinear" if len(spatial) == 2 else "trilinear"
    return LayerAttribution.interpolate(cam, spatial, interpolate_mode=mode)


def blurred(inputs: torch.Tensor, sigma: float) -> torch.Tensor:
    """Each frame of (B, C, H, W) or (B, C, T, H, W) smoothed by a Gaussian of ``sigma`` pixels (H and W only).

    The reference image of a "blur" baseline (Sturmfels et al., Distill 2020, "Visualizing the impact of
    feature attribution baselines"): it keeps each region's brightness and removes its structure, so an
    attribution measures what the detail adds rather than what the brightness adds. Borders reflect.
    """
    radius = max(1, math.ceil(3 * sigma))
    k = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=inputs.dtype, device=inputs.device) / sigma) ** 2)
    k = k / k.sum()
    x = inputs.reshape(-1, 1, *inputs.shape[-2:])
    x = nn.functional.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = nn.functional.conv2d(x, k.reshape(1, 1, 1, -1))
    x = nn.functional.conv2d(x, k.reshape(1, 1, -1, 1))
    return x.reshape(inputs.shape)


def _baseline(inputs: torch.Tensor, baseline: float | str | torch.Tensor, blur_sigma: float | None
              ) -> float | torch.Tensor:
    """A constant, a tensor broadcastable to ``inputs``, or ``"blur"`` (the blurred input)."""
    if isinstance(baseline, str):
        if baseline != "blur":
            raise ValueError(f"baseline must be a number, a tensor or 'blur', not {baseline!r}")
        sigma = float(blur_sigma) if blur_sigma is not None else max(inputs.shape[-2:]) / 16
        with torch.no_grad():
            return blurred(inputs.detach(), sigma)
    if isinstance(baseline, torch.Tensor):
        return baseline.to(inputs.device, inputs.dtype).expand_as(inputs)
    return float(baseline)


def _occlusion_window(
    inputs: torch.Tensor, fraction: float, time_window: int | None
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Occluding window and stride (channels first): square patches of ``fraction`` of each side with half
    overlap; for clips, blocks of ``time_window`` frames (default a quarter of T) without overlap."""
    c, *dims = inputs.shape[1:]
    window, stride = [c], [c]
    if len(dims) == 3:
        t = dims.pop(0)
        tw = min(t, max(1, int(time_window) if time_window is not None else t // 4))
        window.append(tw)
        stride.append(tw)
    for size in dims:
        w = min(size, max(1, math.ceil(size * fraction)))
        window.append(w)
        stride.append(max(1, w // 2))
    return tuple(window), tuple(stride)


def attribute(
    model: nn.Module,
    inputs: torch.Tensor,
    target: torch.Tensor | Sequence[int] | int | None = None,
    method: str = "Saliency",
    *,
    layer: str | nn.Module | None = None,
    additional_forward_args: Any = None,
    baseline: float | str | torch.Tensor = 0.0,
    blur_sigma: float | None = None,
    n_steps: int = 16,
    internal_batch_size: int | None = None,
    smooth: str = "Saliency",
    nt_samples: int = 8,
    noise_std: float = 0.1,
    occlusion_fraction: float = 0.25,
    occlusion_time_window: int | None = None,
    perturbations_per_eval: int = 16,
) -> torch.Tensor:
    """Attribution maps of ``model``'s output ``target`` with respect to ``inputs``, channels summed.

    Args:
        model: image (B, C, H, W) or video (B, C, T, H, W) network; a segmentation network wrapped in
            :class:`RegionScore` (scalar per sample, ``target=None``).
        inputs: the batch, intensities as the network sees them (e.g. [0, 1]).
        target: class index per sample (B,), one for all, or None for a scalar-per-sample model.
        method: one of :data:`METHODS`. ``NoiseTunnel`` is SmoothGrad over ``smooth`` (Saliency or
            IntegratedGradients); ``LayerGradCam`` / ``GuidedGradCam`` work at ``layer`` and are up-sampled
            to the input grid (a per-frame layer of a video network gives one map per frame).
        layer: module or its name in ``model.named_modules()`` for the layer methods (default: the last
            convolution).
        additional_forward_args: passed to ``model.forward`` after the input (expanded with the batch).
        baseline: reference for IntegratedGradients and Occlusion: a constant (0 = black), a tensor
            broadcastable to ``inputs``, or ``"blur"``: the input blurred by ``blur_sigma`` pixels (default
            1/16 of the larger image side), see :func:`blurred`. A black baseline makes IG's maps follow the
            image's brightness (``benchmarks/results/saliency.md``); Occlusion with it cannot see dark
            structures (blood pools), since blacking them out changes little.
        n_steps, internal_batch_size: IntegratedGradients path steps and chunking.
        nt_samples, noise_std: NoiseTunnel samples and noise s.d. (input units, e.g. 0.1 of [0, 1]).
        occlusion_fraction: occluding patch side as a fraction of each image side (stride half of it).
        occlusion_time_window: frames per occluding patch for clips (default a quarter of T, no overlap).
        perturbations_per_eval: occluded copies per forward pass.

    Returns:
        float32 (B, H, W) or (B, T, H, W) on the input's device; signed, except LayerGradCam (ReLU'd, as
        Grad-CAM defines it) and Saliency (gradient magnitude).
    """
    if method not in METHODS:
        raise ValueError(f"unknown attribution method {method!r}; choose one of {', '.join(METHODS)}")
    if inputs.ndim not in (4, 5):
        raise ValueError(f"inputs must be (B, C, H, W) or (B, C, T, H, W), got shape {tuple(inputs.shape)}")
    if method in LAYER_METHODS and layer is None:
        layer = last_conv_layer(model)
    if isinstance(target, Sequence) and not isinstance(target, str):
        target = torch.as_tensor(list(target), dtype=torch.long, device=inputs.device)
    module = resolve_layer(model, layer) if isinstance(layer, str) else layer

    with explanation_mode(model):
        x = inputs.detach().clone().float().requires_grad_(True)
        if method in ("IntegratedGradients", "Occlusion") or (method == "NoiseTunnel" and smooth != "Saliency"):
            baseline = _baseline(x, baseline, blur_sigma)
        common: dict[str, Any] = {"target": target, "additional_forward_args": additional_forward_args}
        if method == "Saliency":
            attr = Saliency(model).attribute(x, abs=True, **common)
        elif method == "IntegratedGradients":
            attr = IntegratedGradients(model).attribute(
                x, baselines=baseline, n_steps=n_steps, internal_batch_size=internal_batch_size, **common
            )
        elif method == "NoiseTunnel":
            if smooth not in _SMOOTHABLE:
                raise ValueError(f"NoiseTunnel smooths one of {_SMOOTHABLE}, not {smooth!r}")
            base = Saliency(model) if smooth == "Saliency" else IntegratedGradients(model)
            extra = {"abs": True} if smooth == "Saliency" else {"baselines": baseline, "n_steps": n_steps}
            attr = NoiseTunnel(base).attribute(
                x, nt_type="smoothgrad", nt_samples=nt_samples, stdevs=float(noise_std), **extra, **common
            )
        elif method == "Occlusion":
            window, stride = _occlusion_window(x, occlusion_fraction, occlusion_time_window)
            with torch.no_grad():
                attr = Occlusion(model).attribute(
                    x, sliding_window_shapes=window, strides=stride, baselines=baseline,
                    perturbations_per_eval=perturbations_per_eval, **common,
                )
        else:
            # Grad-CAM: channel weights from the mean gradient at the layer, ReLU'd weighted sum.
            cam = LayerGradCam(model, module).attribute(x, relu_attributions=True, **common)
            attr = _upsample_layer_map(cam.detach(), x)
            if method == "GuidedGradCam":
                # Captum's GuidedGradCam is this product; composing it here also serves per-frame layers.
                with warnings.catch_warnings():
                    # Captum announces its temporary ReLU hooks on every call; they are removed after.
                    warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
                    guided = GuidedBackprop(model).attribute(x, **common)
                attr = guided * attr
        maps = attr.detach().float().sum(dim=1)
    return maps


def temporal_importance(maps: torch.Tensor) -> torch.Tensor:
    """(B, T, H, W) maps -> (B, T): each frame's share of the absolute attribution (rows sum to 1)."""
    if maps.ndim != 4:
        raise ValueError(f"temporal importance needs clip maps (B, T, H, W), got shape {tuple(maps.shape)}")
    per_frame = maps.abs().flatten(2).sum(dim=2)
    total = per_frame.sum(dim=1, keepdim=True)
    return per_frame / torch.where(total > 0, total, torch.ones_like(total))
