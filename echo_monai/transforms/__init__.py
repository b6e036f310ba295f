"""MONAI transforms for echo cines: loading with cardiac timing, ECG-gated frame and cycle selection,
frame-wise sampling for 2D segmentation."""

from echo_monai.transforms.frames import (
    FRAME_INDEX_META_KEY,
    RandFrame,
    RandFramed,
    SplitFrames,
    SplitFramesd,
    StackFrames,
    StackFramesd,
)
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
from echo_monai.transforms.sector import RandOutsideSector, RandOutsideSectord, SectorMask, SectorMaskd

__all__ = [
    "FRAME_INDEX_META_KEY",
    "FRAME_TIMES_META_KEY",
    "GATING_META_KEY",
    "CropCardiacCycles",
    "CropCardiacCyclesd",
    "LoadEchoCine",
    "LoadEchoCined",
    "RandCardiacCycle",
    "RandCardiacCycled",
    "RandFrame",
    "RandFramed",
    "RandOutsideSector",
    "RandOutsideSectord",
    "RandSelectGatedFrame",
    "RandSelectGatedFramed",
    "SectorMask",
    "SectorMaskd",
    "SelectGatedFrames",
    "SelectGatedFramesd",
    "SelectPhaseFrames",
    "SelectPhaseFramesd",
    "SplitFrames",
    "SplitFramesd",
    "StackFrames",
    "StackFramesd",
]
