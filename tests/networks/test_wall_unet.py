"""WallUNet: the reference layout, shapes, 2D+t input, TorchScript, and that it can learn a wall."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from echo_monai.networks.wall_unet import WallUNet, stack_neighbour_frames

torch.set_num_threads(1)


def test_reference_layout() -> None:
    net = WallUNet()
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    # 3 down levels + bottleneck + 3 up levels, two 3x3 convs each, then a 1x1 head.
    assert len(convs) == 2 * 7 + 1
    assert [c.out_channels for c in convs[:8:2]] == [64, 128, 256, 512]
    ups = [m for m in net.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(u.in_channels, u.out_channels, u.stride) for u in ups] == [
        (512, 256, (2, 2)),
        (256, 128, (2, 2)),
        (128, 64, (2, 2)),
    ]
    assert sum(isinstance(m, nn.ReLU) for m in net.modules()) == 14
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())


@pytest.mark.parametrize("size", [(32, 32), (37, 45)])
def test_output_shape_any_size(size: tuple[int, int]) -> None:
    net = WallUNet(channels=(4, 8, 16), out_channels=2).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 1, *size))
    assert out.shape == (2, 2, *size)


def test_torchscript_matches_eager() -> None:
    net = WallUNet(channels=(4, 8, 16), batch_norm=True).eval()
    scripted = torch.jit.script(net)
    x = torch.randn(1, 1, 40, 36)
    with torch.no_grad():
        assert torch.allclose(scripted(x), net(x), atol=1e-5)


def test_temporal_context_input() -> None:
    clip = torch.arange(4, dtype=torch.float32)[:, None, None].expand(4, 8, 8)  # frame t has value t
    stacked = stack_neighbour_frames(clip, k=1)
    assert stacked.shape == (4, 3, 8, 8)
    # frame 0 sees (0, 0, 1): the first frame repeats beyond the start; frame 3 sees (2, 3, 3).
    assert stacked[0, :, 0, 0].tolist() == [0.0, 0.0, 1.0]
    assert stacked[3, :, 0, 0].tolist() == [2.0, 3.0, 3.0]
    net = WallUNet(channels=(4, 8), temporal_context=1)
    assert net.input_channels == 3
    assert net(stacked).shape == (4, 1, 8, 8)
    with pytest.raises(RuntimeError):
        net(clip[:, None])  # a single frame is not a 2D+t input


def test_3d_variant() -> None:
    net = WallUNet(spatial_dims=3, channels=(2, 4))
    assert net(torch.randn(1, 1, 8, 9, 10)).shape == (1, 1, 8, 9, 10)


def test_learns_a_ring() -> None:
    torch.manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    r = ((yy - 16) ** 2 + (xx - 16) ** 2).sqrt()
    label = ((r > 7) & (r < 11)).float()[None, None]
    image = label * 0.8 + 0.1 * torch.randn(1, 1, 32, 32)
    net = WallUNet(channels=(8, 16))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(40):
        opt.zero_grad()
        loss = loss_fn(net(image), label)
        loss.backward()
        opt.step()
    pred = (net(image) > 0).float()
    dice = 2 * (pred * label).sum() / (pred.sum() + label.sum())
    assert dice.item() > 0.9


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        WallUNet(spatial_dims=1)
    with pytest.raises(ValueError):
        WallUNet(channels=())
    with pytest.raises(ValueError):
        stack_neighbour_frames(torch.zeros(2, 3), 1)
