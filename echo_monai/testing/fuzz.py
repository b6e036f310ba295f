"""Property-based fuzzing of the DICOM cine reader and the ECG chain (needs ``hypothesis``, a dev extra).

The properties, for any input: only the documented error types escape (:class:`EchoDataError` and its
subclass :class:`ECGError`), no call hangs (a per-example deadline), and no call allocates more than a
bound set by the input's real size, not by what a (corrupt) header claims. Used by
``tests/reliability/test_fuzz.py`` (a bounded run in CI) and ``benchmarks/bench_fuzz.py`` (a long run).
"""

from __future__ import annotations

import io
import math
import os
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import pydicom
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from echo_monai.errors import EchoDataError
from echo_monai.testing.corpus import write_valid_cine

__all__ = [
    "DOCUMENTED_ERRORS",
    "MUTABLE_TAGS",
    "FuzzBudget",
    "PropertyViolation",
    "apply_tag_mutations",
    "base_cine_bytes",
    "check_dicom_bytes",
    "check_ecg",
    "dicom_byte_mutations",
    "dicom_tag_mutations",
    "ecg_inputs",
    "mutate_tag",
]

#: What a reader or ECG function may raise for bad input: EchoDataError (ECGError is a subclass), both
#: ValueErrors. A bare ValueError passes the property but is counted apart by the long run
#: (benchmarks/bench_fuzz.py): its message rarely names the file.
DOCUMENTED_ERRORS: tuple[type[BaseException], ...] = (EchoDataError, ValueError)


@dataclass(frozen=True)
class FuzzBudget:
    """Per-example limits: wall time (s) and growth of the process's peak resident memory (MB)."""

    seconds: float = 10.0
    peak_mb: float = 256.0


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (``VmHWM``) of this process; False where Linux does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _rss_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


class _PeakMemory:
    """Peak memory of a block: resident (``VmHWM`` after a reset) on Linux, else tracemalloc.

    Resident memory is what runs a machine out of memory; tracemalloc would also count address space
    that a reader reserves and never touches (``file.read(n)`` reserves ``n`` bytes for a corrupt length
    before it finds the file shorter), which costs nothing. While the block runs, the address space is
    capped (see :meth:`_cap_address_space`).
    """

    margin_mb: float = 2048.0  # address space a call may map beyond what is mapped when it starts

    def __enter__(self) -> Self:
        self._cap_address_space()
        self.rss = _reset_peak_rss()
        if self.rss:
            self.start = _rss_mb("VmRSS")
        else:
            tracemalloc.start()
        return self

    def _cap_address_space(self) -> None:
        """Lower the soft address-space limit to what is mapped now plus a margin, so that an input which
        drives a multi-GB allocation fails with MemoryError (a reported violation) instead of getting the
        whole test process killed by the kernel. The hard limit is left alone, so it can be restored."""
        self.old_limit = None
        try:
            import resource

            mapped_mb = _rss_mb("VmSize")
            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            cap = int((mapped_mb + self.margin_mb) * 2**20)
            if math.isfinite(mapped_mb) and (hard == resource.RLIM_INFINITY or cap < hard):
                resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
                self.old_limit = (soft, hard)
        except (ImportError, OSError, ValueError):
            pass

    def __exit__(self, *exc: object) -> None:
        if self.old_limit is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, self.old_limit)
        if self.rss:
            self.peak_mb = _rss_mb("VmHWM") - self.start
        else:
            self.peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()


class PropertyViolation(AssertionError):
    """An example broke a property: wrong exception type, too slow, or too much memory."""


@dataclass(frozen=True)
class Outcome:
    """What one call did: ``kind`` is ``"ok"``, ``"EchoDataError"``, ``"bare ValueError"`` (passes the
    property, but its message does not come from our checks) or ``"violation"``."""

    label: str
    kind: str
    seconds: float
    peak_mb: float
    message: str = ""


