"""Attribution methods on image, video and segmentation networks: where the maps fall, and no trace left."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from echo_monai.explain.attribution import (
    LAYER_METHODS,
    METHODS,
    ClassContrast,
    RegionScore,
    attribute,
    blurred,
    explanation_mode,
    last_conv_layer,
    resolve_layer,
    temporal_importance,
)
from echo_monai.networks import GatedSpatioTemporalNet, Plain3DCNN, SmallFrameCNN, WallUNet

torch.set_num_threads(1)
SIZE = 32
FRAMES = 8


class KeepRegion(nn.Module):
    """Zero the input outside a fixed box: the wrapped network can only use what is inside it."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.mask


def _image_net(seed: int = 0) -> tuple[nn.Module, torch.Tensor, str]:
    torch.manual_seed(seed)
    mask = torch.zeros(1, 1, SIZE, SIZE)
    mask[..., :16, :16] = 1
    net = nn.Sequential(KeepRegion(mask), SmallFrameCNN(1, (8, 16)), nn.Linear(16, 5))
    return net, mask[0, 0].bool(), "1.features.1"


def _video_net(seed: int = 0) -> tuple[nn.Module, torch.Tensor, str]:
    """Gated (per-frame encoder + temporal CNN) classifier that sees only frames 0-3, top-left box."""
    torch.manual_seed(seed)
    mask = torch.zeros(1, 1, FRAMES, SIZE, SIZE)
    mask[:, :, :4, :16, :16] = 1
    net = nn.Sequential(KeepRegion(mask), GatedSpatioTemporalNet(1, 5, encoder_widths=(8, 16), temporal_channels=8))
    return net, mask[0, 0].bool(), "1.frames.encoder.features.1"


def _plain3d_net(seed: int = 0) -> tuple[nn.Module, torch.Tensor, str]:
    torch.manual_seed(seed)
    mask = torch.zeros(1, 1, FRAMES, SIZE, SIZE)
    mask[:, :, :4, :16, :16] = 1
    net = nn.Sequential(KeepRegion(mask), Plain3DCNN(1, 5, widths=(8, 16)))
    return net, mask[0, 0].bool(), "1.features.2"


def _share(maps: torch.Tensor, region: torch.Tensor) -> float:
    a = maps.abs()
    return float(a[..., region].sum() / a.sum())


# Gradient methods are exactly zero outside the box. Grad-CAM weights activations, which are non-zero
# outside the box too (biases), and occlusion windows straddle its edge: for them, at least twice the share
# an even spread would give.
_EXACT = {"Saliency", "IntegratedGradients", "NoiseTunnel", "GuidedGradCam"}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("build", [_image_net, _video_net, _plain3d_net], ids=["image", "video-gated", "video-3d"])
def test_maps_fall_where_the_network_looks(method: str, build) -> None:
    net, region, layer = build()
    video = region.ndim == 3
    x = torch.rand(2, 1, *( (FRAMES,) if video else ()), SIZE, SIZE)
    maps = attribute(net, x, [1, 3], method, layer=layer if method in LAYER_METHODS else None,
                     n_steps=8, nt_samples=4)
    assert maps.shape == (2, *x.shape[2:])
    assert torch.isfinite(maps).all()
    assert maps.abs().sum() > 0
    even = float(region.float().mean())
    assert _share(maps, region) >= (0.999 if method in _EXACT else 2 * even)
    if video and method not in ("LayerGradCam", "Occlusion"):
        # Frames 4-7 never reach the network: all the temporal importance is on frames 0-3.
        assert temporal_importance(maps)[:, 4:].sum() < 1e-6


def test_grad_cam_defaults_to_the_last_convolution() -> None:
    net, _, _ = _image_net()
    assert last_conv_layer(net) == "1.features.3.0"
    x = torch.rand(1, 1, SIZE, SIZE)
    default = attribute(net, x, 2, "LayerGradCam")
    assert torch.equal(default, attribute(net, x, 2, "LayerGradCam", layer="1.features.3.0"))


def test_methods_differ_between_targets() -> None:
    net, _, _ = _image_net()
    x = torch.rand(1, 1, SIZE, SIZE)
    a = attribute(net, x, 0, "IntegratedGradients", n_steps=8)
    b = attribute(net, x, 4, "IntegratedGradients", n_steps=8)
    assert not torch.allclose(a, b)


def test_integrated_gradients_completeness() -> None:
    # IG's maps sum to the output difference between input and (black) baseline.
    net, _, _ = _image_net()
    x = torch.rand(1, 1, SIZE, SIZE)
    maps = attribute(net, x, 2, "IntegratedGradients", n_steps=64)
    with torch.no_grad():
        net.eval()
        delta = net(x)[0, 2] - net(torch.zeros_like(x))[0, 2]
    assert float(maps.sum()) == pytest.approx(float(delta), rel=0.05, abs=1e-3)


def test_blur_keeps_brightness_and_removes_detail() -> None:
    flat = torch.full((1, 1, 3, 16, 16), 0.7)
    assert torch.allclose(blurred(flat, 2.0), flat)  # a uniform region has no detail to lose
    torch.manual_seed(0)
    x = torch.rand(2, 1, SIZE, SIZE)
    smooth = blurred(x, 2.0)
    assert smooth.shape == x.shape
    assert float(smooth.mean()) == pytest.approx(float(x.mean()), abs=0.01)
    assert float(smooth.std()) < 0.4 * float(x.std())
    # Frames are blurred one by one: a clip's frame equals that frame blurred on its own.
    clip = torch.rand(1, 1, 4, SIZE, SIZE)
    assert torch.allclose(blurred(clip, 1.5)[:, :, 2], blurred(clip[:, :, 2], 1.5), atol=1e-6)


