"""The ECG that comes with an echo DICOM: waveform in the cine, separate ECG object, R-wave times, Curve.

Times follow the convention of :mod:`echo_monai.io.dicom_codes`: ``t0_ms`` (ECG start relative to the
cine's first frame) = ``MultiplexGroupTimeOffset`` + (ECG ``AcquisitionDateTime`` - cine
``AcquisitionDateTime``) - cine ``FrameDelay``. Burned-in traces are read elsewhere (from the pixels).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.waveforms import multiplex_array

from echo_monai.errors import EchoDataError
from echo_monai.io.dicom_codes import LEAD_NAMES_BY_CODE, VOLT_UNITS
from echo_monai.io.types import EcgSignal

__all__ = ["acquisition_datetime", "find_ecg_file", "read_dicom_ecg", "waveform_group_to_ecg"]

logger = logging.getLogger(__name__)

_ECG_SOP_PREFIX = "1.2.840.10008.5.1.4.1.1.9.1."  # 12-lead, general and ambulatory ECG waveform storage
_CURVE_DTYPES = {0: "<u2", 1: "<i2", 2: "<f4", 3: "<f8", 4: "<i4"}  # (50xx,0103) Data Value Representation


def acquisition_datetime(ds: Dataset) -> dt.datetime | None:
    """The object's reference instant: ``AcquisitionDateTime``, else Acquisition or Content date + time."""
    text = ds.get("AcquisitionDateTime")
    if not text:
        for date_kw, time_kw in (("AcquisitionDate", "AcquisitionTime"), ("ContentDate", "ContentTime")):
            if ds.get(date_kw) and ds.get(time_kw):
                text = f"{ds.get(date_kw)}{ds.get(time_kw)}"
                break
    if not text:
        return None
    text = re.split(r"[+-]", str(text))[0]  # drop a UTC offset: both objects come from one clock
    main, _, frac = text.partition(".")
    formats = {14: "%Y%m%d%H%M%S", 12: "%Y%m%d%H%M", 10: "%Y%m%d%H", 8: "%Y%m%d"}
    if len(main) not in formats:
        return None
    when = dt.datetime.strptime(main, formats[len(main)])
    if frac:
        when += dt.timedelta(microseconds=int((frac + "000000")[:6]))
    return when


def _channel_name(channel: Dataset, index: int) -> str:
    source = channel.get("ChannelSourceSequence")
    if source:
        code = source[0]
        if code.get("CodeValue") in LEAD_NAMES_BY_CODE:
            return LEAD_NAMES_BY_CODE[code.CodeValue]
        meaning = str(code.get("CodeMeaning", ""))
        if meaning:
            return re.sub(r"^Lead\s+|\s*\(.*\)$", "", meaning).strip() or meaning
    return str(channel.get("ChannelLabel", "")) or f"ch{index + 1}"


def _is_ecg_group(group: Dataset) -> bool:
    label = str(group.get("MultiplexGroupLabel", "")).upper()
    if "ECG" in label or "RHYTHM" in label or "LEAD" in label:
        return True
    for channel in group.get("ChannelDefinitionSequence", []):
        source = channel.get("ChannelSourceSequence")
        if source and (source[0].get("CodingSchemeDesignator") == "SCPECG"
                       or source[0].get("CodeValue") in LEAD_NAMES_BY_CODE):
            return True
    return False


def waveform_group_to_ecg(ds: Dataset, index: int, path: str | os.PathLike | None, *, source: str,
                          time_shift_ms: float = 0.0) -> EcgSignal:
    """Multiplex group ``index`` of ``ds.WaveformSequence`` as an :class:`EcgSignal` in millivolts.

    ``time_shift_ms`` is added to the group's ``MultiplexGroupTimeOffset`` to give ``t0_ms``.
    """
    group = ds.WaveformSequence[index]
    channels = group.get("ChannelDefinitionSequence")
    n_channels = int(group.get("NumberOfWaveformChannels", 0) or 0)
    if not channels:
        raise EchoDataError(path, f"waveform multiplex group {index} has no ChannelDefinitionSequence: "
                                  "its samples cannot be scaled or named")
    if len(channels) != n_channels:
        raise EchoDataError(path, f"waveform multiplex group {index} defines {len(channels)} channels "
                                  f"but NumberOfWaveformChannels is {n_channels}")
    fs = float(group.get("SamplingFrequency", 0) or 0)
    if not fs > 0:
        raise EchoDataError(path, f"waveform multiplex group {index} has no valid SamplingFrequency")
    try:
        raw = multiplex_array(ds, index, as_raw=True)  # (n_samples, n_channels), integer counts
    except Exception as exc:  # pydicom: ValueError / KeyError on inconsistent waveform attributes
        raise EchoDataError(path, f"waveform multiplex group {index} cannot be read ({exc})") from exc
    signal = np.empty((n_channels, raw.shape[0]), dtype=np.float32)
    for c, channel in enumerate(channels):
        sensitivity = float(channel.get("ChannelSensitivity", 1.0) or 1.0)
        correction = float(channel.get("ChannelSensitivityCorrectionFactor", 1.0) or 1.0)
        baseline = float(channel.get("ChannelBaseline", 0.0) or 0.0)
        units = channel.get("ChannelSensitivityUnitsSequence")
        unit = str(units[0].get("CodeValue", "mV")) if units else "mV"
        to_mv = VOLT_UNITS.get(unit, 1.0)  # unknown units are kept as stored
        # PS3.3 C.10.9.1.4.3: value = (count * sensitivity + baseline) * correction factor.
        signal[c] = ((raw[:, c] * sensitivity + baseline) * correction * to_mv).astype(np.float32)
    offset = float(group.get("MultiplexGroupTimeOffset", 0.0) or 0.0)
    return EcgSignal(signal=signal, fs=fs, t0_ms=offset + time_shift_ms, source=source,
                     channel_names=[_channel_name(ch, i) for i, ch in enumerate(channels)])