def _run_checked(label: str, fn: Callable[[], Any], budget: FuzzBudget, record: list[Outcome] | None = None) -> Any:
    """Run ``fn`` under a memory watch and a clock; swallow documented errors, fail on anything else.

    ``record``, when given, receives an :class:`Outcome` for the call (violations included).
    """
    memory = _PeakMemory()
    kind, message, violation = "ok", "", None
    t0 = time.perf_counter()
    try:
        with memory, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns about every odd value; not what is tested here
            fn()
    except EchoDataError as exc:
        kind, message = "EchoDataError", str(exc)
    except ValueError as exc:
        kind, message = "bare ValueError", f"{exc}"
    except MemoryError:
        violation = f"{label}: MemoryError: the input drove a huge allocation"
    except Exception as exc:  # noqa: BLE001 - anything else is what the property forbids
        violation = f"{label}: {type(exc).__name__} escaped: {exc}"
    elapsed, peak_mb = time.perf_counter() - t0, memory.peak_mb
    if violation is None and elapsed > budget.seconds:
        violation = f"{label}: took {elapsed:.1f} s (limit {budget.seconds} s)"
    if violation is None and peak_mb > budget.peak_mb:
        violation = f"{label}: peak resident memory grew by {peak_mb:.0f} MB (limit {budget.peak_mb} MB)"
    if record is not None:
        record.append(Outcome(label, "violation" if violation else kind, elapsed, peak_mb, violation or message))
    if violation:
        raise PropertyViolation(violation)
    return None


# ---------------------------------------------------------------------------------------------- DICOM

_BASE: dict[tuple, bytes] = {}


def base_cine_bytes(n_frames: int = 6, size: tuple[int, int] = (32, 40), compression: str = "jpeg_baseline") -> bytes:
    """A valid small cine with an ECG waveform, as bytes (written once per process and settings)."""
    key = (n_frames, size, compression)
    if key not in _BASE:
        with tempfile.TemporaryDirectory() as tmp:
            path = write_valid_cine(Path(tmp) / "base.dcm", n_frames=n_frames, size=size, compression=compression,
                                    ecg=True, tag=99)
            _BASE[key] = path.read_bytes()
    return _BASE[key]


def dicom_byte_mutations(data: bytes, header_bytes: int = 2048) -> st.SearchStrategy[bytes]:
    """``data`` with 1-16 bytes overwritten (biased to the header, where lengths and tags live), maybe cut."""
    n = len(data)
    position = st.one_of(st.integers(0, min(header_bytes, n) - 1), st.integers(0, n - 1))
    edits = st.lists(st.tuples(position, st.integers(0, 255)), min_size=1, max_size=16)
    cut = st.one_of(st.none(), st.none(), st.none(), st.integers(0, n))  # cut one example in four

    @st.composite
    def mutated(draw: st.DrawFn) -> bytes:
        buf = bytearray(data)
        for pos, value in draw(edits):
            buf[pos] = value
        end = draw(cut)
        return bytes(buf if end is None else buf[:end])

    return mutated()


#: (path to the element, kind of values to try). Paths index sequences with integers.
MUTABLE_TAGS: tuple[tuple[tuple, str], ...] = (
    (("NumberOfFrames",), "int"), (("Rows",), "int"), (("Columns",), "int"), (("BitsAllocated",), "int"),
    (("BitsStored",), "int"), (("HighBit",), "int"), (("SamplesPerPixel",), "int"),
    (("PixelRepresentation",), "int"), (("PlanarConfiguration",), "int"),
    (("PhotometricInterpretation",), "text"), (("FrameTime",), "float"), (("FrameTimeVector",), "floats"),
    (("CineRate",), "float"), (("HeartRate",), "int"), (("FrameDelay",), "float"), (("RWaveTimeVector",), "floats"),
    (("SequenceOfUltrasoundRegions", 0, "PhysicalDeltaX"), "float"),
    (("SequenceOfUltrasoundRegions", 0, "RegionLocationMaxX1"), "int"),
    (("SequenceOfUltrasoundRegions", 0, "RegionLocationMinY0"), "int"),
    (("WaveformSequence", 0, "SamplingFrequency"), "float"),
    (("WaveformSequence", 0, "NumberOfWaveformSamples"), "int"),
    (("WaveformSequence", 0, "NumberOfWaveformChannels"), "int"),
    (("WaveformSequence", 0, "WaveformBitsAllocated"), "int"),
    (("WaveformSequence", 0, "WaveformSampleInterpretation"), "text"),
    (("WaveformSequence", 0, "MultiplexGroupTimeOffset"), "float"),
    (("WaveformSequence", 0, "ChannelDefinitionSequence", 0, "ChannelSensitivity"), "float"),
    (("AcquisitionDateTime",), "text"), (("FrameIncrementPointer",), "int"),
)

