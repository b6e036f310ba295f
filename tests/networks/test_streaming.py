"""StreamingViewNet: frame-by-frame stream equals the batch forward; preprocessing of decoded frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from echo_monai.networks.streaming import StreamingViewNet

torch.set_num_threads(1)


def _trained_like(net: StreamingViewNet) -> StreamingViewNet:
    """Give batch norm non-trivial running statistics, as after training, then switch to eval."""
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(2, net.in_channels, 6, net.image_size, net.image_size))
    return net.eval()


def test_stream_equals_batch_forward_on_the_same_frames():
    torch.manual_seed(0)
    net = _trained_like(StreamingViewNet(1, 11, image_size=32, dilations=(1, 2, 4)))
    assert net.receptive_field == 15
    clip = torch.rand(1, 1, 40, 32, 32)  # longer than the receptive field: the ring wraps around
    net.reset()
    streamed = torch.stack([net.step(clip[0, :, t]) for t in range(40)])
    with torch.no_grad():
        batch = torch.softmax(net.forward_sequence(clip), dim=-1)[0]
        after_7 = torch.softmax(net(clip[:, :, :7]), dim=-1)[0]
    assert streamed.shape == (40, 11)
    torch.testing.assert_close(streamed, batch, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(streamed[6], after_7, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(streamed.sum(dim=1), torch.ones(40))


def test_reset_starts_a_new_cine():
    net = _trained_like(StreamingViewNet(1, 11, image_size=32, dilations=(1, 2)))
    frames = torch.rand(6, 1, 32, 32)
    for f in frames:
        net.step(f)
    net.reset()
    first = net.step(frames[0])
    with torch.no_grad():
        torch.testing.assert_close(first, torch.softmax(net(frames[:1, :, None].transpose(0, 2)), -1)[0])


def test_uint8_rgb_frames_are_preprocessed_like_the_documented_recipe():
    net = _trained_like(StreamingViewNet(1, 11, image_size=32, dilations=(1, 2)))
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(5, 48, 64, 3), dtype=np.uint8)
    grey = torch.from_numpy(frames.astype(np.float32) / 255.0) @ torch.tensor([0.299, 0.587, 0.114])
    resized = torch.nn.functional.interpolate(grey[:, None], size=(32, 32), mode="bilinear", antialias=True)
    clip = resized.transpose(0, 1)[None]  # (1, 1, T, 32, 32)
    net.reset()
    streamed = torch.stack([net.step(f) for f in frames])
    with torch.no_grad():
        batch = torch.softmax(net.forward_sequence(clip), dim=-1)[0]
    torch.testing.assert_close(streamed, batch, atol=1e-4, rtol=1e-4)


def test_grey_uint8_frame_for_an_rgb_model():
    net = _trained_like(StreamingViewNet(3, 4, image_size=32, dilations=(1,)))
    x = net.preprocess_frame(np.full((40, 40), 255, dtype=np.uint8))
    assert x.shape == (3, 32, 32)
    torch.testing.assert_close(x, torch.ones(3, 32, 32))
    assert net.step(np.zeros((32, 32), dtype=np.uint8)).shape == (4,)
    torch.testing.assert_close(net.preprocess_frame(np.full((40, 40, 1), 255, dtype=np.uint8)), x)


def test_step_needs_eval_mode_and_a_frame():
    net = StreamingViewNet(1, 11, image_size=32)
    with pytest.raises(RuntimeError, match="eval"):
        net.step(np.zeros((32, 32), dtype=np.uint8))
    net.eval()
    with pytest.raises(ValueError, match="frame must be"):
        net.step(np.zeros((2, 32, 32, 3), dtype=np.uint8))


def test_streaming_state_is_not_saved_with_the_weights():
    net = _trained_like(StreamingViewNet(1, 11, image_size=32))
    keys = set(net.state_dict())
    net.step(np.zeros((32, 32), dtype=np.uint8))
    assert set(net.state_dict()) == keys
