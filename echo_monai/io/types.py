"""Plain containers shared by the readers, the ECG code and the transforms."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["EcgSignal", "EchoCine", "UltrasoundRegion"]


@dataclass
class EcgSignal:
    """An ECG (or just its R-wave times) aligned with a cine.

    Attributes:
        signal: shape (n_channels, n_samples), float32 in millivolts where the source says so; an
            empty (0, 0) array when only ``r_times_ms`` is known (``RWaveTimeVector``).
        fs: sampling rate in Hz (0 when there is no sampled signal).
        t0_ms: time of sample 0 relative to the first frame of the cine, in ms (negative: the ECG
            starts before the first frame).
        source: where it came from: ``"dicom_waveform"`` (inside the cine), ``"dicom_waveform_file"``
            (a separate ECG object), ``"r_wave_time_vector"``, ``"curve"`` (retired Curve data),
            ``"burned_in"`` (read from the pixels) or ``"synthetic"``.
        channel_names: one name per channel (e.g. ``"II"``).
        r_times_ms: R-wave times relative to the first frame (ms) when the source gives them directly.
    """

    signal: np.ndarray
    fs: float
    t0_ms: float = 0.0
    source: str = "dicom_waveform"
    channel_names: list[str] = field(default_factory=list)
    r_times_ms: np.ndarray | None = None

    @property
    def times_ms(self) -> np.ndarray:
        """Time of every sample relative to the first frame, in ms, shape (n_samples,)."""
        n = self.signal.shape[-1] if self.signal.size else 0
        if n == 0 or self.fs <= 0:
            return np.zeros(0, dtype=np.float64)
        return self.t0_ms + np.arange(n, dtype=np.float64) * (1000.0 / self.fs)


@dataclass
class UltrasoundRegion:
    """One item of ``SequenceOfUltrasoundRegions`` (pixel bounds are inclusive, 0-based).

    ``delta_x`` / ``delta_y`` are in the region's physical units (cm for tissue, s for a trace's time
    axis); ``units_x`` / ``units_y`` are the DICOM unit codes (3 = cm, 4 = seconds, ...).
    """

    x0: int
    y0: int
    x1: int
    y1: int
    spatial_format: int
    data_type: int
    units_x: int
    units_y: int
    delta_x: float
    delta_y: float
    reference_pixel_x0: int | None = None
    reference_pixel_y0: int | None = None


@dataclass
class EchoCine:
    """A decoded echo cine.

    Attributes:
        frames: (T, H, W) uint8 greyscale or (T, H, W, 3) uint8 RGB.
        frame_times_ms: (T,) float64, time of each frame from the first one (first is 0), ms.
        spacing_mm: (row, column) pixel size in mm from the tissue region, or ``None`` if unknown.
        regions: the ultrasound regions of the file (may be empty), in the pixel grid of ``frames``
            (bounds and deltas rescaled when the reader resized the frames).
        scan_region: (x0, y0, x1, y1) inclusive bounds of the tissue (B-mode sector) region, clipped to
            the image, or ``None``.
        ecg: the ECG found in or beside the file, or ``None``.
        metadata: de-identified facts about the acquisition (no patient identifiers).
        path: the file it came from.
    """

    frames: np.ndarray
    frame_times_ms: np.ndarray
    spacing_mm: tuple[float, float] | None = None
    regions: list[UltrasoundRegion] = field(default_factory=list)
    scan_region: tuple[int, int, int, int] | None = None
    ecg: EcgSignal | None = None
    metadata: dict = field(default_factory=dict)
    path: str | None = None

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def frame_rate_hz(self) -> float:
        if self.num_frames < 2:
            return 0.0
        return 1000.0 * (self.num_frames - 1) / float(self.frame_times_ms[-1] - self.frame_times_ms[0])
