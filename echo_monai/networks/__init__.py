"""Networks for view classification (image and video) and LV wall segmentation.

Video networks take (B, C, T, H, W) and return (B, num_classes) logits; image networks take (B, C, H, W).
"""

from echo_monai.networks.cnn_lstm import CNNLSTM
from echo_monai.networks.efficientnet import efficientnet, efficientnet_b2, load_efficientnet_weights
from echo_monai.networks.encoders import PerFrameEncoder, SmallFrameCNN, build_frame_encoder
from echo_monai.networks.frame_attention import FrameAttentionClassifier
from echo_monai.networks.gated import GatedSpatioTemporalNet
from echo_monai.networks.plain3d import Plain3DCNN
from echo_monai.networks.streaming import StreamingViewNet
from echo_monai.networks.temporal import DilatedTemporalCNN
from echo_monai.networks.video_resnet import R2Plus1D, ResNet3D
from echo_monai.networks.video_vit import VideoViT
from echo_monai.networks.wall_unet import WallUNet, stack_neighbour_frames

__all__ = [
    "CNNLSTM",
    "DilatedTemporalCNN",
    "FrameAttentionClassifier",
    "GatedSpatioTemporalNet",
    "PerFrameEncoder",
    "Plain3DCNN",
    "R2Plus1D",
    "ResNet3D",
    "SmallFrameCNN",
    "StreamingViewNet",
    "VideoViT",
    "WallUNet",
    "build_frame_encoder",
    "efficientnet",
    "efficientnet_b2",
    "load_efficientnet_weights",
    "stack_neighbour_frames",
]
