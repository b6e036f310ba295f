"""EfficientNet builders: shapes, offline-only pretrained weights, first-conv adaptation."""

from __future__ import annotations

import re

import pytest
import torch
from monai.networks.nets import EfficientNetBN

from echo_monai.errors import EchoDataError
from echo_monai.networks.efficientnet import (
    efficientnet,
    efficientnet_b2,
    imagenet_weights_filename,
    load_efficientnet_weights,
)

torch.set_num_threads(1)


def _released_format_file(path, model_name: str = "efficientnet-b0") -> dict[str, torch.Tensor]:
    """Write an RGB, 1000-class state dict with the released file's flat block names; return it."""
    torch.manual_seed(1)
    rgb = EfficientNetBN(model_name, pretrained=False, in_channels=3, num_classes=1000)
    flat = {re.sub(r"^_blocks\.\d+\.(\d+)\.", r"_blocks.\1.", k): v for k, v in rgb.state_dict().items()}
    torch.save(flat, path)
    return flat


@pytest.mark.parametrize(("in_channels", "num_classes"), [(1, 11), (3, 11), (1, 5)])
def test_efficientnet_b2_output_shape(in_channels, num_classes):
    net = efficientnet_b2(in_channels, num_classes).eval()
    assert net(torch.rand(2, in_channels, 64, 64)).shape == (2, num_classes)


def test_untrained_classifier_starts_near_chance():
    # MONAI's default head gave logits with std ~3 (first loss ~3.7 for 11 views); training from scratch diverged
    torch.manual_seed(0)
    net = efficientnet("efficientnet-b0", 1, 11)
    logits = net(torch.rand(8, 1, 64, 64))
    loss = torch.nn.functional.cross_entropy(logits, torch.arange(8))
    assert logits.std() < 0.5
    assert abs(loss.item() - torch.log(torch.tensor(11.0)).item()) < 0.2


def test_pretrained_without_file_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache
    with pytest.raises(ValueError, match="weights_path") as err:
        efficientnet_b2(pretrained=True)
    assert imagenet_weights_filename("efficientnet-b2") in str(err.value)
    assert imagenet_weights_filename("efficientnet-b2") == "efficientnet-b2-8bb594d6.pth"


def test_local_released_weights_load_into_grey_model(tmp_path):
    flat = _released_format_file(tmp_path / "b0.pth")
    grey = efficientnet("efficientnet-b0", in_channels=1, num_classes=11, weights_path=tmp_path / "b0.pth")
    state = grey.state_dict()
    assert torch.equal(state["_conv_stem.weight"], flat["_conv_stem.weight"].sum(dim=1, keepdim=True))
    assert torch.equal(state["_blocks.1.2._depthwise_conv.weight"], flat["_blocks.2._depthwise_conv.weight"])
    assert state["_fc.weight"].shape == (11, 1280)  # the 1000-class head was dropped, not forced in


def test_released_file_without_batch_norm_counters_loads(tmp_path):
    flat = _released_format_file(tmp_path / "b0.pth")
    torch.save({k: v for k, v in flat.items() if not k.endswith("num_batches_tracked")}, tmp_path / "tf.pth")
    net = efficientnet("efficientnet-b0", in_channels=3, num_classes=1000, weights_path=tmp_path / "tf.pth")
    assert torch.equal(net.state_dict()["_conv_head.weight"], flat["_conv_head.weight"])


def test_grey_model_matches_rgb_model_on_grey_images(tmp_path):
    _released_format_file(tmp_path / "b0.pth")
    grey = efficientnet("efficientnet-b0", 1, 1000, weights_path=tmp_path / "b0.pth").eval()
    rgb = efficientnet("efficientnet-b0", 3, 1000, weights_path=tmp_path / "b0.pth").eval()
    x = torch.rand(1, 1, 64, 64)
    torch.testing.assert_close(grey(x), rgb(x.expand(-1, 3, -1, -1)), atol=1e-4, rtol=1e-4)


def test_pretrained_true_uses_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    flat = _released_format_file(cache / imagenet_weights_filename("efficientnet-b0"))
    net = efficientnet("efficientnet-b0", in_channels=3, num_classes=1000, pretrained=True)
    assert torch.equal(net.state_dict()["_fc.weight"], flat["_fc.weight"])


def test_monai_format_checkpoint_loads(tmp_path):
    src = efficientnet("efficientnet-b0", 1, 11)
    torch.save({"epoch": 3, "state_dict": src.state_dict()}, tmp_path / "ckpt.pt")
    dst = efficientnet("efficientnet-b0", 1, 11)
    assert load_efficientnet_weights(dst, tmp_path / "ckpt.pt") == []
    for key, value in src.state_dict().items():
        assert torch.equal(dst.state_dict()[key], value), key


def test_weights_of_another_variant_are_rejected(tmp_path):
    _released_format_file(tmp_path / "b0.pth")
    with pytest.raises(EchoDataError, match="b0.pth: does not match"):
        efficientnet_b2(weights_path=tmp_path / "b0.pth")


def test_unreadable_or_missing_weights_file(tmp_path):
    (tmp_path / "broken.pth").write_bytes(b"not a torch file")
    with pytest.raises(EchoDataError, match="broken.pth: cannot read"):
        efficientnet_b2(weights_path=tmp_path / "broken.pth")
    with pytest.raises(EchoDataError, match="absent.pth: EfficientNet weights file not found"):
        efficientnet_b2(weights_path=tmp_path / "absent.pth")


def test_3d_efficientnet_has_no_weights():
    net = efficientnet_b2(1, 11, spatial_dims=3).eval()
    assert net(torch.rand(1, 1, 32, 32, 32)).shape == (1, 11)
    with pytest.raises(ValueError, match="2D"):
        efficientnet_b2(spatial_dims=3, pretrained=True)


def test_batch_norm_momentum_for_training_from_scratch():
    bns = lambda net: [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert {m.momentum for m in bns(efficientnet("efficientnet-b0", 1, 11))} == {0.1}
    assert {round(m.momentum, 4) for m in bns(efficientnet("efficientnet-b0", 1, 11, bn_momentum=None))} == {0.01}
