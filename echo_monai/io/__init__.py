"""Echo data in and out: DICOM cines and their ECG, AVI/MP4 video, NIfTI."""

from echo_monai.io.dicom_read import frame_times_ms, read_echo_cine, ultrasound_regions
from echo_monai.io.dicom_write import write_ecg_waveform_dicom, write_echo_dicom
from echo_monai.io.ecg_dicom import read_dicom_ecg
from echo_monai.io.types import EcgSignal, EchoCine, UltrasoundRegion

__all__ = [
    "EcgSignal",
    "EchoCine",
    "UltrasoundRegion",
    "frame_times_ms",
    "read_dicom_ecg",
    "read_echo_cine",
    "ultrasound_regions",
    "write_ecg_waveform_dicom",
    "write_echo_dicom",
]
