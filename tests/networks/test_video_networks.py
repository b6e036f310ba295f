"""The contract every view-classification network keeps: shapes, training, export, bundle checks.

Inputs are tiny clips (B=2, T=4, 32x32) so the whole file runs in seconds on one thread.
"""

from __future__ import annotations

import io
import json
import warnings

import numpy as np
import pytest
import torch
from monai.bundle import verify_net_in_out

from echo_monai.networks.cnn_lstm import CNNLSTM
from echo_monai.networks.frame_attention import FrameAttentionClassifier
from echo_monai.networks.gated import GatedSpatioTemporalNet
from echo_monai.networks.plain3d import Plain3DCNN
from echo_monai.networks.streaming import StreamingViewNet
from echo_monai.networks.video_resnet import R2Plus1D, ResNet3D
from echo_monai.networks.video_vit import VideoViT

torch.set_num_threads(1)

CLIP = (4, 32, 32)  # (T, H, W)

# name -> (bundle `_target_`, extra constructor arguments for the tiny clip)
VIDEO_NETS: dict[str, tuple[str, dict]] = {
    "CNNLSTM": ("echo_monai.networks.cnn_lstm.CNNLSTM", {}),
    "R2Plus1D": ("echo_monai.networks.video_resnet.R2Plus1D", {}),
    "ResNet3D": ("echo_monai.networks.video_resnet.ResNet3D", {}),
    "ResNet3D-bottleneck-2plus1d": (
        "echo_monai.networks.video_resnet.ResNet3D",
        {"block": "bottleneck", "conv": "2plus1d"},
    ),
    "Plain3DCNN": ("echo_monai.networks.plain3d.Plain3DCNN", {}),
    "FrameAttentionClassifier": ("echo_monai.networks.frame_attention.FrameAttentionClassifier", {}),
    "FrameAttention-mean": ("echo_monai.networks.frame_attention.FrameAttentionClassifier", {"pool": "mean"}),
    "VideoViT": ("echo_monai.networks.video_vit.VideoViT", {"img_size": CLIP}),
    "GatedSpatioTemporalNet": ("echo_monai.networks.gated.GatedSpatioTemporalNet", {}),
    "StreamingViewNet": ("echo_monai.networks.streaming.StreamingViewNet", {"image_size": CLIP[1]}),
}
CLASSES = {
    "CNNLSTM": CNNLSTM,
    "R2Plus1D": R2Plus1D,
    "ResNet3D": ResNet3D,
    "Plain3DCNN": Plain3DCNN,
    "FrameAttentionClassifier": FrameAttentionClassifier,
    "VideoViT": VideoViT,
    "GatedSpatioTemporalNet": GatedSpatioTemporalNet,
    "StreamingViewNet": StreamingViewNet,
}


def _build(name: str, in_channels: int = 1, num_classes: int = 11) -> torch.nn.Module:
    target, extra = VIDEO_NETS[name]
    torch.manual_seed(0)
    return CLASSES[target.rsplit(".", 1)[1]](in_channels=in_channels, num_classes=num_classes, **extra)


@pytest.mark.parametrize("name", VIDEO_NETS)
@pytest.mark.parametrize(("in_channels", "num_classes"), [(1, 11), (3, 11), (1, 4)])
def test_output_shape(name, in_channels, num_classes):
    net = _build(name, in_channels, num_classes).eval()
    with torch.no_grad():
        out = net(torch.rand(2, in_channels, *CLIP))
    assert out.shape == (2, num_classes)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", VIDEO_NETS)
def test_one_optimizer_step_trains_every_parameter(name):
    net = _build(name).train()
    before = {k: p.detach().clone() for k, p in net.named_parameters()}
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    loss = torch.nn.functional.cross_entropy(net(torch.rand(2, 1, *CLIP)), torch.tensor([3, 7]))
    loss.backward()
    opt.step()
    frozen = [k for k, p in net.named_parameters() if torch.equal(p.detach(), before[k])]
    assert not frozen, f"parameters without gradient: {frozen[:5]}"


@pytest.mark.parametrize("name", VIDEO_NETS)
def test_torchscript_matches_eager(name):
    net = _build(name).eval()
    x = torch.rand(2, 1, *CLIP)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated in torch 2.13
        scripted = torch.jit.script(net)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), net(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", VIDEO_NETS)
def test_onnx_export_matches_eager(name):
    ort = pytest.importorskip("onnxruntime")
    net = _build(name).eval()
    x = torch.rand(2, 1, *CLIP)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (x,),
            buffer,
            dynamo=False,
            input_names=["image"],
            output_names=["pred"],
            dynamic_axes={"image": {0: "batch"}, "pred": {0: "batch"}},
        )
    session = ort.InferenceSession(buffer.getvalue())
    x3 = torch.rand(3, 1, *CLIP)  # another batch size than the traced one
    (onnx_out,) = session.run(None, {"image": x3.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(onnx_out, net(x3).numpy(), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ["GatedSpatioTemporalNet", "R2Plus1D", "VideoViT", "StreamingViewNet"])
def test_monai_bundle_verify_net_in_out(name, tmp_path):
    target, extra = VIDEO_NETS[name]
    config = {"network_def": {"_target_": target, "in_channels": 1, "num_classes": 11, **extra}}
    meta = {
        "network_data_format": {
            "inputs": {
                "image": {
                    "type": "video",
                    "format": "magnitude",
                    "modality": "US",
                    "num_channels": 1,
                    "spatial_shape": list(CLIP),
                    "dtype": "float32",
                    "value_range": [0, 1],
                    "is_patch_data": False,
                    "channel_def": {"0": "grey"},
                }
            },
            "outputs": {
                "pred": {
                    "type": "probabilities",
                    "format": "classes",
                    "num_channels": 11,
                    "spatial_shape": [1],
                    "dtype": "float32",
                    "value_range": [],
                    "is_patch_data": False,
                    "channel_def": {str(i): f"view {i}" for i in range(11)},
                }
            },
        }
    }
    (tmp_path / "inference.json").write_text(json.dumps(config))
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    verify_net_in_out(
        net_id="network_def",
        meta_file=str(tmp_path / "metadata.json"),
        config_file=str(tmp_path / "inference.json"),
        device="cpu",
    )
    # And it does check: a wrong class count in the metadata is caught.
    with pytest.raises(ValueError, match="output channel number"):
        verify_net_in_out(
            net_id="network_def",
            meta_file=str(tmp_path / "metadata.json"),
            config_file=str(tmp_path / "inference.json"),
            device="cpu",
            **{"_meta_#network_data_format#outputs#pred#num_channels": 5},
        )


@pytest.mark.parametrize("name", [n for n in VIDEO_NETS if n != "VideoViT"])
@pytest.mark.parametrize("clip", [(1, 32, 32), (7, 20, 18)], ids=["one-frame", "odd-size"])
def test_any_clip_length_and_frame_size(name, clip):
    """All but the ViT (learned positions) accept what metadata.json documents: T >= 1, H, W >= 16."""
    net = _build(name).eval()
    with torch.no_grad():
        assert net(torch.rand(1, 1, *clip)).shape == (1, 11)
