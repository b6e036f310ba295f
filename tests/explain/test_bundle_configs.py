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


@pytest.mark.slow
def test_view_bundle_evaluation_writes_explanations(tmp_path) -> None:
    """Train one epoch with the real bundle CLI on a tiny synthetic set, then evaluate with explain.json."""
    import json
    import os
    import subprocess
    import sys

    from echo_monai.synthetic.dataset import make_dataset

    bundle = BUNDLES / "echo_view_classification"
    if not (bundle / "configs" / "evaluate.json").is_file():
        pytest.skip("view bundle not present")
    data_dir = tmp_path / "views"
    data = make_dataset(data_dir, n_patients=2, clips_per_view=2, n_frames=48, size=96, seed=5, workers=2,
                        figure=False)
    items = sorted((i for split in data.values() for i in split), key=lambda i: i["image"])
    by_view: dict[str, list[dict]] = {}
    for item in items:
        by_view.setdefault(item["view"], []).append(item)
    first, second = [v[0] for v in by_view.values()], [v[1] for v in by_view.values()]
    (data_dir / "views.json").write_text(json.dumps({"training": first, "validation": second, "test": second}))
    out = tmp_path / "run"
    common = ["--meta_file", "configs/metadata.json", "--logging_file", "configs/logging.conf",
              "--dataset_dir", str(data_dir), "--datalist", str(data_dir / "views.json"), "--bundle_root", str(out),
              "--image_size", "[32, 32]", "--num_frames", "8", "--batch_size", "4", "--val_batch_size", "4"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}

    def run(configs: list[str], *extra: str) -> None:
        cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file", repr(configs), *common, *extra]
        proc = subprocess.run(cmd, cwd=bundle, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    run(["configs/train.json"], "--max_epochs", "1")
    run(["configs/train.json", "configs/evaluate.json", "configs/explain.json"], "--saliency_max_samples", "3")
    explain_dir = out / "output" / "explain"
    method = json.loads((bundle / "configs" / "explain.json").read_text())["saliency_method"]
    with open(explain_dir / method / f"saliency_{method}.csv") as f:
        rows = f.read().splitlines()[1:]
    assert len(rows) == 3
    sources = {Path(i["image"]).name for i in second}
    assert all(r.split(",")[1] in sources for r in rows)
    assert len(list((explain_dir / method).glob(f"*_{method}.gif"))) == 3
    assert list((explain_dir / "filters").glob("first_conv_*.png"))
    assert len(list((explain_dir / "filters").glob("*_features_*.png"))) == 2  # first and last convolution


@pytest.mark.slow
def test_wall_bundle_evaluation_writes_explanations(tmp_path) -> None:
    """Train the wall bundle one epoch (tiny UNet, 32 px) and evaluate whole clips with explain.json."""
    import os
    import subprocess
    import sys

    from echo_monai.datasets.wall import prepare_wall_dataset
    from echo_monai.synthetic.dataset import make_dataset

    bundle = BUNDLES / "echo_lv_wall_segmentation"
    if not (bundle / "configs" / "evaluate.json").is_file():
        pytest.skip("wall bundle not present")
    make_dataset(tmp_path / "synthetic", n_patients=4, clips_per_view=4, n_frames=40, size=96, seed=3,
                 views=["A4C"], workers=1, figure=False)
    prepare_wall_dataset(tmp_path / "synthetic", tmp_path / "nifti", size=48)
    root = tmp_path / "bundle"
    configs = bundle / "configs"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    tiny = ["--dataset_dir", str(tmp_path / "nifti"), "--image_size", "[32,32]", "--network_def#channels",
            "[4,8,16]", "--frames_per_clip", "2", "--meta_file", str(configs / "metadata.json"),
            "--logging_file", str(configs / "logging.conf"), "--bundle_root", str(root)]

    def run(names: list[str], *extra: str) -> None:
        files = "[" + ",".join(f"'{configs / n}'" for n in names) + "]"
        cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file", files, *tiny, *extra]
        proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    run(["train.json"], "--max_epochs", "1")
    run(["train.json", "evaluate.json", "explain.json"], "--write_figures", "False", "--saliency_clip_frames", "2")
    out = root / "output" / "explain"
    rows = (out / "IntegratedGradients" / "saliency_IntegratedGradients.csv").read_text().splitlines()
    assert len(rows) == 2  # header + the one test clip
    gifs = list((out / "IntegratedGradients").glob("*_IntegratedGradients.gif"))
    assert len(gifs) == 1
    assert list((out / "filters").glob("first_conv_*.png")) and list((out / "filters").glob("*_features_bottom.png"))
