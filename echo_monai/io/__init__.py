"""Echo data in and out: DICOM cines and their ECG, AVI/MP4 video, NIfTI."""