_INTS = st.one_of(st.integers(-2, 16), st.sampled_from([0, 1, 255, 256, 10_000, 65_535, 2**31 - 1, -(2**31)]))
_FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                    st.sampled_from([0.0, -1.0, 1e-9, 1e9, math.nan, math.inf]))
_TEXT = st.one_of(st.sampled_from(["MONOCHROME2", "RGB", "YBR_FULL_422", "PALETTE COLOR", "MONOCHROME1", "YBR_ICT",
                                   "", "SIGNED 16BIT", "UB", "SB", "MB", "20201301", "2020"]),
                  st.text(max_size=20))


def dicom_tag_mutations() -> st.SearchStrategy[list[tuple[tuple, Any]]]:
    """1-4 (element path, new value or ``None`` to delete) changes to apply with :func:`mutate_tag`."""
    def value_for(kind: str) -> st.SearchStrategy[Any]:
        return {"int": _INTS, "float": _FLOATS, "text": _TEXT,
                "floats": st.lists(_FLOATS, min_size=0, max_size=12)}[kind]

    change = st.sampled_from(MUTABLE_TAGS).flatmap(
        lambda tk: st.tuples(st.just(tk[0]), st.one_of(st.none(), value_for(tk[1]))))
    return st.lists(change, min_size=1, max_size=4)


def mutate_tag(ds: pydicom.Dataset, path: tuple, value: Any) -> None:
    """Set (or delete when ``value`` is None) the element at ``path``; values are written as text so that
    malformed numbers reach the file as they would from a faulty device."""
    parent: Any = ds
    for step in path[:-1]:  # e.g. ("WaveformSequence", 0, ...): a sequence, then one of its items
        if isinstance(step, int):
            parent = parent[step] if parent is not None and len(parent) > step else None
        else:
            parent = parent.get(step) if isinstance(parent, pydicom.Dataset) else None
        if parent is None:
            return
    keyword = path[-1]
    if not isinstance(parent, pydicom.Dataset):
        return
    if value is None:
        if keyword in parent:
            delattr(parent, keyword)
        return
    elem_vr = pydicom.datadict.dictionary_VR(keyword)
    if elem_vr in ("US", "UL", "SS", "SL", "AT"):
        try:
            setattr(parent, keyword, value if isinstance(value, int) else 0)
        except Exception:  # noqa: BLE001 - a value pydicom refuses to hold is just not tried
            return
        return
    if isinstance(value, list):
        text = "\\".join(repr(float(v)) for v in value)
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = str(value)
    parent[keyword] = pydicom.DataElement(pydicom.datadict.tag_for_keyword(keyword), elem_vr, text)


def _to_bytes(ds: pydicom.Dataset) -> bytes | None:
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds.save_as(buf, enforce_file_format=False)
    except Exception:  # noqa: BLE001 - pydicom cannot even write it: nothing for the reader to meet
        return None
    return buf.getvalue()


