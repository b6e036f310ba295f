"""EfficientNet image classifiers with offline ImageNet weights.

The reference single-frame view classifier is an EfficientNet-b2 on ECG-gated frames (92.4 % micro-F1).
MONAI's ``EfficientNetBN(pretrained=True)`` downloads its weights, which fails without internet; here the
weights only ever come from a local file the user already has (the file MONAI would download, or a
MONAI-format state dict). Greyscale echo is handled by summing the RGB kernels of the first convolution,
which gives a grey image the same response an RGB image of equal channels would get.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch
from monai.networks.nets import EfficientNetBN
from monai.networks.nets.efficientnet import EfficientNet, url_map
from torch import nn

from echo_monai.errors import EchoDataError

__all__ = ["efficientnet", "efficientnet_b2", "imagenet_weights_filename", "load_efficientnet_weights"]

# MONAI nests blocks as ``_blocks.<stage>.<index>``; the released (efficientnet_pytorch) files use a
# flat ``_blocks.<index>``. This is the same mapping MONAI applies to its downloads.
_NESTED_BLOCK = re.compile(r"(.+)\.\d+(\.\d+\..+)")
_FIRST_CONV = "_conv_stem.weight"
_HEAD_KEYS = ("_fc.weight", "_fc.bias")


def imagenet_weights_filename(model_name: str) -> str:
    """File name MONAI / efficientnet_pytorch use for the ImageNet weights of ``model_name``.

    Example: ``efficientnet-b2`` -> ``efficientnet-b2-8bb594d6.pth``.
    """
    if model_name not in url_map:
        raise ValueError(f"no ImageNet weights are published for {model_name!r}; known: {', '.join(url_map)}")
    return url_map[model_name].rsplit("/", 1)[-1]


def _cached_weights(model_name: str) -> Path | None:
    """The weights file in the torch hub cache, where an earlier online download would have put it."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / imagenet_weights_filename(model_name)
    return path if path.is_file() else None


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt / pickled-object files
        raise EchoDataError(
            path, f"cannot read as a PyTorch weights file ({type(err).__name__}: {err})"
        ) from err
    # Training checkpoints often wrap the weights: accept the usual keys.
    for key in ("state_dict", "model", "network"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise EchoDataError(path, "does not hold a state dict (a mapping of parameter names to tensors)")
    # DataParallel / DDP checkpoints prefix every key with "module."
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _adapt_first_conv(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Adapt a (out, 3, k, k) stem kernel to ``in_channels`` input channels.

    One channel: sum over RGB (a grey image x gives the response of the RGB image (x, x, x)). Other
    counts: tile the RGB kernels and rescale so the summed response keeps its magnitude.
    """
    src = weight.shape[1]
    if src == in_channels:
        return weight
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    reps = -(-in_channels // src)
    return weight.repeat(1, reps, 1, 1)[:, :in_channels] * (src / in_channels)


def load_efficientnet_weights(model: EfficientNet, path: str | os.PathLike) -> list[str]:
    """Load EfficientNet weights from a local file into ``model``, in place.

    Accepts the released ImageNet files (flat block names, e.g. ``efficientnet-b2-8bb594d6.pth``) and
    MONAI-format state dicts, optionally wrapped in a checkpoint dict (``state_dict`` / ``model``). The
    first convolution is adapted to the model's input channels; the classifier head is skipped when its
    shape differs (e.g. 11 views instead of 1000 ImageNet classes).

    Returns:
        the names of the model's parameters left at their initial values (the head, or nothing).

    Raises:
        EchoDataError: the file is missing, unreadable, or belongs to another architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise EchoDataError(path, "EfficientNet weights file not found")
    source = _read_state_dict(path)
    target = model.state_dict()
    loaded: dict[str, torch.Tensor] = {}
    missing: list[str] = []
    mismatched: list[str] = []
    for key, value in target.items():
        src_key = key if key in source else _NESTED_BLOCK.sub(r"\1\2", key)
        if src_key not in source:
            missing.append(key)
            continue
        src_value = source[src_key]
        if key == _FIRST_CONV and src_value.ndim == value.ndim:
            src_value = _adapt_first_conv(src_value, value.shape[1])
        if src_value.shape != value.shape:
            mismatched.append(f"{key} {tuple(src_value.shape)} vs model {tuple(value.shape)}")
            continue
        loaded[key] = src_value.to(value.dtype)
    skipped = [k for k in _HEAD_KEYS if k in target and k not in loaded]
    # Files converted from TensorFlow (the released ones among them) carry no batch-norm step counters.
    problems = [k for k in missing if k not in _HEAD_KEYS and not k.endswith("num_batches_tracked")]
    problems += [m for m in mismatched if m.split(" ", 1)[0] not in _HEAD_KEYS]
    if problems:
        raise EchoDataError(
            path,
            f"does not match this EfficientNet ({len(problems)} parameters missing or of another shape, "
            f"e.g. {'; '.join(problems[:3])}); is it the file of another EfficientNet variant?",
        )
    target.update(loaded)
    model.load_state_dict(target)
    return skipped


def efficientnet(
    model_name: str = "efficientnet-b2",
    in_channels: int = 1,
    num_classes: int = 11,
    *,
    pretrained: bool = False,
    weights_path: str | os.PathLike | None = None,
    spatial_dims: int = 2,
    bn_momentum: float | None = 0.1,
) -> EfficientNetBN:
    """MONAI ``EfficientNetBN`` that never downloads: ImageNet weights come from a local file only.

    Args:
        model_name: ``efficientnet-b0`` ... ``efficientnet-b7``.
        in_channels: 1 (grey) or 3 (RGB); other counts work, the stem kernels are tiled.
        num_classes: number of outputs (11 views).
        pretrained: load ImageNet weights. Without ``weights_path`` the file is looked up in the torch
            hub cache (``$TORCH_HOME/hub/checkpoints/<name>-<hash>.pth``); if it is not there this fails.
        weights_path: a local weights file (implies ``pretrained``).
        spatial_dims: 2 for frames (B, C, H, W); 3 for volumes / clips (B, C, T, H, W), without weights.
        bn_momentum: batch-norm running-statistics momentum (PyTorch convention). MONAI keeps TensorFlow's
            0.01, whose running statistics lag behind the weights for the first few hundred steps: trained
            from scratch on synthetic ED frames, the eval-mode model still predicted one class after 4
            epochs (test accuracy 0.09) while 0.1 gave 0.34 with identical weights updates. ``None`` keeps
            MONAI's value. It only changes how statistics are averaged in training, not the weights format.

    Returns:
        a network mapping (B, in_channels, H, W) to logits (B, num_classes).

    Raises:
        ValueError: ``pretrained=True`` and no weights file was given or cached, or 3D with weights.
        EchoDataError: the weights file is missing, unreadable or of another architecture.
    """
    if pretrained or weights_path is not None:
        if spatial_dims != 2:
            raise ValueError("ImageNet weights exist for 2D EfficientNets only (spatial_dims=2)")
        if weights_path is None:
            weights_path = _cached_weights(model_name)
            if weights_path is None:
                raise ValueError(
                    f"pretrained=True needs a local weights file: nothing is downloaded here. Pass "
                    f"weights_path=<path to {imagenet_weights_filename(model_name)}> (published at "
                    f"{url_map[model_name]}) or put that file in "
                    f"{Path(torch.hub.get_dir()) / 'checkpoints'}; or use pretrained=False."
                )
    net = EfficientNetBN(
        model_name,
        pretrained=False,
        spatial_dims=spatial_dims,
        in_channels=in_channels,
        num_classes=num_classes,
    )
    # MONAI draws the classifier from U(+-1/sqrt(num_classes)): over 1408 features that gives initial logits
    # with a standard deviation of ~3 and a first loss of ~3.7 for 11 views, and training from scratch at
    # 2e-3 diverged (the demo's image model stayed at chance). A small classifier starts at ln(num_classes).
    nn.init.normal_(net._fc.weight, std=0.01)
    nn.init.zeros_(net._fc.bias)
    if bn_momentum is not None:
        for module in net.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.momentum = float(bn_momentum)
    if weights_path is not None:
        load_efficientnet_weights(net, weights_path)  # the new classifier is never taken from the file
    return net


def efficientnet_b2(
    in_channels: int = 1,
    num_classes: int = 11,
    *,
    pretrained: bool = False,
    weights_path: str | os.PathLike | None = None,
    spatial_dims: int = 2,
) -> EfficientNetBN:
    """The reference single-frame view classifier: EfficientNet-b2 (9.1 M parameters at 11 classes).

    Input (B, in_channels, H, W) frames scaled to [0, 1] (native size 260 px; 112-224 px work), output
    logits (B, num_classes). See :func:`efficientnet` for the weights arguments.
    """
    return efficientnet(
        "efficientnet-b2",
        in_channels,
        num_classes,
        pretrained=pretrained,
        weights_path=weights_path,
        spatial_dims=spatial_dims,
    )