def _choose_group(ds: Dataset) -> int:
    """The ECG multiplex group: the first that looks like an ECG, preferring the longest such group."""
    groups = list(ds.WaveformSequence)
    ecg = [i for i, g in enumerate(groups) if _is_ecg_group(g)]
    candidates = ecg or list(range(len(groups)))
    return max(candidates, key=lambda i: int(groups[i].get("NumberOfWaveformSamples", 0) or 0))


def _frame_delay_ms(ds: Dataset) -> float:
    return float(ds.get("FrameDelay", 0.0) or 0.0)


@dataclass(frozen=True)
class _EcgHeader:
    path: Path
    sop_uid: str | None
    study_uid: str | None
    sync_uid: str | None
    when: dt.datetime | None


# Header cache per file version (path, inode, size, mtime): reading a study's thousands of cines must not
# re-read every file in the folder for each cine, and a file written or replaced since is read again.
_HEADERS: dict[tuple[str, int, int, int], _EcgHeader | None] = {}
_INDEX_TAGS = ["SOPClassUID", "Modality", "StudyInstanceUID", "SynchronizationFrameOfReferenceUID",
               "AcquisitionDateTime", "AcquisitionDate", "AcquisitionTime", "ContentDate", "ContentTime",
               "SOPInstanceUID"]


def _read_ecg_header(path: Path) -> _EcgHeader | None:
    try:
        hdr = dcmread(path, specific_tags=_INDEX_TAGS, stop_before_pixels=True)
    except (InvalidDicomError, OSError, EOFError, ValueError, struct.error) as exc:
        logger.debug("skipping %s while looking for ECG objects: %s", path, exc)
        return None
    if not (str(hdr.get("SOPClassUID", "")).startswith(_ECG_SOP_PREFIX) or hdr.get("Modality") == "ECG"):
        return None
    return _EcgHeader(path, hdr.get("SOPInstanceUID"), hdr.get("StudyInstanceUID"),
                      hdr.get("SynchronizationFrameOfReferenceUID"), acquisition_datetime(hdr))


def _ecg_headers(search_dir: Path) -> list[_EcgHeader]:
    """The ECG waveform objects directly inside ``search_dir`` (a few header tags each, cached)."""
    found = []
    with os.scandir(search_dir) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if not entry.is_file():
                continue
            st = entry.stat()
            key = (entry.path, st.st_ino, st.st_size, st.st_mtime_ns)
            if key not in _HEADERS:
                if len(_HEADERS) > 100_000:
                    _HEADERS.clear()
                _HEADERS[key] = _read_ecg_header(Path(entry.path))
            if _HEADERS[key] is not None:
                found.append(_HEADERS[key])
    return found


def find_ecg_file(cine: Dataset, search_dir: str | os.PathLike) -> Path | None:
    """A separate ECG waveform object in ``search_dir`` belonging to ``cine``.

    Matched on ``StudyInstanceUID`` and, when both carry one, ``SynchronizationFrameOfReferenceUID``;
    among several, the one acquired closest in time to the cine. Each file's header is read once and
    reused for the next cine while the file is unchanged.
    """
    search_dir = Path(search_dir)
    if not search_dir.is_dir():
        raise EchoDataError(search_dir, "ECG search folder not found")
    study = cine.get("StudyInstanceUID")
    sync = cine.get("SynchronizationFrameOfReferenceUID")
    cine_time = acquisition_datetime(cine)
    best: tuple[float, Path] | None = None
    for hdr in _ecg_headers(search_dir):
        if study is None or hdr.study_uid != study or hdr.sop_uid == cine.get("SOPInstanceUID"):
            continue
        if sync and hdr.sync_uid and hdr.sync_uid != sync:
            continue
        distance = abs((hdr.when - cine_time).total_seconds()) if hdr.when and cine_time else float("inf")
        if best is None or distance < best[0]:
            best = (distance, hdr.path)
    return None if best is None else best[1]


