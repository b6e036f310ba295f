"""DICOM identifiers and codes shared by the echo writer and readers.

Synchronisation convention (used by the writer, relied on by the readers)
-------------------------------------------------------------------------
PS3.3 C.7.4.2.1.1 ("Acquisition Time Synchronization") lets objects that share a
``SynchronizationFrameOfReferenceUID`` be placed on one time line through their
``AcquisitionDateTime``. We use:

- ``AcquisitionDateTime`` (0008,002A): the common reference instant T_ref, the same in the cine and in
  any separate ECG waveform object of the acquisition (``SynchronizationTrigger`` = ``NO TRIGGER``,
  ``AcquisitionTimeSynchronized`` = ``Y``).
- ``FrameDelay`` (0018,1066) in the cine: ms from T_ref to the first frame.
- ``MultiplexGroupTimeOffset`` (0018,1068) of a waveform multiplex group: ms from its object's
  ``AcquisitionDateTime`` to the group's first sample.

So the ECG start relative to the first frame is
``t0_ms = MultiplexGroupTimeOffset + (AcquisitionDateTime_ecg - AcquisitionDateTime_cine) - FrameDelay``.
The writer picks T_ref as the earlier of the first frame and the first ECG sample, so both offsets are
non-negative, as the standard expects of "offset from the reference".
"""

from __future__ import annotations

__all__ = [
    "GENERAL_ECG_STORAGE",
    "LEAD_CODES",
    "LEAD_NAMES_BY_CODE",
    "REGION_DATA_ECG",
    "REGION_DATA_TISSUE",
    "REGION_FORMAT_SECTOR",
    "REGION_FORMAT_WAVEFORM",
    "TWELVE_LEAD_ECG_STORAGE",
    "UNITS_CM",
    "UNITS_SECONDS",
    "US_IMAGE_STORAGE",
    "US_MULTIFRAME_STORAGE",
    "VOLT_UNITS",
]

US_MULTIFRAME_STORAGE = "1.2.840.10008.5.1.4.1.1.3.1"
US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"
GENERAL_ECG_STORAGE = "1.2.840.10008.5.1.4.1.1.9.1.2"
TWELVE_LEAD_ECG_STORAGE = "1.2.840.10008.5.1.4.1.1.9.1.1"

# SCP-ECG lead codes (coding scheme "SCPECG", PS3.16 CID 3001), as used by real ECG objects.
LEAD_CODES: dict[str, str] = {
    "I": "5.6.3-9-1",
    "II": "5.6.3-9-2",
    "V1": "5.6.3-9-3",
    "V2": "5.6.3-9-4",
    "V3": "5.6.3-9-5",
    "V4": "5.6.3-9-6",
    "V5": "5.6.3-9-7",
    "V6": "5.6.3-9-8",
    "III": "5.6.3-9-61",
    "aVR": "5.6.3-9-62",
    "aVL": "5.6.3-9-63",
    "aVF": "5.6.3-9-64",
}
LEAD_NAMES_BY_CODE: dict[str, str] = {code: name for name, code in LEAD_CODES.items()}

# UCUM voltage units -> factor to millivolts.
VOLT_UNITS: dict[str, float] = {"mV": 1.0, "uV": 1e-3, "V": 1e3, "nV": 1e-6}

# SequenceOfUltrasoundRegions codes (PS3.3 C.8.5.5.1).
REGION_FORMAT_SECTOR = 1
REGION_FORMAT_WAVEFORM = 4
REGION_DATA_TISSUE = 1
REGION_DATA_ECG = 10
UNITS_CM = 3
UNITS_SECONDS = 4
