"""Echo data in and out: DICOM cines and their ECG, AVI/MP4 video, NIfTI, and the scan sector."""

from echo_monai.io.cine import cine_format, read_cine
from echo_monai.io.dicom_read import burned_in_ecg_area, frame_times_ms, read_echo_cine, ultrasound_regions
from echo_monai.io.dicom_write import write_ecg_waveform_dicom, write_echo_dicom
from echo_monai.io.ecg_dicom import read_dicom_ecg
from echo_monai.io.nifti import read_nifti_cine, write_nifti_cine
from echo_monai.io.sector import apply_sector_mask, scan_sector_mask
from echo_monai.io.types import EcgSignal, EchoCine, UltrasoundRegion
from echo_monai.io.video import read_video, write_video

__all__ = [
    "EcgSignal",
    "EchoCine",
    "UltrasoundRegion",
    "apply_sector_mask",
    "burned_in_ecg_area",
    "cine_format",
    "frame_times_ms",
    "read_cine",
    "read_dicom_ecg",
    "read_echo_cine",
    "read_nifti_cine",
    "read_video",
    "scan_sector_mask",
    "ultrasound_regions",
    "write_ecg_waveform_dicom",
    "write_echo_dicom",
    "write_nifti_cine",
    "write_video",
]
