"""The bundles' explain.json overrides: they add the handlers to the evaluator and fit the bundle's network."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigParser

from echo_monai.explain.attribution import attribute, resolve_layer
from echo_monai.handlers.filters import LearnedFilterHandler
from echo_monai.handlers.saliency import CaptumSaliencyHandler

torch.set_num_threads(1)
BUNDLES = Path(__file__).resolve().parents[2] / "bundles"


def _parser(bundle: str, tmp_path: Path) -> tuple[ConfigParser, list[str]]:
    configs = BUNDLES / bundle / "configs"
    files = [configs / f"{n}.json" for n in ("train", "evaluate", "explain")]
    if not all(f.is_file() for f in files):
        pytest.skip(f"{bundle} configs not present")
    plain = ConfigParser()
    plain.read_config([str(f) for f in files[:2]])
    before = [h.get("_target_") for h in plain["validate#handlers"]]
    parser = ConfigParser()
    parser.read_config([str(f) for f in files])
    parser["bundle_root"] = str(tmp_path)
    parser.parse()
    parser.get_parsed_content("imports")
    return parser, before


@pytest.mark.parametrize("bundle", ["echo_view_classification", "echo_lv_wall_segmentation"])
def test_explain_override_adds_handlers_that_fit_the_network(bundle: str, tmp_path) -> None:
    parser, before = _parser(bundle, tmp_path)
    handlers = parser["validate#handlers"]
    after = [h.get("_target_") for h in handlers]
    # "+" merge: the evaluation handlers stay, ours come after them
    assert after[: len(before)] == before
    assert after[len(before):] == ["echo_monai.handlers.saliency.CaptumSaliencyHandler",
                                   "echo_monai.handlers.filters.LearnedFilterHandler"]
    saliency = parser.get_parsed_content(f"validate#handlers#{len(before)}")
    filters = parser.get_parsed_content(f"validate#handlers#{len(before) + 1}")
    assert isinstance(saliency, CaptumSaliencyHandler) and isinstance(filters, LearnedFilterHandler)
    assert saliency.output_dir.is_relative_to(tmp_path) and filters.output_dir.is_relative_to(tmp_path)
    network = parser.get_parsed_content("network_def")
    for layer in [saliency.layer, *(filters.layers or [])]:
        if layer is not None:
            resolve_layer(network, layer)
    if bundle == "echo_view_classification":
        assert saliency.task == "classification" and saliency.class_names is not None
        size = parser.get_parsed_content("image_size")
        x = torch.rand(1, parser.get_parsed_content("in_channels"), 8, *size)
        maps = attribute(network, x, 0, saliency.method, layer=saliency.layer, **saliency.method_args)
        assert maps.shape == (1, 8, *size) and torch.isfinite(maps).all()
    else:
        assert saliency.task == "segmentation" and saliency.label_key is None
