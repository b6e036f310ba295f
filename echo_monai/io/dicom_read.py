"""Read echo DICOM cines (US multi-frame and single-frame) into an :class:`EchoCine`.

Frames come back as uint8 (T, H, W) or (T, H, W, 3) RGB, whatever the storage: JPEG baseline / lossless /
2000, RLE or native; YBR_FULL(_422), RGB, MONOCHROME1/2 or PALETTE COLOR. pydicom 3 already converts YBR
to RGB in ``pixel_array``; this module never converts again (that is where green echoes come from).
JPEG-baseline cines go through :mod:`echo_monai.io.dicom_fast` unless ``fast=False``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, get_decoder, iter_pixels
from pydicom.uid import (
    JPEG2000,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
)

from echo_monai.errors import EchoDataError
from echo_monai.io.dicom_codes import REGION_DATA_ECG, REGION_DATA_TISSUE, UNITS_CM
from echo_monai.io.dicom_fast import can_decode_fast, decode_jpeg_baseline_frames
from echo_monai.io.ecg_dicom import read_dicom_ecg
from echo_monai.io.frames import convert_frames, to_rgb
from echo_monai.io.types import EchoCine, UltrasoundRegion

#: Transfer syntaxes whose frames end with an FFD9 marker (JPEG EOI, JPEG-LS EOI, JPEG 2000 EOC).
_JPEG_FAMILY = frozenset({JPEG2000, JPEG2000Lossless, JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLossless, JPEGLosslessSV1,
                          JPEGLSLossless, JPEGLSNearLossless})

__all__ = ["Box", "CropRule", "burned_in_ecg_area", "cine_metadata", "frame_times_ms", "open_dicom", "read_echo_cine",
           "ultrasound_regions"]

#: ``(x0, y0, x1, y1)`` inclusive pixel bounds, the convention of :class:`UltrasoundRegion` and ``scan_region``.
Box = tuple[int, int, int, int]
#: Chooses a crop from a file's ultrasound regions and stored ``(rows, columns)``, before any pixel is decoded.
CropRule = Callable[[list[UltrasoundRegion], tuple[int, int]], "Box | None"]


def open_dicom(path: str | os.PathLike, *, stop_before_pixels: bool = False) -> Dataset:
    """``dcmread`` with every failure turned into an :class:`EchoDataError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise EchoDataError(path, "file not found")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = dcmread(path, stop_before_pixels=stop_before_pixels)
            # pydicom converts raw elements lazily: a corrupt value representation would otherwise raise
            # later, from whichever reader touches it first.
            for _ in ds.iterall():
                pass
        for warning in caught:
            if "End of file reached" in str(warning.message):  # cut inside the encapsulated pixel data
                raise EchoDataError(path, f"DICOM file is truncated ({warning.message})".replace(f" {path}", ""))
        for warning in caught:  # everything else (odd values, non-conformant VRs) is the caller's to see
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        return ds
    except EchoDataError:
        raise
    except InvalidDicomError as exc:
        raise EchoDataError(path, f"not a DICOM file ({exc})") from exc
    except Exception as exc:  # truncated headers surface as EOFError, struct.error, OSError, ValueError ...
        raise EchoDataError(path, f"DICOM file is truncated or corrupt ({type(exc).__name__}: {exc})") from exc


def frame_times_ms(ds: Dataset, n_frames: int, path: str | os.PathLike | None = None) -> np.ndarray:
    """(T,) float64 time of each frame from the first (ms).

    Sources in order of trust: ``FrameTimeVector`` (increments, first 0; kept irregular), ``FrameTime``,
    ``CineRate``, ``RecommendedDisplayFrameRate``. A single frame is at 0 without any of them.
    """
    vector = ds.get("FrameTimeVector")
    if vector is not None and len(np.atleast_1d(vector)) > 0:
        inc = np.atleast_1d(np.asarray(vector, dtype=np.float64))
        if inc.size != n_frames:
            raise EchoDataError(path, f"FrameTimeVector has {inc.size} entries for {n_frames} frames")
        if not np.all(np.isfinite(inc)) or np.any(inc[1:] <= 0) or inc[0] < 0:
            raise EchoDataError(path, "FrameTimeVector has non-positive or non-finite frame intervals")
        times = np.cumsum(inc)
        return times - times[0]
    frame_time = ds.get("FrameTime")
    if frame_time not in (None, "") and float(frame_time) > 0:
        return np.arange(n_frames, dtype=np.float64) * float(frame_time)
    for keyword in ("CineRate", "RecommendedDisplayFrameRate"):
        rate = ds.get(keyword)
        if rate not in (None, "") and float(rate) > 0:
            return np.arange(n_frames, dtype=np.float64) * (1000.0 / float(rate))
    if n_frames == 1:
        return np.zeros(1, dtype=np.float64)
    raise EchoDataError(path, f"{n_frames} frames but no frame timing (FrameTimeVector, FrameTime, CineRate "
                              "or RecommendedDisplayFrameRate)")


def ultrasound_regions(ds: Dataset) -> list[UltrasoundRegion]:
    """All items of ``SequenceOfUltrasoundRegions`` (an empty list when there is none)."""
    regions = []
    for item in ds.get("SequenceOfUltrasoundRegions", []):
        def get(keyword: str, default: float = 0, item: Dataset = item):
            value = item.get(keyword)
            return default if value in (None, "") else value

        ref_x, ref_y = item.get("ReferencePixelX0"), item.get("ReferencePixelY0")
        regions.append(UltrasoundRegion(
            x0=int(get("RegionLocationMinX0")), y0=int(get("RegionLocationMinY0")),
            x1=int(get("RegionLocationMaxX1")), y1=int(get("RegionLocationMaxY1")),
            spatial_format=int(get("RegionSpatialFormat")), data_type=int(get("RegionDataType")),
            units_x=int(get("PhysicalUnitsXDirection")), units_y=int(get("PhysicalUnitsYDirection")),
            delta_x=float(get("PhysicalDeltaX", 0.0)), delta_y=float(get("PhysicalDeltaY", 0.0)),
            reference_pixel_x0=None if ref_x is None else int(ref_x),
            reference_pixel_y0=None if ref_y is None else int(ref_y)))
    return regions


def _tissue_region(regions: list[UltrasoundRegion]) -> UltrasoundRegion | None:
    """The B-mode tissue region in cm: the largest tissue item with positive deltas."""
    tissue = [r for r in regions if r.data_type == REGION_DATA_TISSUE and r.units_x == UNITS_CM
              and r.units_y == UNITS_CM and r.delta_x > 0 and r.delta_y > 0]
    if not tissue:
        return None
    return max(tissue, key=lambda r: (r.x1 - r.x0 + 1) * (r.y1 - r.y0 + 1))


def burned_in_ecg_area(regions: list[UltrasoundRegion], shape: tuple[int, int]) -> Box:
    """Where a burned-in ECG trace can be, in stored pixels ``(x0, y0, x1, y1)`` (a :data:`CropRule`).

    The ECG trace region (``RegionDataType`` 10) when the file declares one; otherwise the full width of
    the rows below the tissue region, and never less than the lower half of the image: scanners draw the
    trace near the bottom, sometimes over a tissue region that spans the whole screen, and a trace found by
    search must be a thin strip of the area searched.
    """
    rows, cols = shape
    for r in regions:
        if r.data_type == REGION_DATA_ECG:
            box = (max(r.x0, 0), max(r.y0, 0), min(r.x1, cols - 1), min(r.y1, rows - 1))
            if box[0] <= box[2] and box[1] <= box[3]:
                return box
    tissue = _tissue_region(regions)
    below = rows if tissue is None else tissue.y1 + 1
    return 0, max(0, min(below, rows // 2)), cols - 1, rows - 1


def _marker(uid: object) -> str | None:
    """A short one-way key of a UID: groups cines by study/series without carrying the UID itself."""
    return None if not uid else hashlib.sha256(str(uid).encode()).hexdigest()[:16]


def cine_metadata(ds: Dataset, n_frames: int, times: np.ndarray) -> dict:
    """De-identified facts about the acquisition: device, encoding, geometry, timing. No patient data."""
    def text(keyword: str) -> str | None:
        value = ds.get(keyword)
        return None if value in (None, "") else str(value)

    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    heart_rate = ds.get("HeartRate")
    rate = 1000.0 * (n_frames - 1) / float(times[-1]) if n_frames > 1 and times[-1] > 0 else None
    return {
        "modality": text("Modality"),
        "manufacturer": text("Manufacturer"),
        "model": text("ManufacturerModelName"),
        "sop_class_uid": text("SOPClassUID"),
        "transfer_syntax_uid": None if ts is None else str(ts),
        "transfer_syntax": None if ts is None else ts.name,
        "photometric": text("PhotometricInterpretation"),
        "rows": int(ds.Rows) if "Rows" in ds else None,
        "columns": int(ds.Columns) if "Columns" in ds else None,
        "n_frames": n_frames,
        "frame_rate_hz": rate,
        "heart_rate_bpm": float(heart_rate) if heart_rate not in (None, "") and float(heart_rate) > 0 else None,
        "study_key": _marker(ds.get("StudyInstanceUID")),
        "series_key": _marker(ds.get("SeriesInstanceUID")),
    }


def _check_decodable(ds: Dataset, path: Path) -> None:
    ts = ds.file_meta.get("TransferSyntaxUID")
    if ts is None:
        raise EchoDataError(path, "no TransferSyntaxUID in the file meta information")
    if not ts.is_transfer_syntax:
        raise EchoDataError(path, f"no decoder for transfer syntax {ts} (not a known transfer syntax)")
    if not ts.is_compressed:
        return
    try:
        decoder = get_decoder(ts)
    except NotImplementedError as exc:
        raise EchoDataError(path, f"no decoder for transfer syntax {ts} ({ts.name})") from exc
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies)
        raise EchoDataError(path, f"no installed decoder for {ts.name} (needs one of: {missing})")


def _check_frame_count_plausible(ds: Dataset, n_frames: int, path: Path) -> None:
    """Refuse a NumberOfFrames the pixel data cannot possibly hold, without decoding anything.

    An encapsulated frame takes at least an 8-byte item header; a native frame Rows x Columns x samples.
    """
    size = len(ds.PixelData)
    if ds.file_meta.TransferSyntaxUID.is_encapsulated:
        most = size // 8
    else:
        samples, bits = int(ds.get("SamplesPerPixel", 1)), int(ds.get("BitsAllocated", 8))
        frame_bytes = int(ds.Rows) * int(ds.Columns) * samples * bits // 8
        most = size // max(frame_bytes, 1)
    if n_frames > most:
        raise EchoDataError(path, f"NumberOfFrames is {n_frames} but the pixel data ({size} bytes) can hold at "
                                  f"most {most} frames: truncated file or corrupt header")


def _check_pixel_data(ds: Dataset, n_frames: int, path: Path) -> None:
    """Refuse pixel data that cannot hold ``n_frames`` frames, before anything is allocated for them."""
    ts = ds.file_meta.TransferSyntaxUID
    if ts.is_encapsulated:
        try:
            encoded = list(generate_frames(ds.PixelData, number_of_frames=n_frames))
        except Exception as exc:  # pydicom raises ValueError/struct.error on a broken item structure
            raise EchoDataError(path, f"encapsulated pixel data is truncated or corrupt ({exc})") from exc
        if len(encoded) != n_frames:
            raise EchoDataError(path, f"NumberOfFrames is {n_frames} but the pixel data holds {len(encoded)} frames")
        if ts in _JPEG_FAMILY:
            for i, frame in enumerate(encoded):
                # Decoders fill a frame cut before its end-of-image marker with grey instead of failing.
                if not frame.rstrip(b"\x00").endswith(b"\xff\xd9"):
                    raise EchoDataError(path, f"JPEG frame {i} is truncated (no end-of-image marker)")
        return
    bits = int(ds.get("BitsAllocated", 8))
    frame_bytes = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1)) * bits // 8
    held = len(ds.PixelData) // max(frame_bytes, 1)
    if held < n_frames:
        raise EchoDataError(path, f"pixel data is truncated: NumberOfFrames is {n_frames} but it holds {held} frames")


def _reference_frames(ds: Dataset, n_frames: int, path: Path, crop: Box | None = None) -> np.ndarray:
    """All frames through pydicom's decoders: uint8 (T, H, W) or (T, H, W, 3) RGB, bright = echo.

    Without ``crop`` the whole cine is decoded at once (``pixel_array``); with one, frame by frame, each cut
    to ``(x0, y0, x1, y1)`` before the next is decoded.
    """
    _check_pixel_data(ds, n_frames, path)
    if crop is not None:
        x0, y0, x1, y1 = crop
        frames = _decode_each(ds, path)  # RGB for YBR sources, as pixel_array
        first = next(frames, None)
        if first is None:
            raise EchoDataError(path, "the pixel data decodes to no frames")
        first = _echo_uint8(first[None], ds, path)[0, y0 : y1 + 1, x0 : x1 + 1]
        out = np.empty((n_frames,) + first.shape, dtype=np.uint8)
        out[0] = first
        for i, frame in enumerate(frames, start=1):
            out[i] = _echo_uint8(frame[None], ds, path)[0, y0 : y1 + 1, x0 : x1 + 1]
        return out
    try:
        arr = ds.pixel_array  # pydicom 3 returns RGB for YBR sources
    except Exception as exc:  # any decoder failure on bad pixel data
        raise EchoDataError(path, f"pixel data cannot be decoded ({type(exc).__name__}: {exc})") from exc
    samples = int(ds.get("SamplesPerPixel", 1))
    if n_frames == 1 and arr.ndim == (2 if samples == 1 else 3):
        arr = arr[None]
    return _echo_uint8(arr, ds, path)


def _decode_each(ds: Dataset, path: Path):
    """Decoded frames one at a time (pydicom's ``iter_pixels``), decoder failures as :class:`EchoDataError`."""
    frames = iter_pixels(ds)
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            return
        except Exception as exc:  # any decoder failure on bad pixel data
            raise EchoDataError(path, f"pixel data cannot be decoded ({type(exc).__name__}: {exc})") from exc
        yield frame


def _echo_uint8(arr: np.ndarray, ds: Dataset, path: Path) -> np.ndarray:
    """Decoded frames (T, H, W[, 3]) as uint8 with bright = echo: palette applied, deep pixels rescaled."""
    photometric = ds.PhotometricInterpretation
    if photometric == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
    if arr.dtype != np.uint8:
        # Palettes with 16-bit entries and >8-bit greyscale: rescale the stored range to 0..255.
        bits = 16 if photometric == "PALETTE COLOR" and arr.dtype == np.uint16 else int(ds.get("BitsStored", 8))
        if ds.get("PixelRepresentation", 0) == 1:
            raise EchoDataError(path, "signed pixel data is not an echo image this reader supports")
        arr = (arr.astype(np.uint32) * 255 // ((1 << bits) - 1)).astype(np.uint8)
    if photometric == "MONOCHROME1":
        arr = 255 - arr
    return arr


def read_echo_cine(
    path: str | os.PathLike,
    *,
    grey: bool | None = None,
    size: tuple[int, int] | None = None,
    fast: bool = True,
    workers: int | None = None,
    ecg_search_dir: str | os.PathLike | None = None,
    with_ecg: bool = True,
    crop: Box | CropRule | None = None,
) -> EchoCine:
    """Read an echo DICOM (cine or single frame).

    Args:
        path: the DICOM file.
        grey: ``None`` keeps the stored colour, ``True`` gives luminance (T, H, W), ``False`` RGB.
        size: (H, W) to resize every frame to; spacing, regions and scan region are rescaled to match.
        fast: decode JPEG-baseline frames directly (DCT-domain downscaling, luminance only when grey).
        workers: decoding threads for the fast path (``None``: one).
        ecg_search_dir: folder to look in for a separate ECG waveform object of the same study.
        with_ecg: read the ECG (waveform, separate object, curve or R-wave times).
        crop: decode only this part of every frame: ``(x0, y0, x1, y1)`` inclusive stored pixels (clipped
            to the image), or a :data:`CropRule` choosing it from the file's regions (e.g.
            :func:`burned_in_ecg_area`). Frames are cut one at a time as they are decoded, so memory follows
            the crop, not the stored frames; ``size`` then resizes the crop. Regions and scan region come
            back in the cropped grid (``metadata["crop"]`` holds the box applied).

    Returns:
        An :class:`EchoCine` with uint8 frames, frame times in ms, spacing (mm), ultrasound regions, ECG
        and de-identified metadata.

    Raises:
        EchoDataError: unreadable, truncated or non-DICOM file; no image; zero frames; undecodable
            transfer syntax; inconsistent timing; unusable ECG waveform.
    """
    path = Path(path)
    if crop is not None and not callable(crop):
        crop = _as_box(crop)
    ds = open_dicom(path)
    try:
        return _read_dataset(ds, path, grey=grey, size=size, fast=fast, workers=workers,
                             ecg_search_dir=ecg_search_dir, with_ecg=with_ecg, crop=crop)
    except EchoDataError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError) as exc:
        # Header values of the wrong type or multiplicity (e.g. NumberOfFrames "6\\7") surface here.
        raise EchoDataError(path, f"malformed DICOM header value ({type(exc).__name__}: {exc})") from exc


def _read_dataset(ds: Dataset, path: Path, *, grey: bool | None, size: tuple[int, int] | None, fast: bool,
                  workers: int | None, ecg_search_dir: str | os.PathLike | None, with_ecg: bool,
                  crop: Box | CropRule | None = None) -> EchoCine:
    if "PixelData" not in ds:
        kind = ds.get("SOPClassUID")
        # A known non-image SOP class (an ECG waveform object, a report ...) is "not an image". Anything else
        # without pixels is a cut file: pydicom stops quietly at its end, possibly inside the SOP class UID
        # itself (then a UID pydicom does not know).
        if kind is not None and kind.keyword and "Image" not in kind.name and "Rows" not in ds:
            raise EchoDataError(path, f"not an image: no pixel data ({kind.name})")
        raise EchoDataError(path, "DICOM file is truncated: it ends before the pixel data")
    for keyword in ("Rows", "Columns", "PhotometricInterpretation"):
        if keyword not in ds:
            raise EchoDataError(path, f"image without {keyword}")
    value = ds.get("NumberOfFrames")
    if isinstance(value, (list, tuple)) or (hasattr(value, "__len__") and not isinstance(value, (str, int))):
        raise EchoDataError(path, f"NumberOfFrames must be one number, got {value!r}")
    n_frames = 1 if value in (None, "") else int(value)  # absent or empty: a single-frame image
    if n_frames <= 0:
        raise EchoDataError(path, "the image has zero frames")
    _check_decodable(ds, path)
    _check_frame_count_plausible(ds, n_frames, path)  # before anything is sized by NumberOfFrames
    times = frame_times_ms(ds, n_frames, path)
    ecg = read_dicom_ecg(ds, path, ecg_search_dir) if with_ecg else None  # before decoding: fail cheaply

    stored_h, stored_w = int(ds.Rows), int(ds.Columns)
    regions = ultrasound_regions(ds)
    box = _crop_box(crop(regions, (stored_h, stored_w)) if callable(crop) else crop, (stored_h, stored_w), path)
    colour_source = int(ds.get("SamplesPerPixel", 1)) == 3 or ds.PhotometricInterpretation == "PALETTE COLOR"
    use_fast = fast and can_decode_fast(ds)
    if use_fast:
        want_grey = grey is True or not colour_source
        frames = decode_jpeg_baseline_frames(ds, grey=want_grey, size=size, workers=workers, path=path, crop=box)
        if grey is False:
            frames = to_rgb(frames)  # a greyscale source asked for as RGB
    else:
        frames = convert_frames(_reference_frames(ds, n_frames, path, box), grey=grey, size=size)
    if frames.shape[0] != n_frames:
        raise EchoDataError(path, f"NumberOfFrames is {n_frames} but {frames.shape[0]} frames were decoded")

    # Physical geometry in the returned pixel grid: shifted to the crop's origin, then scaled.
    x0, y0, x1, y1 = (0, 0, stored_w - 1, stored_h - 1) if box is None else box
    if (x0, y0) != (0, 0):
        regions = [dataclasses.replace(r, x0=r.x0 - x0, y0=r.y0 - y0, x1=r.x1 - x0, y1=r.y1 - y0) for r in regions]
    scale_y, scale_x = (y1 - y0 + 1) / frames.shape[1], (x1 - x0 + 1) / frames.shape[2]
    if (scale_x, scale_y) != (1.0, 1.0):
        regions = [_rescale_region(r, scale_x, scale_y) for r in regions]
    tissue = _tissue_region(regions)
    spacing = None if tissue is None else (tissue.delta_y * 10.0, tissue.delta_x * 10.0)
    scan_region = None
    if tissue is not None:
        # Clipped to the image: some devices give region bounds in their screen grid, past the columns.
        h, w = frames.shape[1:3]
        scan_region = (max(tissue.x0, 0), max(tissue.y0, 0), min(tissue.x1, w - 1), min(tissue.y1, h - 1))
        if scan_region[0] > scan_region[2] or scan_region[1] > scan_region[3]:
            scan_region = None  # a crop outside the tissue region

    metadata = cine_metadata(ds, n_frames, times)
    metadata["decoder"] = "fast_jpeg" if use_fast else "pydicom"
    metadata["output_shape"] = tuple(int(s) for s in frames.shape)
    if box is not None:
        metadata["crop"] = box
    return EchoCine(frames=frames, frame_times_ms=times, spacing_mm=spacing, regions=regions,
                    scan_region=scan_region, ecg=ecg, metadata=metadata, path=str(path))


def _crop_box(crop: Box | None, shape: tuple[int, int], path: Path) -> Box | None:
    """``crop`` clipped to the ``(rows, columns)`` image; ``None`` for no crop or one covering the image."""
    if crop is None:
        return None
    rows, cols = shape
    x0, y0, x1, y1 = _as_box(crop)
    box = (max(x0, 0), max(y0, 0), min(x1, cols - 1), min(y1, rows - 1))
    if box[0] > box[2] or box[1] > box[3]:
        raise EchoDataError(path, f"crop {(x0, y0, x1, y1)} lies outside the {rows}x{cols} image")
    return None if box == (0, 0, cols - 1, rows - 1) else box


def _as_box(crop: object) -> Box:
    try:
        x0, y0, x1, y1 = (int(v) for v in crop)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"crop must be (x0, y0, x1, y1) inclusive pixel bounds, got {crop!r}") from exc
    return x0, y0, x1, y1


def _rescale_region(r: UltrasoundRegion, scale_x: float, scale_y: float) -> UltrasoundRegion:
    """A region in the resized grid: bounds divided, physical size per pixel multiplied."""
    def sx(v: int) -> int:
        return round(v / scale_x)

    def sy(v: int) -> int:
        return round(v / scale_y)

    return UltrasoundRegion(
        x0=sx(r.x0), y0=sy(r.y0), x1=round((r.x1 + 1) / scale_x) - 1, y1=round((r.y1 + 1) / scale_y) - 1,
        spatial_format=r.spatial_format, data_type=r.data_type, units_x=r.units_x, units_y=r.units_y,
        delta_x=r.delta_x * scale_x, delta_y=r.delta_y * scale_y,
        reference_pixel_x0=None if r.reference_pixel_x0 is None else sx(r.reference_pixel_x0),
        reference_pixel_y0=None if r.reference_pixel_y0 is None else sy(r.reference_pixel_y0))
