"""Synthetic echocardiography: ECG-driven cines of the 11 views written as real DICOM.

Public API:

- :func:`make_dataset` - DICOM cines, truth files, datalist, summary and figure for all views;
- :func:`render_clip` / :func:`random_settings` / :class:`SyntheticClip` - one clip in memory;
- :func:`random_heart` / :class:`HeartParams` - a synthetic patient's heart;
- :data:`ANATOMY_LABELS`, :data:`HMCQU_SEGMENTS` - label ids of the truth maps;
- :func:`export_hmcqu` - synthetic A4C recordings in HMC-QU's on-disk layout;
- :func:`cardiac_phases` - LV contraction and valve openings from R and T-end times;
- :func:`synthetic_ecg` (ECG helper) and :func:`draw_ecg_trace` (burned-in trace).
"""

from echo_monai.synthetic.anatomy import ANATOMY_LABELS, HMCQU_SEGMENTS, HeartParams, random_heart
from echo_monai.synthetic.dataset import make_dataset
from echo_monai.synthetic.ecg import SyntheticECG, synthetic_ecg
from echo_monai.synthetic.ecg_overlay import draw_ecg_trace
from echo_monai.synthetic.generator import (
    ECG_FORMS,
    ClipSettings,
    SyntheticClip,
    random_settings,
    render_clip,
)
from echo_monai.synthetic.hmcqu import export_hmcqu
from echo_monai.synthetic.phases import CardiacPhases, cardiac_phases

__all__ = [
    "ANATOMY_LABELS",
    "ECG_FORMS",
    "HMCQU_SEGMENTS",
    "CardiacPhases",
    "ClipSettings",
    "HeartParams",
    "SyntheticClip",
    "SyntheticECG",
    "cardiac_phases",
    "draw_ecg_trace",
    "export_hmcqu",
    "make_dataset",
    "random_heart",
    "random_settings",
    "render_clip",
    "synthetic_ecg",
]
