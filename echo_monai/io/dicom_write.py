"""Write echo cines (and their ECG) as real DICOM files.

``write_echo_dicom`` writes an ``Ultrasound Multi-frame Image Storage`` object the way scanners export
them: JPEG baseline ``YBR_FULL_422`` (the common case), native RGB / MONOCHROME2 / PALETTE COLOR, RLE or
lossless JPEG; frame timing, ultrasound regions, R-wave times and, optionally, the ECG as a waveform
inside the cine. ``write_ecg_waveform_dicom`` writes the ECG as a separate General ECG Waveform object in
its own series, synchronised with the cine. The time convention is documented in
:mod:`echo_monai.io.dicom_codes`.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    RLELossless,
    generate_uid,
)
from pydicom.valuerep import DSfloat

from echo_monai.errors import EchoDataError
from echo_monai.io.dicom_codes import (
    GENERAL_ECG_STORAGE,
    LEAD_CODES,
    REGION_DATA_TISSUE,
    REGION_FORMAT_SECTOR,
    UNITS_CM,
    US_MULTIFRAME_STORAGE,
)
from echo_monai.io.ecg_dicom import acquisition_datetime as dataset_datetime
from echo_monai.io.jpeg_lossless import encode_jpeg_lossless
from echo_monai.io.types import EcgSignal, UltrasoundRegion
from echo_monai.utils.files import atomic_write_with

__all__ = ["COMPRESSIONS", "write_ecg_waveform_dicom", "write_echo_dicom"]

COMPRESSIONS = ("jpeg_baseline", "none", "jpeg_lossless", "rle")
_PATIENT_KEYS = {
    "name": "PatientName",
    "id": "PatientID",
    "birth_date": "PatientBirthDate",
    "sex": "PatientSex",
    "accession": "AccessionNumber",
    "institution": "InstitutionName",
    "referring_physician": "ReferringPhysicianName",
}


def _ds(value: float) -> DSfloat:
    """A decimal string holding ``value`` in at most 16 characters (exact for short decimals).

    Rounding to 1 ns first turns float noise (53.7 - 17.9 = 35.800000000000004) back into "35.8".
    """
    value = round(float(value), 9)
    text = repr(value)
    return DSfloat(text) if len(text) <= 16 else DSfloat(value, auto_format=True)


def _atomic_save(ds: Dataset, path: Path) -> Path:
    """Write ``ds`` to a temporary file next to ``path`` and move it into place: no half-written files."""
    return atomic_write_with(path, lambda tmp: ds.save_as(tmp, enforce_file_format=True))


def _dt_string(when: dt.datetime) -> str:
    return when.strftime("%Y%m%d%H%M%S.%f")


def _set_patient(ds: Dataset, patient: Mapping[str, str] | None) -> None:
    patient = dict(patient or {})
    unknown = set(patient) - set(_PATIENT_KEYS)
    if unknown:
        raise ValueError(f"unknown patient keys {sorted(unknown)}; known: {sorted(_PATIENT_KEYS)}")
    for key, keyword in _PATIENT_KEYS.items():
        setattr(ds, keyword, patient.get(key, ""))


def _code(value: str, scheme: str, meaning: str, version: str | None = None) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    if version:
        item.CodingSchemeVersion = version
    item.CodeMeaning = meaning
    return item


def _waveform_group(ecg: EcgSignal, time_offset_ms: float) -> Dataset:
    """One ECG multiplex group: 16-bit signed samples, mV units, one channel per lead."""
    signal = np.asarray(ecg.signal, dtype=np.float64)
    if signal.ndim == 1:
        signal = signal[None, :]
    if signal.ndim != 2 or signal.size == 0:
        raise ValueError(f"ECG signal must be (n_channels, n_samples) and non-empty, got {signal.shape} "
                         "(R-wave times alone go to r_wave_times_ms)")
    if not np.all(np.isfinite(signal)):
        raise ValueError("ECG signal contains NaN or inf")
    if not ecg.fs > 0:
        raise ValueError(f"ECG sampling rate must be positive, got {ecg.fs}")
    n_ch, n = signal.shape
    names = list(ecg.channel_names) or (["II"] if n_ch == 1 else [f"ECG{i + 1}" for i in range(n_ch)])
    if len(names) != n_ch:
        raise ValueError(f"{len(names)} channel names for {n_ch} channels")
    # 1 uV per count unless the signal would overflow int16 (then scale up, keeping 32000 counts).
    peak = float(np.max(np.abs(signal)))
    sensitivity = _ds(max(0.001, peak / 32000.0))
    counts = np.round(signal / float(sensitivity)).astype(np.int16)  # scaled by the value as stored

    group = Dataset()
    group.MultiplexGroupTimeOffset = _ds(time_offset_ms)  # no TriggerTimeOffset: there is no trigger
    group.WaveformOriginality = "ORIGINAL"
    group.NumberOfWaveformChannels = n_ch
    group.NumberOfWaveformSamples = n
    group.SamplingFrequency = _ds(ecg.fs)
    group.MultiplexGroupLabel = "ECG"
    channels = []
    for i, name in enumerate(names):
        ch = Dataset()
        ch.ChannelSourceSequence = DicomSequence(
            [_code(LEAD_CODES[name], "SCPECG", f"Lead {name}", "1.3") if name in LEAD_CODES
             else _code(name, "99ECHOMONAI", name)]
        )
        ch.ChannelLabel = name
        ch.ChannelSensitivity = sensitivity
        ch.ChannelSensitivityUnitsSequence = DicomSequence([_code("mV", "UCUM", "millivolt", "1.4")])
        ch.ChannelSensitivityCorrectionFactor = _ds(1.0)
        ch.ChannelBaseline = _ds(0.0)
        ch.ChannelSampleSkew = _ds(0.0)
        ch.WaveformBitsStored = 16
        channels.append(ch)
    group.ChannelDefinitionSequence = DicomSequence(channels)
    group.WaveformBitsAllocated = 16
    group.WaveformSampleInterpretation = "SS"
    group.WaveformData = np.ascontiguousarray(counts.T).astype("<i2").tobytes()  # samples interleaved
    return group


def _region_item(r: UltrasoundRegion) -> Dataset:
    item = Dataset()
    item.RegionSpatialFormat = int(r.spatial_format)
    item.RegionDataType = int(r.data_type)
    item.RegionFlags = 0
    item.RegionLocationMinX0 = int(r.x0)
    item.RegionLocationMinY0 = int(r.y0)
    item.RegionLocationMaxX1 = int(r.x1)
    item.RegionLocationMaxY1 = int(r.y1)
    if r.reference_pixel_x0 is not None:
        item.ReferencePixelX0 = int(r.reference_pixel_x0)
    if r.reference_pixel_y0 is not None:
        item.ReferencePixelY0 = int(r.reference_pixel_y0)
    item.PhysicalUnitsXDirection = int(r.units_x)
    item.PhysicalUnitsYDirection = int(r.units_y)
    item.PhysicalDeltaX = float(r.delta_x)
    item.PhysicalDeltaY = float(r.delta_y)
    return item


def _default_palette() -> np.ndarray:
    """A 256-entry black-red-yellow-white ramp, (256, 3) uint8: clearly not grey, so tests see colour."""
    x = np.linspace(0.0, 1.0, 256)
    rgb = np.stack([np.clip(3 * x, 0, 1), np.clip(3 * x - 1, 0, 1), np.clip(3 * x - 2, 0, 1)], axis=1)
    return np.round(255 * rgb).astype(np.uint8)


def _jpeg_baseline(frame: np.ndarray, quality: int, subsampling: int) -> bytes:
    buf = io.BytesIO()
    mode = "L" if frame.ndim == 2 else "RGB"
    # Pillow stores colour as JFIF YCbCr (full range), which is DICOM's YBR_FULL(_422).
    Image.fromarray(frame, mode=mode).save(buf, format="JPEG", quality=quality, subsampling=subsampling,
                                           optimize=False)
    return buf.getvalue()


def write_echo_dicom(
    path: str | os.PathLike,
    frames: np.ndarray,
    frame_times_ms: Sequence[float] | np.ndarray,
    *,
    spacing_mm: tuple[float, float] | None = None,
    scan_region: tuple[int, int, int, int] | None = None,
    extra_regions: Sequence[UltrasoundRegion] = (),
    compression: str = "jpeg_baseline",
    photometric: str | None = None,
    palette: np.ndarray | None = None,
    ecg: EcgSignal | None = None,
    r_wave_times_ms: Sequence[float] | np.ndarray | None = None,
    patient: Mapping[str, str] | None = None,
    study_uid: str | None = None,
    series_uid: str | None = None,
    heart_rate_bpm: float | None = None,
    acquisition_datetime: dt.datetime | None = None,
    synchronization_uid: str | None = None,
    extra_tags: Mapping[str, object] | None = None,
    jpeg_quality: int = 90,
) -> Path:
    """Write an echo cine as an ``Ultrasound Multi-frame Image Storage`` DICOM file, atomically.

    Args:
        path: output file (its folder is created; an existing file is replaced in one step).
        frames: (T, H, W) uint8 greyscale, (T, H, W, 3) uint8 RGB, or (T, H, W) uint8 palette indices when
            ``photometric="PALETTE COLOR"``.
        frame_times_ms: (T,) time of each frame in ms, increasing; written as ``FrameTime`` when the
            intervals are equal (to 1 us), else as ``FrameTimeVector`` (increments, first 0).
        spacing_mm: (row, column) pixel size of the tissue region in mm (``PhysicalDeltaY/X`` in cm).
        scan_region: (x0, y0, x1, y1) inclusive pixel bounds of the tissue region (default: whole image);
            a tissue region item (sector format, tissue data, cm) is written when ``spacing_mm`` is given.
        extra_regions: further ``SequenceOfUltrasoundRegions`` items, e.g. an ECG trace region (data
            type 10, spatial format 4, x units 4 = seconds, ``delta_x`` = s/px).
        compression: ``"jpeg_baseline"`` (lossy; colour as ``YBR_FULL_422``), ``"none"``,
            ``"jpeg_lossless"`` (process 14 SV1) or ``"rle"``.
        photometric: override of the default photometric interpretation: ``"MONOCHROME1"`` (grey stored
            inverted), ``"YBR_FULL"`` (colour: 4:4:4 JPEG, or native YBR), ``"PALETTE COLOR"``.
        palette: (256, 3) uint8 RGB palette for ``"PALETTE COLOR"`` (default: a black-red-yellow ramp).
        ecg: written as a ``WaveformSequence`` inside the cine, with ``t0_ms`` preserved through
            ``FrameDelay`` and ``MultiplexGroupTimeOffset`` (see :mod:`echo_monai.io.dicom_codes`).
        r_wave_times_ms: R-wave times relative to the first frame (ms) -> ``RWaveTimeVector``.
        patient: identifiers to store (keys ``name, id, birth_date, sex, accession, institution,
            referring_physician``); missing ones are written empty.
        study_uid, series_uid, synchronization_uid: UIDs to reuse (new ones otherwise).
        heart_rate_bpm: ``HeartRate`` (integer bpm).
        acquisition_datetime: ``AcquisitionDateTime``, the reference instant of the acquisition: the
            first frame, or the ECG's first sample when that comes earlier (default: now).
        extra_tags: keyword -> value, set last (may override anything above).
        jpeg_quality: Pillow JPEG quality for ``"jpeg_baseline"``.

    Returns:
        The written path.
    """
    path = Path(path)
    frames = np.asarray(frames)
    times = np.asarray(frame_times_ms, dtype=np.float64).reshape(-1)
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    if frames.ndim not in (3, 4) or (frames.ndim == 4 and frames.shape[3] != 3):
        raise ValueError(f"frames must be (T, H, W) or (T, H, W, 3), got {frames.shape}")
    n_frames, rows, cols = frames.shape[:3]
    if n_frames == 0 or rows == 0 or cols == 0:
        raise ValueError(f"frames must not be empty, got {frames.shape}")
    if times.shape != (n_frames,):
        raise ValueError(f"{times.size} frame times for {n_frames} frames")
    if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
        raise ValueError("frame times must be finite and strictly increasing")
    colour = frames.ndim == 4

    if photometric is None:
        photometric = ("YBR_FULL_422" if compression == "jpeg_baseline" else "RGB") if colour else "MONOCHROME2"
    allowed = {
        False: {"MONOCHROME2", "MONOCHROME1", "PALETTE COLOR"},
        True: {"RGB", "YBR_FULL_422", "YBR_FULL"},
    }[colour]
    if photometric not in allowed:
        raise ValueError(f"photometric {photometric!r} does not fit frames of shape {frames.shape}")
    if photometric == "YBR_FULL_422" and compression != "jpeg_baseline":
        raise ValueError("YBR_FULL_422 is only written JPEG-baseline compressed")
    if photometric == "RGB" and compression == "jpeg_baseline":
        raise ValueError("JPEG baseline colour is stored as YBR_FULL_422 or YBR_FULL, not RGB")
    if photometric == "YBR_FULL" and compression in ("jpeg_lossless", "rle"):
        raise ValueError("YBR_FULL is written JPEG-baseline (4:4:4) or uncompressed")
    if photometric == "PALETTE COLOR" and compression == "jpeg_baseline":
        raise ValueError("palette indices must be stored losslessly, not JPEG baseline")

    when = acquisition_datetime or dt.datetime.now()
    first_ms = float(times[0])
    # Reference instant = the earlier of the first frame and the first ECG sample (offsets >= 0).
    ecg_start_ms = first_ms + float(ecg.t0_ms) if ecg is not None else first_ms
    ref_ms = min(first_ms, ecg_start_ms)
    frame_delay_ms = first_ms - ref_ms

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SOPClassUID = US_MULTIFRAME_STORAGE
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.SynchronizationFrameOfReferenceUID = synchronization_uid or generate_uid()
    ds.SynchronizationTrigger = "NO TRIGGER"
    ds.AcquisitionTimeSynchronized = "Y"
    ds.Modality = "US"
    ds.Manufacturer = "echo_monai"
    ds.ManufacturerModelName = "write_echo_dicom"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = when.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = when.strftime("%H%M%S.%f")
    ds.AcquisitionDateTime = _dt_string(when)
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.BodyPartExamined = "HEART"  # an unpaired organ: no Laterality
    # Type 2 attributes with no meaning for a synthetic or converted cine: present, empty.
    ds.PatientOrientation = ""
    ds.PositionReferenceIndicator = ""
    _set_patient(ds, patient)

    # Cine timing.
    ds.NumberOfFrames = n_frames
    steps = np.diff(times)
    if n_frames > 1:
        regular = bool(np.all(np.abs(steps - steps.mean()) < 1e-3))
        if regular:
            ds.FrameTime = _ds(steps.mean())
            ds.FrameIncrementPointer = 0x00181063
        else:
            ds.FrameTimeVector = [_ds(v) for v in np.concatenate([[0.0], steps])]
            ds.FrameIncrementPointer = 0x00181065
        rate = round(1000.0 / steps.mean())
        ds.CineRate = rate
        ds.RecommendedDisplayFrameRate = rate
    else:
        ds.FrameTime = _ds(0.0)
        ds.FrameIncrementPointer = 0x00181063
    ds.FrameDelay = _ds(frame_delay_ms)
    if heart_rate_bpm is not None:
        ds.HeartRate = round(heart_rate_bpm)
    if r_wave_times_ms is not None:
        ds.RWaveTimeVector = [float(t) for t in np.asarray(r_wave_times_ms, dtype=np.float64).reshape(-1)]

    # Ultrasound regions.
    regions: list[Dataset] = []
    if spacing_mm is not None:
        x0, y0, x1, y1 = scan_region if scan_region is not None else (0, 0, cols - 1, rows - 1)
        regions.append(_region_item(UltrasoundRegion(
            x0=x0, y0=y0, x1=x1, y1=y1, spatial_format=REGION_FORMAT_SECTOR, data_type=REGION_DATA_TISSUE,
            units_x=UNITS_CM, units_y=UNITS_CM,
            delta_x=float(spacing_mm[1]) / 10.0, delta_y=float(spacing_mm[0]) / 10.0)))
    elif scan_region is not None:
        raise ValueError("scan_region needs spacing_mm: a tissue region item carries its pixel size")
    regions.extend(_region_item(r) for r in extra_regions)
    if regions:
        ds.SequenceOfUltrasoundRegions = DicomSequence(regions)

    # Image pixel module.
    stored = frames
    if photometric == "MONOCHROME1":
        stored = 255 - frames  # MONOCHROME1 shows 0 as white: store the inverse of the display image
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    if colour:
        ds.PlanarConfiguration = 0
    if photometric == "PALETTE COLOR":
        lut = _default_palette() if palette is None else np.asarray(palette)
        if lut.shape != (256, 3) or lut.dtype != np.uint8:
            raise ValueError(f"palette must be (256, 3) uint8, got {lut.shape} {lut.dtype}")
        for i, colour_name in enumerate(("Red", "Green", "Blue")):
            setattr(ds, f"{colour_name}PaletteColorLookupTableDescriptor", [256, 0, 16])
            setattr(ds, f"{colour_name}PaletteColorLookupTableData",
                    (lut[:, i].astype("<u2") * 257).tobytes())

    if compression == "jpeg_baseline":
        subsampling = 1 if photometric == "YBR_FULL_422" else 0  # Pillow: 1 = 4:2:2, 0 = 4:4:4
        encoded = [_jpeg_baseline(f, jpeg_quality, subsampling) for f in stored]
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds.PixelData = encapsulate(encoded, has_bot=True)
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
        ds.LossyImageCompression = "01"
        ratio = stored.nbytes / sum(len(b) for b in encoded)
        ds.LossyImageCompressionRatio = _ds(round(ratio, 2))
        ds.LossyImageCompressionMethod = "ISO_10918_1"
    elif compression == "jpeg_lossless":
        encoded = [encode_jpeg_lossless(f) for f in stored]
        ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
        ds.PixelData = encapsulate(encoded, has_bot=True)
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
        ds.LossyImageCompression = "00"
    else:
        if photometric == "YBR_FULL":
            from pydicom.pixels import convert_color_space

            stored = convert_color_space(stored, "RGB", "YBR_FULL")
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData = np.ascontiguousarray(stored).tobytes()
        ds["PixelData"].VR = "OB"
        ds.LossyImageCompression = "00"
        if compression == "rle":
            ds.compress(RLELossless, encoding_plugin="pydicom")

    if ecg is not None:
        ds.WaveformSequence = DicomSequence([_waveform_group(ecg, ecg_start_ms - ref_ms)])

    for keyword, value in (extra_tags or {}).items():
        setattr(ds, keyword, value)
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return _atomic_save(ds, path)


def write_ecg_waveform_dicom(
    path: str | os.PathLike,
    ecg: EcgSignal,
    cine_path_or_ds: str | os.PathLike | Dataset,
) -> Path:
    """Write ``ecg`` as a General ECG Waveform object in its own series of the cine's study.

    The object shares the cine's ``StudyInstanceUID``, patient module and
    ``SynchronizationFrameOfReferenceUID``; its ``AcquisitionDateTime`` equals the cine's and its
    ``MultiplexGroupTimeOffset`` is chosen so that the reader recovers ``ecg.t0_ms`` (relative to the
    cine's first frame). When the ECG starts before the cine's reference instant, the ECG object's
    ``AcquisitionDateTime`` is moved earlier instead (offsets stay non-negative).

    Args:
        path: output file.
        ecg: the signal, (n_channels, n_samples) in mV, with ``t0_ms`` relative to the cine's first frame.
        cine_path_or_ds: the cine it belongs to (written by :func:`write_echo_dicom` or any cine with
            ``AcquisitionDateTime``).
    """
    if isinstance(cine_path_or_ds, Dataset):
        cine, cine_path = cine_path_or_ds, None
    else:
        cine_path = Path(cine_path_or_ds)
        try:
            cine = dcmread(cine_path, stop_before_pixels=True)
        except Exception as exc:  # pydicom raises several types for unreadable files
            raise EchoDataError(cine_path, f"cannot read the cine to synchronise with: {exc}") from exc
    cine_ref = dataset_datetime(cine)
    if cine_ref is None or "StudyInstanceUID" not in cine:
        raise EchoDataError(cine_path, "the cine has no AcquisitionDateTime/StudyInstanceUID to synchronise with")
    frame_delay_ms = float(cine.get("FrameDelay", 0.0) or 0.0)
    offset_ms = frame_delay_ms + float(ecg.t0_ms)  # ECG start after the cine's reference instant
    ecg_ref = cine_ref
    if offset_ms < 0:
        # DT keeps microseconds: move by whole microseconds and leave the remainder in the offset.
        shift_us = int(np.floor(offset_ms * 1000.0))
        ecg_ref = cine_ref + dt.timedelta(microseconds=shift_us)
        offset_ms = offset_ms - shift_us / 1000.0

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.SpecificCharacterSet = cine.get("SpecificCharacterSet", "ISO_IR 100")
    ds.SOPClassUID = GENERAL_ECG_STORAGE
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = cine.StudyInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.SynchronizationFrameOfReferenceUID = cine.get("SynchronizationFrameOfReferenceUID", generate_uid())
    ds.SynchronizationTrigger = "NO TRIGGER"
    ds.AcquisitionTimeSynchronized = "Y"
    ds.Modality = "ECG"
    ds.Manufacturer = "echo_monai"
    for keyword in ("StudyDate", "StudyTime", "StudyID", "PatientName", "PatientID", "PatientBirthDate",
                    "PatientSex", "AccessionNumber", "InstitutionName", "ReferringPhysicianName"):
        setattr(ds, keyword, cine.get(keyword, ""))
    ds.SeriesNumber = int(cine.get("SeriesNumber", 1) or 1) + 1000
    ds.InstanceNumber = 1
    ds.ContentDate = ecg_ref.strftime("%Y%m%d")
    ds.ContentTime = ecg_ref.strftime("%H%M%S.%f")
    ds.AcquisitionDateTime = _dt_string(ecg_ref)
    ds.AcquisitionContextSequence = DicomSequence([])
    ds.WaveformSequence = DicomSequence([_waveform_group(ecg, offset_ms)])
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return _atomic_save(ds, Path(path))
