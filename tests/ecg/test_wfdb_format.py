"""Tests of the WFDB reader: real MIT-BIH record 100, and small records written here byte by byte."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from echo_monai.ecg.wfdb_format import BEAT_SYMBOLS, read_wfdb_annotations, read_wfdb_record
from echo_monai.errors import EchoDataError


def _pack_212(digital: np.ndarray) -> bytes:
    """Interleave (n, n_sig) 12-bit samples and pack two per three bytes (WFDB format 212)."""
    flat = digital.astype(np.int64).ravel() & 0xFFF
    if flat.size % 2:
        flat = np.r_[flat, 0]
    a, b = flat[0::2], flat[1::2]
    out = np.stack([a & 0xFF, ((a >> 8) & 0x0F) | ((b >> 8) << 4), b & 0xFF], axis=1)
    return out.astype(np.uint8).tobytes()


def _checksum(x: np.ndarray) -> int:
    return (int(x.astype(np.int64).sum()) + 32768) % 65536 - 32768


def _write_record(tmp: Path, digital: np.ndarray, fmt: int, fs: float = 250.0, gain: float = 200.0) -> Path:
    rec = tmp / "rec"
    n, n_sig = digital.shape
    if fmt == 212:
        (tmp / "rec.dat").write_bytes(_pack_212(digital))
    else:
        (tmp / "rec.dat").write_bytes(digital.astype("<i2").tobytes())
    lines = [f"rec {n_sig} {fs:g} {n}"]
    for i in range(n_sig):
        lines.append(
            f"rec.dat {fmt} {gain:g}(10)/mV 12 0 {digital[0, i]} {_checksum(digital[:, i])} 0 lead{i}"
        )
    (tmp / "rec.hea").write_text("\n".join(lines) + "\n# a comment\n")
    return rec


def test_record_100_matches_the_database_description(mitbih_dir: Path) -> None:
    signal, fs, names = read_wfdb_record(mitbih_dir / "100")
    assert signal.shape == (2, 650000) and signal.dtype == np.float32
    assert fs == 360.0 and names == ["MLII", "V5"]
    # Header initial values 995 and 1011 ADC units, baseline 1024, gain 200 adu/mV.
    np.testing.assert_allclose(signal[:, 0], [(995 - 1024) / 200, (1011 - 1024) / 200])
    assert 0.5 < np.percentile(signal[0], 99.9) - np.percentile(signal[0], 0.1) < 5.0  # mV, not counts
    samples, symbols = read_wfdb_annotations(mitbih_dir / "100")
    assert int(np.isin(symbols, list(BEAT_SYMBOLS)).sum()) == 2273
    assert set(symbols) >= {"N", "A", "V", "+"}
    assert np.all(np.diff(samples) >= 0) and samples[-1] < 650000


def test_format_212_with_an_odd_sample_count_ends_in_two_bytes(tmp_path: Path) -> None:
    digital = np.array([[5], [-7], [2047], [-2048], [100]])  # 5 samples: the last one alone
    rec = _write_record(tmp_path, digital, 212)
    data = (tmp_path / "rec.dat").read_bytes()
    (tmp_path / "rec.dat").write_bytes(data[:-1])  # WFDB writes the unpaired sample in 2 bytes
    signal, _, _ = read_wfdb_record(rec)
    np.testing.assert_allclose(signal[0], (digital[:, 0] - 10) / 200.0, atol=1e-6)


@pytest.mark.parametrize("fmt", [212, 16])
def test_written_record_reads_back_exactly(tmp_path: Path, fmt: int) -> None:
    rng = np.random.default_rng(0)
    digital = rng.integers(-2048, 2048, size=(1001, 3))
    rec = _write_record(tmp_path, digital, fmt, fs=500.0)
    signal, fs, names = read_wfdb_record(rec)
    assert fs == 500.0 and names == ["lead0", "lead1", "lead2"]
    np.testing.assert_allclose(signal, ((digital - 10) / 200.0).T, atol=1e-6)
    # The .hea path itself is accepted too.
    np.testing.assert_array_equal(read_wfdb_record(tmp_path / "rec.hea")[0], signal)


def test_truncated_and_corrupt_records_are_refused(tmp_path: Path) -> None:
    digital = np.arange(200).reshape(100, 2) - 100
    rec = _write_record(tmp_path, digital, 16)
    data = (tmp_path / "rec.dat").read_bytes()
    (tmp_path / "rec.dat").write_bytes(data[:-40])
    with pytest.raises(EchoDataError, match="truncated"):
        read_wfdb_record(rec)
    corrupt = bytearray(data)
    corrupt[10] ^= 0x01
    (tmp_path / "rec.dat").write_bytes(bytes(corrupt))
    with pytest.raises(EchoDataError, match="checksum"):
        read_wfdb_record(rec)
    with pytest.raises(EchoDataError, match="rec.hea"):
        read_wfdb_record(tmp_path / "missing" / "rec")
    (tmp_path / "rec.hea").write_text(
        "rec 2 250 100\nrec.dat 311 200 12 0 0 0 0 a\nrec.dat 311 200 12 0 0 0 0 b\n"
    )
    with pytest.raises(EchoDataError, match="format 311"):
        read_wfdb_record(rec)


def _ann_word(code: int, value: int) -> int:
    return (code << 10) | value


def test_annotations_with_skip_aux_and_subtype_fields(tmp_path: Path) -> None:
    words = [
        _ann_word(1, 100),  # N at 100
        _ann_word(61, 3),  # SUB of the previous annotation: ignored
        _ann_word(59, 0), 0x0001, 0x0000,  # SKIP 65536 samples (high word first)
        _ann_word(5, 4),  # V at 100 + 65536 + 4
        _ann_word(63, 3), 0x4E28, 0x0000,  # AUX "(N" + padding (3 bytes -> 2 words)
        _ann_word(28, 0),  # '+' rhythm change at the same sample
        _ann_word(12, 1023),  # paced beat, largest short interval
        0,
    ]  # fmt: skip
    (tmp_path / "rec.atr").write_bytes(np.asarray(words, dtype="<u2").tobytes())
    samples, symbols = read_wfdb_annotations(tmp_path / "rec")
    np.testing.assert_array_equal(samples, [100, 65640, 65640, 66663])
    assert symbols.tolist() == ["N", "V", "+", "/"]
    with pytest.raises(EchoDataError, match="rec.qrs"):
        read_wfdb_annotations(tmp_path / "rec", ext="qrs")
    (tmp_path / "cut.atr").write_bytes(np.asarray(words[:8], dtype="<u2").tobytes())  # inside the AUX text
    with pytest.raises(EchoDataError, match="end marker"):
        read_wfdb_annotations(tmp_path / "cut")
