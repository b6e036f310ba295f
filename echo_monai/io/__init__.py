"""Echo data in and out: DICOM cines and their ECG, AVI/MP4 video, NIfTI."""

from echo_monai.io.dicom_write import write_ecg_waveform_dicom, write_echo_dicom
from echo_monai.io.types import EcgSignal, EchoCine, UltrasoundRegion

__all__ = ["EcgSignal", "EchoCine", "UltrasoundRegion", "write_ecg_waveform_dicom", "write_echo_dicom"]
