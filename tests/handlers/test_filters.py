"""LearnedFilterHandler: kernels and feature maps drawn at the end of a real evaluator / trainer run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.data import DataLoader, Dataset
from monai.engines import SupervisedEvaluator, SupervisedTrainer
from PIL import Image

from echo_monai.handlers.filters import LearnedFilterHandler, first_conv
from echo_monai.networks import GatedSpatioTemporalNet, Plain3DCNN

torch.set_num_threads(1)


def _clips(n: int = 2, frames: int = 4, size: int = 24) -> list[dict]:
    from monai.data import MetaTensor

    rng = np.random.default_rng(0)
    return [{"image": MetaTensor(torch.from_numpy(rng.random((1, frames, size, size), dtype=np.float32)),
                                 meta={"filename_or_obj": f"/studies/SMITH^ANN/clip_{i}.dcm"}),
             "label": torch.tensor(i)} for i in range(n)]


def test_filters_from_json_at_the_end_of_evaluation(tmp_path) -> None:
    config = {
        "network": {"_target_": "echo_monai.networks.GatedSpatioTemporalNet", "in_channels": 1, "num_classes": 11,
                    "encoder_widths": [4, 8], "temporal_channels": 8},
        "handler": {"_target_": "echo_monai.handlers.filters.LearnedFilterHandler",
                    "output_dir": str(tmp_path / "filters"), "layers": ["frames.encoder.features.1"],
                    "max_maps": 3},
    }
    path = tmp_path / "filters.json"
    path.write_text(json.dumps(config))
    parser = ConfigParser()
    parser.read_config(str(path))
    net = parser.get_parsed_content("network")
    handler = parser.get_parsed_content("handler")
    evaluator = SupervisedEvaluator(torch.device("cpu"), DataLoader(Dataset(_clips()), batch_size=2), net,
                                    val_handlers=[handler], decollate=False)
    evaluator.run()
    out = tmp_path / "filters"
    names = sorted(p.name for p in out.iterdir())
    # the last batch's first clip names the feature picture; no folder (patient) name anywhere
    assert names == ["clip_0_features_frames.encoder.features.1.png", "first_conv_frames.encoder.features.0.0.png"]
    with Image.open(out / "first_conv_frames.encoder.features.0.0.png") as png:
        # 4 kernels of 3x3 at 12x zoom on a 2x2 grid with 2 px gaps, under an 18 px caption band
        assert png.height == 2 + 2 * (36 + 2) + 18
    with Image.open(out / "clip_0_features_frames.encoder.features.1.png") as png:
        assert png.height > 96  # 3 maps enlarged to >= 96 px each


def test_features_are_those_of_the_layer(tmp_path) -> None:
    torch.manual_seed(0)
    net = Plain3DCNN(1, 11, widths=(4, 8))
    x = torch.rand(1, 1, 4, 16, 16)
    handler = LearnedFilterHandler(tmp_path, layers=["features.2"], max_maps=8)
    (kernels, features) = [handler.draw_kernels(net)] + handler.draw_features(net, x, "sample")
    with Image.open(kernels) as png:
        # 3D kernels (4, 1, 3, 3, 3): three time slices side by side in each tile, 2x2 tiles
        assert png.width >= 2 + 2 * (3 * 36 + 2) and png.height == 2 + 2 * (36 + 2) + 18
    net.eval()
    with torch.no_grad():
        act = net.features[:3](x)[0, :, 2]  # (C, h, w): the middle of 4 time slices
    from echo_monai.explain.figures import feature_grid

    expected, _ = feature_grid(act.numpy(), 8)
    with Image.open(features) as png:
        drawn = np.asarray(png)[18:]
    # the grid sits under the caption band, left-aligned (the band may be wider than the grid)
    assert drawn.shape[0] == expected.shape[0] and drawn.shape[1] >= expected.shape[1]
    assert np.array_equal(drawn[:, : expected.shape[1]], expected)


def test_a_clip_for_a_frame_network_is_drawn_through_its_middle_frame(tmp_path) -> None:
    from echo_monai.networks import WallUNet

    torch.manual_seed(0)
    net = WallUNet(2, 1, 1, channels=(4, 8))
    clip = torch.rand(1, 1, 5, 16, 16)
    (path,) = LearnedFilterHandler(tmp_path, layers=["down.0"], max_maps=4).draw_features(net, clip, "clip")
    with torch.no_grad():
        act = net.down[0](clip[:, :, 2])[0]
    from echo_monai.explain.figures import feature_grid

    expected, _ = feature_grid(act.numpy(), 4)
    with Image.open(path) as png:
        drawn = np.asarray(png)[18:]
    assert np.array_equal(drawn[:, : expected.shape[1]], expected)


def test_at_the_end_of_training(tmp_path) -> None:
    torch.manual_seed(0)
    net = GatedSpatioTemporalNet(1, 11, encoder_widths=(4, 8), temporal_channels=8)
    trainer = SupervisedTrainer(
        torch.device("cpu"), 1, DataLoader(Dataset(_clips()), batch_size=2), net,
        torch.optim.SGD(net.parameters(), lr=0.1), torch.nn.CrossEntropyLoss(), decollate=False,
        train_handlers=[LearnedFilterHandler(tmp_path, event="epoch_completed")],
    )
    first = first_conv(net)[1].weight.detach().clone()
    trainer.run()
    # drawn after the update: the picture shows the trained kernels
    assert not torch.equal(first, first_conv(net)[1].weight)
    with Image.open(tmp_path / "first_conv_frames.encoder.features.0.0.png") as png:
        assert png.height == 2 + 2 * (36 + 2) + 18


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match="unknown Ignite event"):
        LearnedFilterHandler("x", event="END")
    with pytest.raises(ValueError, match="no Conv2d / Conv3d"):
        first_conv(torch.nn.Linear(2, 2))
