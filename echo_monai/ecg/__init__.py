"""ECG signals: R-peak detection, signal quality, burned-in traces, cardiac phases and gating.

Everything here works on numpy arrays and :mod:`echo_monai.io` containers (numpy/scipy only).
"""

from echo_monai.ecg.burned_in import BurnedInECG, read_burned_in_trace
from echo_monai.ecg.gating import SOURCES, Gating, gate_cine
from echo_monai.ecg.image_phase import (
    ImageCycles,
    dominant_period_ms,
    estimate_cycles_from_image,
    image_phase_signal,
)
from echo_monai.ecg.phases import (
    CardiacPhases,
    cardiac_phases,
    detect_qrs_onset,
    detect_t_wave_end,
    weissler_qs2_ms,
)
from echo_monai.ecg.quality import ECGQuality, ecg_quality
from echo_monai.ecg.rpeaks import BeatMatch, RPeaks, detect_r_peaks, match_beats
from echo_monai.ecg.wfdb_format import read_wfdb_annotations, read_wfdb_record

__all__ = [
    "SOURCES",
    "BeatMatch",
    "BurnedInECG",
    "CardiacPhases",
    "ECGQuality",
    "Gating",
    "ImageCycles",
    "RPeaks",
    "cardiac_phases",
    "detect_qrs_onset",
    "detect_r_peaks",
    "detect_t_wave_end",
    "dominant_period_ms",
    "ecg_quality",
    "estimate_cycles_from_image",
    "gate_cine",
    "image_phase_signal",
    "match_beats",
    "read_burned_in_trace",
    "read_wfdb_annotations",
    "read_wfdb_record",
    "weissler_qs2_ms",
]
