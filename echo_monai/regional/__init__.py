"""Regional LV wall analysis: the six HMC-QU segments, displacement and thickening."""

from echo_monai.regional.centerline import WallCenterline, clean_wall_mask, wall_centerline
from echo_monai.regional.classify import SegmentAssessment, classify_segments
from echo_monai.regional.motion import SegmentMotion, endocardial_border, segment_motion
from echo_monai.regional.plot import SEGMENT_COLORS, plot_regional
from echo_monai.regional.segments import AHA_SEGMENTS, SEGMENT_NAMES, centerline_segments, split_wall_segments

__all__ = [
    "AHA_SEGMENTS",
    "SEGMENT_COLORS",
    "SEGMENT_NAMES",
    "SegmentAssessment",
    "SegmentMotion",
    "WallCenterline",
    "centerline_segments",
    "classify_segments",
    "clean_wall_mask",
    "endocardial_border",
    "plot_regional",
    "segment_motion",
    "split_wall_segments",
    "wall_centerline",
]
