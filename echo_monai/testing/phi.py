"""Search output files for patient identifiers, in every form a file may hide them.

A de-identification check is only as good as its search: a name written by DICOM as ``DOE^JANE`` turns
up in a figure title as ``Doe Jane``, in a log as ``JANE DOE``, inside a gzip-compressed NIfTI header
extension, in a PNG text chunk (zlib-compressed) or in a member of a zip (``.npz``, ``.pt``). Every file is
therefore searched as raw bytes and in every decompressed layer found, case-insensitively, for all
spellings of each identifier.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["IdentifierHit", "find_identifiers", "identifier_patterns", "load_fake_identifiers"]

_MAX_DEPTH = 3  # nested containers (a zip in a gzip in ...) searched at most this deep
_MAX_LAYER_BYTES = 512 * 1024 * 1024  # decompression bomb guard for one layer


@dataclass(frozen=True)
class IdentifierHit:
    """One identifier found in one file.

    Attributes:
        path: the file.
        field: which identifier (``"name"``, ``"id"``, ``"birth_date"`` ...), with the case it belongs to.
        value: the identifier as recorded.
        layer: where in the file (``"raw bytes"``, ``"gzip"``, ``"zip member header.json"``, ``"PNG zTXt"``).
        context: a few bytes around the match, for the report.
    """

    path: str
    field: str
    value: str
    layer: str
    context: str


def _name_spellings(value: str) -> set[str]:
    """All spellings of a DICOM person name: ``^``-separated, spaces, commas, reversed, family alone."""
    parts = [p.strip() for p in value.split("^") if p.strip()]
    if not parts:
        return set()
    family, given = parts[0], parts[1:]
    spellings = {value, family}  # the family name alone: synthetic ones are distinctive (ZZFAKE...)
    if given:
        for sep in (" ", "^", ", ", ",", "_", "-", ""):
            spellings.add(sep.join([family, *given]))
            spellings.add(sep.join([*given, family]))
    return {s for s in spellings if len(s) >= 4}  # a short token alone would match ordinary words


@dataclass(frozen=True)
class _Needle:
    """One spelling to search: lower-case bytes, and whether it may touch a digit on either side."""

    field: str
    value: str
    text: bytes
    digit_edges: tuple[bool, bool]

    def search(self, blob_lower: bytes) -> int:
        """Offset of the first acceptable match in an ASCII-lower-cased blob, or -1."""
        start = blob_lower.find(self.text)
        while start >= 0:
            end = start + len(self.text)
            left_ok = not (self.digit_edges[0] and start > 0 and blob_lower[start - 1:start].isdigit())
            right_ok = not (self.digit_edges[1] and blob_lower[end:end + 1].isdigit())
            if left_ok and right_ok:
                return start
            start = blob_lower.find(self.text, start + 1)
        return -1


def identifier_patterns(identifiers: Mapping[str, str]) -> list[tuple[str, str, bytes]]:
    """The spellings searched for one patient's identifiers: ``(field, value, lower-case bytes)``.

    Names (``name``, ``referring_physician``, any key ending in ``name`` or ``physician``, any value
    with ``^``) get every spelling of :func:`_name_spellings`; ``sex`` and values under 4 characters
    are not searched (they identify nobody and would match everywhere). Dates (``YYYYMMDD``) are also
    searched as ``YYYY-MM-DD``, ``YYYY/MM/DD`` and ``YYYY.MM.DD``. Values starting or ending with a
    digit only match where they are not part of a longer number (see :func:`find_identifiers`). Each
    spelling is searched in single-byte, UTF-16 and UTF-32 encodings.
    """
    out = []
    for field, value in identifiers.items():
        value = str(value or "").strip()
        if field == "sex" or len(value) < 4:
            continue
        if field.endswith(("name", "physician")) or "^" in value:
            spellings = _name_spellings(value)
        else:
            spellings = {value}
            if re.fullmatch(r"\d{8}", value):  # DICOM DA
                spellings |= {f"{value[:4]}{sep}{value[4:6]}{sep}{value[6:]}" for sep in ("-", "/", ".")}
        for s in sorted(spellings):
            # Single-byte text, and the UTF-16/UTF-32 that NumPy string arrays (.npz) and some tools store.
            for encoding in ("latin-1", "utf-16-le", "utf-32-le"):
                out.append((field, value, s.lower().encode(encoding, "replace")))
    return out


def load_fake_identifiers(path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """``fake_identifiers.json`` of :func:`echo_monai.synthetic.make_dataset`: ``{case: {field: value}}``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {str(case): {str(k): str(v) for k, v in fields.items()} for case, fields in data.items()}