def _from_curve(ds: Dataset, path: str | os.PathLike | None) -> EcgSignal | None:
    """Retired Curve data (50xx,3000): the ECG of older ultrasound devices.

    A 1-D curve needs ``CoordinateStepValue`` (50xx,0116, ms per sample) and optionally
    ``CoordinateStartValue`` (50xx,0114, ms of sample 0 relative to the first frame); a 2-D curve holds
    (time ms, value) pairs and must be uniformly sampled. Values are returned as stored.
    """
    # Tags only: iterating the Dataset itself would convert every raw element, pixel data included.
    tags = ds.keys()
    groups = sorted({t.group for t in tags if 0x5000 <= t.group <= 0x501E and t.element == 0x3000})
    if not groups:
        return None
    chosen = groups[0]
    for g in groups:
        kind = ds.get((g, 0x0020))
        if kind is not None and str(kind.value).strip().upper() == "ECG":
            chosen = g
            break

    def value(element: int, default=None):
        elem = ds.get((chosen, element))
        return default if elem is None or elem.value in (None, "") else elem.value

    dims = int(value(0x0005, 1))
    n_points = int(value(0x0010, 0))
    vr_code = int(value(0x0103, 1))
    if vr_code not in _CURVE_DTYPES:
        raise EchoDataError(path, f"curve data value representation {vr_code} is not supported")
    raw = ds[(chosen, 0x3000)].value
    data = np.frombuffer(raw, dtype=_CURVE_DTYPES[vr_code]).astype(np.float64)
    if dims == 2:
        data = data[: 2 * n_points].reshape(-1, 2) if n_points else data.reshape(-1, 2)
        times, values = data[:, 0], data[:, 1]
        steps = np.diff(times)
        if times.size < 2 or np.any(steps <= 0) or np.ptp(steps) > 1e-3 * max(np.median(steps), 1e-9):
            raise EchoDataError(path, "curve ECG is not uniformly sampled in time")
        step_ms, start_ms = float(np.median(steps)), float(times[0])
    elif dims == 1:
        values = data[:n_points] if n_points else data
        step = value(0x0116)
        if step is None:
            raise EchoDataError(path, "1-D curve ECG has no CoordinateStepValue (50xx,0116): no time axis")
        step_ms, start_ms = float(step), float(value(0x0114, 0.0))
    else:
        raise EchoDataError(path, f"curve data with {dims} dimensions is not an ECG")
    if not step_ms > 0:
        raise EchoDataError(path, f"curve ECG time step must be positive, got {step_ms}")
    return EcgSignal(signal=values.astype(np.float32)[None, :], fs=1000.0 / step_ms, t0_ms=start_ms,
                     source="curve", channel_names=[str(value(0x0022, "ECG")).strip() or "ECG"])


def read_dicom_ecg(ds: Dataset, path: str | os.PathLike | None = None,
                   search_dir: str | os.PathLike | None = None) -> EcgSignal | None:
    """The ECG belonging to an echo dataset, with ``t0_ms`` relative to its first frame.

    Looks, in order, for a ``WaveformSequence`` in ``ds`` (if ``ds`` is itself an ECG waveform object,
    its own waveform with ``t0_ms`` from ``MultiplexGroupTimeOffset``), a separate ECG waveform object in
    ``search_dir``, retired Curve data and finally ``RWaveTimeVector`` (-> an empty signal with
    ``r_times_ms``). ``RWaveTimeVector`` is also attached to a signal found earlier.

    Raises:
        EchoDataError: the waveform exists but cannot be used (no channel definitions, bad timing).
    """
    r_times = None
    if "RWaveTimeVector" in ds and ds.RWaveTimeVector is not None:
        r_times = np.atleast_1d(np.asarray(ds.RWaveTimeVector, dtype=np.float64))

    ecg: EcgSignal | None = None
    if ds.get("WaveformSequence"):
        ecg = waveform_group_to_ecg(ds, _choose_group(ds), path, source="dicom_waveform",
                                    time_shift_ms=-_frame_delay_ms(ds))
    elif search_dir is not None:
        found = find_ecg_file(ds, search_dir)
        if found is not None:
            try:
                other = dcmread(found)
            except Exception as exc:
                raise EchoDataError(found, f"ECG waveform object cannot be read ({exc})") from exc
            if not other.get("WaveformSequence"):
                raise EchoDataError(found, "ECG object has no WaveformSequence")
            cine_time, ecg_time = acquisition_datetime(ds), acquisition_datetime(other)
            if cine_time is None or ecg_time is None:
                raise EchoDataError(found, "ECG object or cine lacks AcquisitionDateTime: cannot synchronise")
            shift_ms = (ecg_time - cine_time) / dt.timedelta(milliseconds=1)
            ecg = waveform_group_to_ecg(other, _choose_group(other), found, source="dicom_waveform_file",
                                        time_shift_ms=shift_ms - _frame_delay_ms(ds))
    if ecg is None:
        ecg = _from_curve(ds, path)
    if ecg is None and r_times is not None:
        return EcgSignal(signal=np.zeros((0, 0), dtype=np.float32), fs=0.0, t0_ms=0.0,
                         source="r_wave_time_vector", r_times_ms=r_times)
    if ecg is not None and r_times is not None:
        ecg.r_times_ms = r_times
    return ecg
