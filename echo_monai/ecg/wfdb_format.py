"""Minimal reader for PhysioNet WFDB records (``.hea`` + ``.dat``) and MIT-format annotations (``.atr``).

Enough to read the MIT-BIH Arrhythmia Database and similar single-segment records without the ``wfdb``
package: sample formats 212 (two 12-bit samples in 3 bytes), 16 (little-endian int16) and 80 (8-bit
offset binary), all signals in one interleaved ``.dat`` file. Multi-segment records and signals spread
over several ``.dat`` files are refused with a clear :class:`~echo_monai.errors.EchoDataError`.

Specification: https://physionet.org/physiotools/wag/header-5.htm, signal-5.htm and annot-5.htm.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from echo_monai.errors import EchoDataError

__all__ = ["ANNOTATION_SYMBOLS", "BEAT_SYMBOLS", "read_wfdb_annotations", "read_wfdb_record"]

#: MIT annotation codes (``ecgcodes.h``) to their one-character mnemonics; unused codes map to "".
ANNOTATION_SYMBOLS: tuple[str, ...] = (
    "", "N", "L", "R", "a", "V", "F", "J", "A", "S", "E", "j", "/", "Q", "~", "", "|", "", "s", "T",
    "*", "D", '"', "=", "p", "B", "^", "t", "+", "u", "?", "!", "[", "]", "e", "n", "@", "x", "f",
    "(", ")", "r",
)  # fmt: skip

#: Symbols that mark a QRS complex (a beat) in the MIT-BIH convention (ANSI/AAMI EC57 scoring).
BEAT_SYMBOLS: frozenset[str] = frozenset("NLRBAaJSVrFejnE/fQ?")

_SKIP, _NUM, _SUB, _CHN, _AUX = 59, 60, 61, 62, 63


def _header_path(record: str | os.PathLike) -> Path:
    path = Path(record)
    return path if path.suffix == ".hea" else path.with_name(path.name + ".hea")


def _parse_header(hea: Path) -> tuple[float, int | None, list[dict]]:
    try:
        lines = [ln.strip() for ln in hea.read_text(encoding="latin-1").splitlines()]
    except OSError as exc:
        raise EchoDataError(hea, f"cannot read the WFDB header ({exc.strerror or exc})") from exc
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise EchoDataError(hea, "empty WFDB header")
    rec = lines[0].split()
    if len(rec) < 2:
        raise EchoDataError(hea, f"malformed record line {lines[0]!r}")
    if "/" in rec[0]:
        raise EchoDataError(hea, "multi-segment WFDB records are not supported")
    try:
        n_sig = int(rec[1])
        fs = float(rec[2].split("/")[0]) if len(rec) > 2 else 250.0  # 250 Hz is the WFDB default
        n_samp = int(rec[3]) if len(rec) > 3 else None
    except ValueError as exc:
        raise EchoDataError(hea, f"malformed record line {lines[0]!r}") from exc
    if n_sig < 1 or len(lines) < 1 + n_sig:
        raise EchoDataError(hea, f"header announces {n_sig} signals but describes {len(lines) - 1}")
    if not np.isfinite(fs) or fs <= 0:
        raise EchoDataError(hea, f"invalid sampling frequency {rec[2]!r}")

    signals = []
    for ln in lines[1 : 1 + n_sig]:
        f = ln.split(maxsplit=8)
        fmt = re.match(r"^(\d+)(x\d+)?(:\d+)?(\+\d+)?$", f[1]) if len(f) > 1 else None
        if fmt is None:
            raise EchoDataError(hea, f"malformed signal line {ln!r}")
        if fmt.group(2) or fmt.group(3):
            raise EchoDataError(hea, "oversampled or skewed WFDB signals are not supported")
        gain_m = re.match(r"^([-+\d.eE]+)(?:\(([-\d]+)\))?(?:/(\S+))?$", f[2]) if len(f) > 2 else None
        gain = float(gain_m.group(1)) if gain_m else 0.0
        units = gain_m.group(3) if gain_m and gain_m.group(3) else "mV"
        adc_zero = int(f[4]) if len(f) > 4 else 0
        baseline = int(gain_m.group(2)) if gain_m and gain_m.group(2) else adc_zero
        signals.append(
            {
                "file": f[0],
                "format": int(fmt.group(1)),
                "offset": int(fmt.group(4)[1:]) if fmt.group(4) else 0,
                "gain": gain if gain != 0 else 200.0,  # WFDB: gain 0 means 'uncalibrated', default 200
                "baseline": baseline,
                "units": units,
                "checksum": int(f[6]) if len(f) > 6 else None,
                "name": f[8].strip() if len(f) > 8 else f"ch{len(signals)}",
            }
        )
    return fs, n_samp, signals


def _decode(raw: np.ndarray, fmt: int, n_sig: int, path: Path) -> np.ndarray:
    """Decode a byte buffer to (n_frames, n_sig) int32 digital values."""
    if fmt == 212:
        n_triplets = raw.size // 3
        b = raw[: 3 * n_triplets].reshape(-1, 3).astype(np.int32)
        first = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
        second = b[:, 2] | ((b[:, 1] & 0xF0) << 4)
        values = np.empty(2 * n_triplets, dtype=np.int32)
        values[0::2], values[1::2] = first, second
        if raw.size - 3 * n_triplets == 2:  # an odd sample count ends with one sample in two bytes
            values = np.r_[values, int(raw[-2]) | ((int(raw[-1]) & 0x0F) << 8)]
        values[values >= 2048] -= 4096  # 12-bit two's complement
    elif fmt == 16:
        values = raw[: raw.size // 2 * 2].view("<i2").astype(np.int32)
    elif fmt == 80:
        values = raw.astype(np.int32) - 128
    else:
        raise EchoDataError(path, f"WFDB sample format {fmt} is not supported (212, 16 and 80 are)")
    n_frames = values.size // n_sig
    return values[: n_frames * n_sig].reshape(n_frames, n_sig)


def read_wfdb_record(record: str | os.PathLike) -> tuple[np.ndarray, float, list[str]]:
    """Read a WFDB record.

    Args:
        record: path without extension (``.../100``) or to the ``.hea`` file.

    Returns:
        ``(signal, fs, channel_names)``: signal shape (n_channels, n_samples), float32 in the header's
        physical units (mV for ECG), ``(digital - baseline) / gain``; fs in Hz.

    Raises:
        EchoDataError: missing or malformed files, unsupported formats, truncated data or a checksum
            mismatch.
    """
    hea = _header_path(record)
    fs, n_samp, signals = _parse_header(hea)
    files = {s["file"] for s in signals}
    if len(files) != 1 or len({(s["format"], s["offset"]) for s in signals}) != 1:
        raise EchoDataError(hea, "signals spread over several .dat files or formats are not supported")
    dat = hea.with_name(signals[0]["file"])
    try:
        raw = np.fromfile(dat, dtype=np.uint8, offset=signals[0]["offset"])
    except OSError as exc:
        raise EchoDataError(dat, f"cannot read the WFDB signal file ({exc.strerror or exc})") from exc
    digital = _decode(raw, signals[0]["format"], len(signals), dat)
    if n_samp is not None and n_samp > 0:
        if digital.shape[0] < n_samp:
            raise EchoDataError(dat, f"truncated: {digital.shape[0]} of {n_samp} samples per signal")
        digital = digital[:n_samp]
        for i, s in enumerate(signals):
            # WFDB checksum: 16-bit signed sum of all samples of the signal.
            if s["checksum"] is not None:
                total = int(digital[:, i].astype(np.int64).sum())
                total = (total + 32768) % 65536 - 32768
                if total != s["checksum"]:
                    raise EchoDataError(
                        dat, f"checksum mismatch in signal {i} ({s['name']}): file is corrupt"
                    )
    if digital.shape[0] == 0:
        raise EchoDataError(dat, "no samples")
    gain = np.array([s["gain"] for s in signals], dtype=np.float64)
    base = np.array([s["baseline"] for s in signals], dtype=np.float64)
    signal = ((digital - base) / gain).T.astype(np.float32)
    return np.ascontiguousarray(signal), fs, [s["name"] for s in signals]


def read_wfdb_annotations(record: str | os.PathLike, ext: str = "atr") -> tuple[np.ndarray, np.ndarray]:
    """Read an MIT-format annotation file (``<record>.<ext>``).

    Returns:
        ``(samples, symbols)``: int64 sample indices and their mnemonics (``"N"``, ``"V"``, ``"+"`` ...),
        both shape (n_annotations,). Keep beats with ``np.isin(symbols, list(BEAT_SYMBOLS))``.

    Raises:
        EchoDataError: missing or malformed annotation file.
    """
    path = Path(record)
    path = path if path.suffix == f".{ext}" else path.with_name(f"{path.name}.{ext}")
    try:
        words = np.fromfile(path, dtype="<u2")
    except OSError as exc:
        raise EchoDataError(path, f"cannot read the annotation file ({exc.strerror or exc})") from exc

    samples: list[int] = []
    symbols: list[str] = []
    t = 0
    i = 0
    n = words.size
    while i < n:
        w = int(words[i])
        code, value = w >> 10, w & 0x3FF
        i += 1
        if code == 0 and value == 0:
            break  # end of file
        if code == _SKIP:
            if i + 2 > n:
                raise EchoDataError(path, "truncated SKIP annotation")
            # 32-bit interval stored as two words, high word first (PDP-11 order), signed.
            skip = (int(words[i]) << 16) | int(words[i + 1])
            t += skip - (1 << 32) if skip >= 1 << 31 else skip
            i += 2
        elif code == _AUX:
            i += (value + 1) // 2  # auxiliary text, padded to an even byte count
        elif code in (_NUM, _SUB, _CHN):
            continue  # fields of the previous annotation
        else:
            t += value
            samples.append(t)
            symbols.append(ANNOTATION_SYMBOLS[code] if code < len(ANNOTATION_SYMBOLS) else "")
    else:
        if n:  # the loop ran out of words before the end-of-file marker
            raise EchoDataError(path, "annotation file ends without its end marker (truncated?)")
    return np.asarray(samples, dtype=np.int64), np.asarray(symbols, dtype="<U1")