def _png_text_chunks(data: bytes) -> Iterator[tuple[str, bytes]]:
    """Text of a PNG's tEXt / zTXt / iTXt / eXIf chunks (decompressed)."""
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        try:
            if kind == b"zTXt":
                key, _, rest = body.partition(b"\x00")
                yield f"PNG zTXt {key.decode('latin-1')}", zlib.decompress(rest[1:])
            elif kind == b"iTXt":
                key, _, rest = body.partition(b"\x00")
                compressed = rest[:1] == b"\x01"
                text = rest[2:].split(b"\x00", 2)[-1]
                yield f"PNG iTXt {key.decode('latin-1')}", zlib.decompress(text) if compressed else text
        except zlib.error:
            continue


def _layers(name: str, data: bytes, depth: int = 0) -> Iterator[tuple[str, bytes]]:
    """``(layer, bytes)`` for the file itself and every decompressed layer inside it."""
    yield ("raw bytes" if depth == 0 else name), data
    if depth >= _MAX_DEPTH:
        return
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
                inner = fh.read(_MAX_LAYER_BYTES)
            yield from _layers(f"{name} > gzip", inner, depth + 1)
        except (OSError, EOFError, zlib.error):
            pass
    elif data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                for info in zf.infolist():
                    if info.file_size <= _MAX_LAYER_BYTES:
                        yield from _layers(f"{name} > zip member {info.filename}", zf.read(info), depth + 1)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error):
            pass
    elif data[:8] == b"\x89PNG\r\n\x1a\n":
        for layer, text in _png_text_chunks(data):
            yield f"{name} > {layer}", text
    if len(data) > 132 and data[128:132] == b"DICM":
        yield from _dicom_values(name, data)


def _dicom_values(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """Every element value of a DICOM file as text (deflated transfer syntaxes hide them from a byte scan)."""
    try:
        import pydicom

        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)
        values = []
        for elem in ds.iterall():
            if elem.VR in ("OB", "OW", "OF", "OD", "OL", "UN"):
                continue
            values.append(str(elem.value))
        yield f"{name} > DICOM element values", "\n".join(values).encode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - a file that does not parse is still searched as raw bytes
        return


def find_identifiers(
    paths: Iterable[str | os.PathLike],
    identifiers: Mapping[str, Mapping[str, str]] | Mapping[str, str],
) -> list[IdentifierHit]:
    """Every occurrence of any identifier in any of ``paths`` (files, or folders searched recursively).

    Args:
        paths: files and folders to search.
        identifiers: ``{case: {field: value}}`` (as in ``fake_identifiers.json``) or one patient's
            ``{field: value}``.

    Returns:
        the hits, one per (file, layer, identifier spelling); empty when nothing leaked.
    """
    values = list(identifiers.values())
    per_case = identifiers if values and isinstance(values[0], Mapping) else {"": identifiers}
    needles = []
    for case, fields in per_case.items():
        for field, value, text in identifier_patterns(fields):  # type: ignore[arg-type]
            edges = (text[:1].isdigit(), text[-1:].isdigit())
            needles.append(_Needle(f"{case}.{field}" if case else field, value, text, edges))

    files: list[Path] = []
    for given in paths:
        p = Path(given)
        files.extend(sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p])
    hits = []
    for file in files:
        data = file.read_bytes()
        for layer, blob in _layers(file.name, data):
            lower = blob.lower()  # ASCII case folding: DICOM names are upper case, figures may not be
            for needle in needles:
                at = needle.search(lower)
                if at >= 0:
                    lo, hi = max(0, at - 30), min(len(blob), at + len(needle.text) + 30)
                    hits.append(IdentifierHit(str(file), needle.field, needle.value, layer,
                                              blob[lo:hi].decode("latin-1").replace("\n", " ")))
    return hits