def apply_tag_mutations(data: bytes, changes: list[tuple[tuple, Any]]) -> bytes | None:
    """The base file with ``changes`` applied, as bytes (``None`` when pydicom cannot write the result)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(io.BytesIO(data))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for path, value in changes:
                mutate_tag(ds, path, value)
    except Exception:  # noqa: BLE001 - pydicom refuses to hold the value: nothing to write
        return None
    return _to_bytes(ds)


def check_dicom_bytes(data: bytes, workdir: str | os.PathLike, budget: FuzzBudget = FuzzBudget(),
                      record: list[Outcome] | None = None) -> None:
    """Read ``data`` as a DICOM file as a model pipeline does (grey, resized, with ECG), at the stored
    size, and through the reference decoder (``fast=False``, the path of every non-baseline transfer
    syntax); only documented errors may escape, within ``budget``."""
    from echo_monai.io.dicom_read import read_echo_cine

    path = Path(workdir) / "fuzz.dcm"
    path.write_bytes(data)
    _run_checked("read_echo_cine(grey, 16x16)", lambda: read_echo_cine(path, grey=True, size=(16, 16)), budget,
                 record)
    _run_checked("read_echo_cine(as stored)", lambda: read_echo_cine(path), budget, record)
    _run_checked("read_echo_cine(fast=False)", lambda: read_echo_cine(path, fast=False), budget, record)


# ------------------------------------------------------------------------------------------------ ECG

_FS = st.one_of(st.sampled_from([0.0, -250.0, math.nan, math.inf, 1e-3, 1.0, 49.9, 50.0, 100.0, 250.0, 500.0,
                                 1000.0, 5000.0, 5000.1, 1e6, 1e12]),
                st.floats(min_value=10.0, max_value=6000.0))


@st.composite
def _ecg_like(draw: st.DrawFn) -> tuple[np.ndarray, float]:
    """A plausible ECG (spikes at a random rate, noise, drift) with NaN gaps, clipping or flat stretches."""
    fs = draw(st.sampled_from([50.0, 100.0, 128.0, 250.0, 360.0, 500.0, 1000.0]))
    seconds = draw(st.floats(0.2, 12.0))
    rate = draw(st.floats(20.0, 250.0))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fs)) / fs
    x = 0.3 * np.sin(2 * np.pi * 0.3 * t) + rng.normal(0, draw(st.floats(0.0, 2.0)), t.size)
    for beat in np.arange(rng.uniform(0, 1), seconds, 60.0 / rate):
        x += draw(st.floats(-3.0, 3.0)) * np.exp(-((t - beat) / 0.012) ** 2)
    damage = draw(st.sampled_from(["none", "nan_gap", "clip", "flat", "inf"]))
    if damage != "none" and t.size:
        a = int(rng.integers(0, t.size))
        b = min(t.size, a + int(rng.integers(1, max(2, t.size))))
        if damage == "nan_gap":
            x[a:b] = np.nan
        elif damage == "clip":
            x = np.clip(x, -0.2, 0.2)
        elif damage == "flat":
            x[a:b] = x[a]
        else:
            x[a] = np.inf
    leads = draw(st.integers(1, 3))
    return (np.stack([x] * leads) if leads > 1 else x), fs


def ecg_inputs() -> st.SearchStrategy[tuple[np.ndarray, float]]:
    """``(signal, fs)``: arbitrary arrays (NaN, inf, huge, empty, 2-D) with any rate, or damaged ECGs."""
    # Up to 16 leads: a (samples, leads) array passed the wrong way round is a different, documented
    # mistake; thousands of "leads" only measure the per-lead loop (about 3 ms a lead).
    shapes = st.one_of(st.tuples(st.integers(0, 5000)), st.tuples(st.integers(1, 16), st.integers(0, 3000)),
                       st.just((0,)), st.just((1, 0)))
    arbitrary = st.tuples(hnp.arrays(np.float64, shapes, elements=st.floats(allow_nan=True, allow_infinity=True)),
                          _FS)
    return st.one_of(arbitrary, _ecg_like(), st.tuples(_ecg_like().map(lambda p: p[0]), _FS))


def check_ecg(signal: np.ndarray, fs: float, budget: FuzzBudget = FuzzBudget(),
              record: list[Outcome] | None = None) -> None:
    """Quality check, R-peak detection and cardiac phases on ``signal``: documented errors only, in budget."""
    from echo_monai.ecg.phases import cardiac_phases
    from echo_monai.ecg.quality import ecg_quality
    from echo_monai.ecg.rpeaks import detect_r_peaks

    _run_checked("ecg_quality", lambda: ecg_quality(signal, fs), budget, record)
    _run_checked("detect_r_peaks", lambda: detect_r_peaks(signal, fs), budget, record)
    n = signal.shape[-1] if signal.ndim else 0
    duration_ms = 1000.0 * n / fs if np.isfinite(fs) and fs > 0 else 1000.0
    frames = np.linspace(0.0, max(duration_ms, 1.0) * 0.9, 20)
    _run_checked("cardiac_phases", lambda: cardiac_phases(None, frames, ecg=signal, fs=fs), budget, record)
