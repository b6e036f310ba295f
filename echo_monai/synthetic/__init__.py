"""Synthetic echocardiography: ECG-driven cines of the 11 views written as real DICOM."""
