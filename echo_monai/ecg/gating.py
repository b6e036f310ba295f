"""ECG gating of a whole cine: the best available ECG source, with a documented fallback chain.

Order of trust:
1. an ECG that came with the file (DICOM waveform in the cine, a separate ECG object, Curve data) when
   its quality check passes, or the file's ``RWaveTimeVector``;
2. the trace burned into the pixels (needs colour frames at the stored resolution, of the part of the image
   where a trace can be: see :func:`echo_monai.io.dicom_read.burned_in_ecg_area`);
3. the image itself: the dark-cavity area or frame-to-frame motion inside the scan sector.

Whatever was used is recorded (``Gating.ecg_source``, ``Gating.method``) along with why the better sources
were rejected (``Gating.warnings``), so that nobody mistakes an image-based guess for ECG timing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from echo_monai.ecg.burned_in import read_burned_in_trace
from echo_monai.ecg.image_phase import estimate_cycles_from_image
from echo_monai.ecg.phases import CardiacPhases, cardiac_phases
from echo_monai.ecg.quality import ecg_quality
from echo_monai.errors import ECGError, EchoDataError
from echo_monai.io.types import EcgSignal, EchoCine

__all__ = ["SOURCES", "Gating", "gate_cine"]

logger = logging.getLogger(__name__)

#: Gating sources in the order they are tried.
SOURCES = ("ecg", "burned_in", "image")


@dataclass
class Gating:
    """Cardiac timing of one cine.

    Attributes:
        ed_frames: (n_ed,) int64 end-diastolic frame indices, increasing.
        es_frames: (n_es,) int64 end-systolic frame indices, increasing.
        cycles: ``(start, end)`` frame ranges of complete cycles (``end`` exclusive = next ED frame).
        r_times_ms: R-wave (or image-ED) times on the cine clock, ms.
        phase_positions: (n_cycles, n_phases) fractional frame index of each evenly spaced phase
            of each cycle (empty when no ``n_phases`` was asked for).
        ecg_source: ``"dicom_waveform"``, ``"dicom_waveform_file"``, ``"curve"``, ``"r_wave_time_vector"``,
            ``"burned_in"`` or ``"none"`` (image fallback).
        method: ``"ecg_r_peak"``, ``"ecg_qrs_onset"``, ``"image_cavity"`` or ``"image_motion"``.
        es_method: how ES was found (``"t_wave_end"``, ``"hr_regression"``, ``"mixed"``, ``"image"``).
        heart_rate_bpm: median heart rate (NaN when unknown).
        warnings: why better sources were not used, and anything doubtful.
        phases: the full :class:`CardiacPhases` when timing came from R waves.
        ecg: the ECG the timing came from (for a burned-in trace: the trace read back, in pixels).
        image_signal: (T,) the image phase signal (high at ED) when the image fallback was used.
    """

    ed_frames: np.ndarray
    es_frames: np.ndarray
    cycles: list[tuple[int, int]]
    r_times_ms: np.ndarray
    phase_positions: np.ndarray
    ecg_source: str
    method: str
    es_method: str
    heart_rate_bpm: float = float("nan")
    warnings: list[str] = field(default_factory=list)
    phases: CardiacPhases | None = None
    ecg: EcgSignal | None = None
    image_signal: np.ndarray | None = None

    def summary(self) -> dict:
        """Plain, JSON- and collate-friendly facts (no arrays) for metadata and reports."""
        return {
            "ecg_source": self.ecg_source,
            "gating_method": self.method,
            "es_method": self.es_method,
            "n_cycles": len(self.cycles),
            "heart_rate_bpm": float(self.heart_rate_bpm),
            "gating_warnings": "; ".join(self.warnings),
        }


def _from_phases(
    phases: CardiacPhases, ecg_source: str, method: str, warnings: list[str], ecg: EcgSignal | None = None
) -> Gating:
    return Gating(
        ed_frames=phases.ed_frames,
        es_frames=phases.es_frames,
        cycles=list(phases.cycles),
        r_times_ms=phases.r_times_ms,
        phase_positions=phases.phase_positions,
        ecg_source=ecg_source,
        method=method,
        es_method=phases.es_method,
        heart_rate_bpm=phases.heart_rate_bpm,
        warnings=warnings,
        phases=phases,
        ecg=ecg,
    )


def _gate_dicom_ecg(cine: EchoCine, ed_reference: str, n_phases: int | None) -> CardiacPhases:
    ecg = cine.ecg
    if ecg.signal.size == 0:
        if ecg.r_times_ms is None:
            raise ECGError(cine.path, "the file's ECG has neither samples nor R-wave times")
        return cardiac_phases(ecg.r_times_ms, cine.frame_times_ms, n_phases=n_phases)
    quality = ecg_quality(ecg.signal, ecg.fs)
    quality.raise_if_unusable(cine.path)
    return cardiac_phases(None, cine.frame_times_ms, ecg=ecg, ed_reference=ed_reference, n_phases=n_phases)


def _gate_image(frames: np.ndarray, times: np.ndarray, path, n_phases: int | None) -> Gating:
    found = estimate_cycles_from_image(frames, times, path=path)
    ed = np.asarray(found.ed_frames, dtype=np.int64)
    es = np.asarray(found.es_frames, dtype=np.int64)
    method = f"image_{found.method}"
    if len(ed) >= 2:
        # Reuse the R-R machinery for cycles and phases with image ED times standing in for R waves;
        # ES stays the image's own (smallest cavity), not a heart-rate regression.
        phases = cardiac_phases(times[ed], times, n_phases=n_phases)
        gating = _from_phases(phases, "none", method, [])
        gating.es_frames = es
        gating.es_method = "image"
        gating.phases = None
        gating.image_signal = found.signal
        return gating
    return Gating(
        ed_frames=ed,
        es_frames=es,
        cycles=[],
        r_times_ms=times[ed] if len(ed) else np.zeros(0),
        phase_positions=np.zeros((0, n_phases or 0)),
        ecg_source="none",
        method=method,
        es_method="image",
        image_signal=found.signal,
    )


def gate_cine(
    cine: EchoCine,
    *,
    colour_cine: EchoCine | Callable[[], EchoCine] | None = None,
    sources: tuple[str, ...] = SOURCES,
    ed_reference: str = "r_peak",
    n_phases: int | None = None,
) -> Gating:
    """Find the cardiac cycles, ED and ES frames of a cine from the best source it has.

    Args:
        cine: the cine; its ``ecg`` (if any) is tried first. Its frames feed the image fallback.
        colour_cine: the same cine in colour at its stored resolution (or a function reading it, called only
            when a burned-in trace is needed) for reading a burned-in trace; defaults to ``cine`` itself. It
            may hold only part of each frame, with its regions in the same cropped grid, e.g.
            ``lambda: read_cine(path, grey=False, with_ecg=False, crop=burned_in_ecg_area)``, which keeps a
            long cine's memory to the trace strip.
        sources: which of ``"ecg"``, ``"burned_in"``, ``"image"`` may be used, tried in that order.
        ed_reference: ``"r_peak"`` or ``"qrs_onset"`` (needs a sampled ECG).
        n_phases: also compute this many evenly spaced phases per complete cycle.

    Returns:
        :class:`Gating`; ``ecg_source``/``method`` say what was used and ``warnings`` why the rest was not.

    Raises:
        ECGError: no allowed source gave a usable result (the message lists every reason).
    """
    unknown = set(sources) - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown gating sources {sorted(unknown)}; choose from {SOURCES}")
    times = np.asarray(cine.frame_times_ms, dtype=np.float64)
    if cine.num_frames < 2:
        raise ECGError(cine.path, "a single frame has no cardiac cycle to gate")
    warnings: list[str] = []

    if "ecg" in sources:
        if cine.ecg is None:
            warnings.append("no ECG waveform or R-wave times in the file")
        else:
            try:
                phases = _gate_dicom_ecg(cine, ed_reference, n_phases)
                return _from_phases(phases, cine.ecg.source, f"ecg_{ed_reference}", warnings, cine.ecg)
            except EchoDataError as exc:
                warnings.append(f"{cine.ecg.source} not usable ({exc.problem})")

    if "burned_in" in sources:
        try:
            colour = colour_cine() if callable(colour_cine) else (colour_cine or cine)
        except EchoDataError as exc:
            colour = None
            warnings.append(f"colour frames for a burned-in trace could not be read ({exc.problem})")
        if colour is not None and colour.frames.ndim != 4:
            warnings.append("no colour frames to look for a burned-in ECG trace")
        elif colour is not None:
            try:
                trace = read_burned_in_trace(colour.frames, times, trace_regions=colour.regions, path=cine.path)
                ecg = trace.to_ecg_signal()
                # R times come from the trace reader (plateau-aware); the trace itself only serves QRS onset.
                phases = cardiac_phases(trace.r_times_ms, times, n_phases=n_phases,
                                        **({"ecg": ecg} if ed_reference == "qrs_onset" else {}))
                return _from_phases(phases, "burned_in", f"ecg_{ed_reference}", warnings + trace.warnings, ecg)
            except EchoDataError as exc:
                warnings.append(f"burned-in ECG trace not usable ({exc.problem})")
        del colour  # a long colour cine must not stay alive through the image fallback

    if "image" in sources:
        try:
            gating = _gate_image(cine.frames, times, cine.path, n_phases)
        except EchoDataError as exc:
            warnings.append(f"image-based phase not usable ({exc.problem})")
        else:
            gating.warnings = warnings + gating.warnings
            logger.debug("%s: %s; falling back to the image (%s)", cine.path, "; ".join(warnings), gating.method)
            return gating

    raise ECGError(cine.path, "no usable cardiac timing: " + "; ".join(warnings))
