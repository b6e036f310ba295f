"""Export the networks of the two echo bundles, with the preprocessing settings a deployed model needs.

A bundle network is named by a *variant*: ``default`` (``train.json`` alone), the stem of a file in
``configs/networks/`` (e.g. ``gated``, ``wall_unet_2dt``), or ``image`` (the view bundle's
``train_image.json``, single frames). :func:`build_bundle_network` builds one from the bundle's own
configs, so the exported network is exactly what the bundle trains.

The exported files carry two JSON texts (inside ``model.ts`` as TorchScript extra files, beside
``model.onnx`` as ``model.<key>``): ``metadata.json`` (the bundle's) and ``echo_monai.json`` (task,
class names, input shape, frame size, frames per cycle, cycles, temporal context), which is what the
MONAI Deploy app reads to preprocess cines the way the bundle did.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from monai.bundle import ConfigParser
from torch import nn

from echo_monai.errors import EchoDataError
from echo_monai.export.convert import ExportReport, export_network

__all__ = [
    "BundleNetwork",
    "build_bundle_network",
    "bundle_variants",
    "export_bundle",
    "load_checkpoint",
    "read_model_settings",
]

SETTINGS_FILE = "echo_monai.json"


@dataclass
class BundleNetwork:
    """A network built from a bundle config, with the input it takes and the settings to preprocess for it."""

    network: nn.Module
    input_shape: list[int]
    settings: dict[str, Any]
    metadata: dict[str, Any]


def bundle_variants(bundle_dir: str | os.PathLike) -> dict[str, list[str]]:
    """Variant name -> config files (relative to the bundle) that define its network, ``train.json`` first."""
    root = Path(bundle_dir)
    if not (root / "configs" / "train.json").is_file():
        raise EchoDataError(root, "not an echo bundle (configs/train.json missing)")
    variants = {"default": ["configs/train.json"]}
    for f in sorted((root / "configs" / "networks").glob("*.json")):
        variants[f.stem] = ["configs/train.json", f"configs/networks/{f.name}"]
    if (root / "configs" / "train_image.json").is_file():
        variants["image"] = ["configs/train.json", "configs/train_image.json"]
    return variants


def build_bundle_network(
    bundle_dir: str | os.PathLike, variant: str = "default", overrides: Mapping[str, Any] | None = None,
    batch: int = 1,
) -> BundleNetwork:
    """Build the network of ``variant`` from the bundle's configs (``overrides``: config ids -> values).

    The task is ``"wall"`` for a bundle whose config has ``temporal_context`` and ``"view"`` otherwise;
    view networks take (B, C, T, H, W) clips except the ``image`` variant, (B, C, H, W).
    """
    root = Path(bundle_dir).resolve()
    variants = bundle_variants(root)
    if variant not in variants:
        raise EchoDataError(root, f"no network variant {variant!r} (available: {', '.join(variants)})")
    parser = ConfigParser()
    parser.read_config([str(root / f) for f in variants[variant]])
    meta_path = root / "configs" / "metadata.json"
    metadata = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    parser["bundle_root"] = str(root)
    for key, value in (overrides or {}).items():
        parser[key] = value
    net = parser.get_parsed_content("network_def", instantiate=True)
    image_size = [int(s) for s in parser.get_parsed_content("image_size")]
    in_channels = int(parser.get_parsed_content("in_channels"))
    if parser.get("temporal_context") is not None:
        k = int(parser.get_parsed_content("temporal_context"))
        settings = {"task": "wall", "temporal_context": k, "out_channels": int(parser.get_parsed_content("out_channels"))}
        shape = [batch, in_channels * (2 * k + 1), *image_size]
    else:
        names = [str(n) for n in parser.get_parsed_content("class_names")]
        settings = {"task": "view", "class_names": names, "num_frames": int(parser.get_parsed_content("num_frames")),
                    "max_cycles": parser.get_parsed_content("max_cycles")}
        # the input pipeline masks the outside of the scan sector: the Deploy app must do the same
        settings["sector_mask"] = parser.get("sector_mask") is not None
        if variant == "image":
            settings["gated_phase"] = str(parser.get_parsed_content("gated_phase"))
            shape = [batch, in_channels, *image_size]
        else:
            shape = [batch, in_channels, settings["num_frames"], *image_size]
    settings.update({"variant": variant, "in_channels": in_channels, "image_size": image_size,
                     "input_shape": shape, "bundle": metadata.get("name", root.name),
                     "bundle_version": metadata.get("version", "")})
    return BundleNetwork(net.eval(), shape, settings, metadata)


def load_checkpoint(net: nn.Module, path: str | os.PathLike, key: str = "model") -> nn.Module:
    """Load a bundle checkpoint (a plain state dict, or ``{key: state dict, ...}`` as CheckpointSaver writes)."""
    ckpt_path = Path(path)
    try:
        state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise EchoDataError(ckpt_path, f"cannot read the checkpoint ({exc})") from exc
    if isinstance(state, Mapping) and key in state and isinstance(state[key], Mapping):
        state = state[key]
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise EchoDataError(ckpt_path, f"the checkpoint does not fit this network ({str(exc).splitlines()[0]})") from exc
    return net


def export_bundle(
    bundle_dir: str | os.PathLike, out_dir: str | os.PathLike, variant: str = "default",
    ckpt: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None, name: str = "model",
) -> ExportReport:
    """Build, optionally load ``ckpt`` into, export and verify a bundle network (files in ``out_dir``).

    Writes ``<name>.ts``, ``<name>.onnx`` (+ ``<name>.metadata.json``, ``<name>.echo_monai.json``) and
    ``<name>.export.json`` (the :class:`ExportReport`). Without ``ckpt`` the weights are the random
    initial ones (useful only to test the route).
    """
    built = build_bundle_network(bundle_dir, variant, overrides)
    if ckpt is not None:
        load_checkpoint(built.network, ckpt)
    built.settings["weights"] = Path(ckpt).name if ckpt is not None else "untrained"
    example = torch.rand(built.input_shape, generator=torch.Generator().manual_seed(1))
    extra = {"metadata.json": json.dumps(built.metadata), SETTINGS_FILE: json.dumps(built.settings)}
    return export_network(built.network, example, out_dir, name, video=len(built.input_shape) == 5,
                          extra_files=extra)


def read_model_settings(path: str | os.PathLike) -> dict[str, Any]:
    """The ``echo_monai.json`` settings stored in an exported ``.ts`` file (or beside an ``.onnx`` file).

    Raises:
        EchoDataError: the file is missing or carries no settings (e.g. written by ``monai.bundle
            ckpt_export``, which stores the configs but not the resolved sizes; export it with
            ``python -m echo_monai.export`` instead).
    """
    model = Path(path)
    if not model.is_file():
        raise EchoDataError(model, "model file not found")
    if model.suffix == ".onnx":
        side = model.with_name(f"{model.stem}.{SETTINGS_FILE}")
        if not side.is_file():
            raise EchoDataError(model, f"no {side.name} beside the ONNX model")
        return json.loads(side.read_text(encoding="utf-8"))
    files = {SETTINGS_FILE: ""}
    try:
        torch.jit.load(str(model), map_location="cpu", _extra_files=files)
    except RuntimeError as exc:
        raise EchoDataError(model, f"not a TorchScript file ({str(exc).splitlines()[0]})") from exc
    if not files[SETTINGS_FILE]:
        raise EchoDataError(model, f"carries no {SETTINGS_FILE} (export it with python -m echo_monai.export)")
    return json.loads(files[SETTINGS_FILE])
