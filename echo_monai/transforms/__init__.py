"""MONAI transforms for echo cines: loading with cardiac timing, ECG-gated frame and cycle selection."""

from echo_monai.transforms.gating import (
    CropCardiacCycles,
    CropCardiacCyclesd,
    RandCardiacCycle,
    RandCardiacCycled,
    RandSelectGatedFrame,
    RandSelectGatedFramed,
    SelectGatedFrames,
    SelectGatedFramesd,
    SelectPhaseFrames,
    SelectPhaseFramesd,
)
from echo_monai.transforms.io import FRAME_TIMES_META_KEY, GATING_META_KEY, LoadEchoCine, LoadEchoCined

__all__ = [
    "FRAME_TIMES_META_KEY",
    "GATING_META_KEY",
    "CropCardiacCycles",
    "CropCardiacCyclesd",
    "LoadEchoCine",
    "LoadEchoCined",
    "RandCardiacCycle",
    "RandCardiacCycled",
    "RandSelectGatedFrame",
    "RandSelectGatedFramed",
    "SelectGatedFrames",
    "SelectGatedFramesd",
    "SelectPhaseFrames",
    "SelectPhaseFramesd",
]