def test_blur_baseline_completeness_is_relative_to_the_blurred_input() -> None:
    # With a blurred reference, IG's maps sum to f(x) - f(blur(x)), not f(x) - f(black).
    net, _, _ = _image_net()
    torch.manual_seed(1)
    x = torch.rand(1, 1, SIZE, SIZE)
    maps = attribute(net, x, 2, "IntegratedGradients", baseline="blur", blur_sigma=3.0, n_steps=64)
    with torch.no_grad():
        net.eval()
        delta = net(x)[0, 2] - net(blurred(x, 3.0))[0, 2]
    assert float(maps.sum()) == pytest.approx(float(delta), rel=0.05, abs=1e-3)
    # A tensor reference equal to the input leaves nothing to attribute; occlusion with it changes nothing.
    assert float(attribute(net, x, 2, "IntegratedGradients", baseline=x.clone()).abs().sum()) == 0.0
    assert float(attribute(net, x, 2, "Occlusion", baseline=x.clone()).abs().sum()) == 0.0
    with pytest.raises(ValueError, match="'blur'"):
        attribute(net, x, 2, "IntegratedGradients", baseline="mean")


def test_no_gradient_leak_and_state_restored() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(SmallFrameCNN(1, (8, 16)), nn.Linear(16, 5))
    x = torch.rand(4, 1, SIZE, SIZE)
    nn.functional.cross_entropy(net(x), torch.tensor([0, 1, 2, 3])).backward()
    net[0].features[0][0].weight.requires_grad_(False)  # a frozen layer stays frozen
    grads = {n: (p.grad, None if p.grad is None else p.grad.clone()) for n, p in net.named_parameters()}
    flags = {n: p.requires_grad for n, p in net.named_parameters()}
    net.train()
    net[0].features[1].eval()  # a module the user put in eval mode stays there
    inplace = [m for m in net.modules() if isinstance(m, nn.ReLU)]
    assert all(m.inplace for m in inplace)

    with torch.inference_mode():  # as inside an evaluator iteration
        for method in METHODS:
            attribute(net, x, 1, method, layer="0.features.2", n_steps=4, nt_samples=2)

    for n, p in net.named_parameters():
        old, value = grads[n]
        assert p.grad is old
        if old is not None:
            assert torch.equal(p.grad, value)
        assert p.requires_grad == flags[n]
    assert net.training and not net[0].features[1].training and net[0].features[0].training
    assert all(m.inplace for m in inplace)


def test_explanation_mode_restores_after_an_error() -> None:
    net = nn.Sequential(nn.Linear(3, 2), nn.ReLU(inplace=True))
    net.train()
    with pytest.raises(RuntimeError, match="boom"), explanation_mode(net):
        assert not net.training and not net[0].weight.requires_grad and not net[1].inplace
        raise RuntimeError("boom")
    assert net.training and net[0].weight.requires_grad and net[1].inplace


def test_region_score_explains_only_the_region_and_its_receptive_field() -> None:
    torch.manual_seed(0)
    unet = WallUNet(2, 1, 2, channels=(4, 8))
    scorer = RegionScore(unet, channel=1)
    x = torch.rand(1, 1, 64, 64)
    region = torch.zeros(1, 64, 64, dtype=torch.bool)
    region[:, :4, :4] = True
    with torch.no_grad():
        expected = float(torch.softmax(unet(x), 1)[0, 1][region[0]].sum())
        assert float(scorer(x, region)) == pytest.approx(expected, rel=1e-5)
    maps = attribute(scorer, x, None, "Saliency", additional_forward_args=region)
    assert maps.shape == (1, 64, 64)
    assert maps[0, :4, :4].abs().sum() > 0
    # Two poolings and a bottleneck of 3x3 convolutions see at most ~45 px: the far corner cannot reach
    # the 4x4 region, so a score of that region owes it nothing.
    assert float(maps[0, 48:, 48:].abs().sum()) == 0.0
    # Batch-expanding methods expand the region with the input.
    ig = attribute(scorer, x, None, "IntegratedGradients", additional_forward_args=region, n_steps=4)
    assert ig[0, :4, :4].abs().sum() > 0
    assert float(ig[0, 48:, 48:].abs().sum()) == 0.0


def test_class_contrast_is_a_logit_difference() -> None:
    net, _, _ = _image_net()
    net.eval()
    x = torch.rand(3, 1, SIZE, SIZE)
    with torch.no_grad():
        logits = net(x)
        assert torch.allclose(ClassContrast(net, 4, 1)(x), logits[:, 4] - logits[:, 1])


def test_bad_arguments_say_what_is_wrong() -> None:
    net, _, _ = _image_net()
    x = torch.rand(1, 1, SIZE, SIZE)
    with pytest.raises(ValueError, match="unknown attribution method"):
        attribute(net, x, 0, "Deconvolution")
    with pytest.raises(ValueError, match="no Conv2d / Conv3d layer for Grad-CAM"):
        attribute(nn.Sequential(nn.Flatten(), nn.Linear(SIZE * SIZE, 2)), x, 0, "LayerGradCam")
    with pytest.raises(ValueError, match="no layer 'features.9'.*1.features"):
        resolve_layer(net, "features.9")
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        attribute(net, x[0], 0)
