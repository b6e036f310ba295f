"""Writing files so that a crash never leaves half a file, and keeping datalist paths inside their root."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from echo_monai.errors import EchoDataError

__all__ = ["atomic_write", "atomic_write_with", "resolve_inside"]


def atomic_write(path: str | os.PathLike, data: bytes | str, *, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` in one step: a temporary file in the same folder, then ``os.replace``.

    Readers see either the old file or the complete new one, never a partial write; the temporary file
    is removed if anything fails. The folder is created if missing.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        payload = data.encode(encoding)
    elif isinstance(data, (bytes, bytearray, memoryview)):
        payload = bytes(data)
    else:  # bytes(int) would silently write that many zero bytes
        raise TypeError(f"atomic_write takes str or bytes, got {type(data).__name__}")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_with(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Let ``write(tmp)`` fill a temporary file beside ``path``, then move it into place in one step.

    The temporary file keeps the final suffix (``.png``, ``.nii.gz`` ...) so that writers choosing the format
    from the name (Pillow, nibabel, matplotlib) behave as for ``path``; it is removed if ``write`` fails, and
    the old ``path`` (if any) is left as it was. The folder is created if missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = ".nii.gz" if path.name.endswith(".nii.gz") else path.suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def resolve_inside(
    root: str | os.PathLike,
    relative: str | os.PathLike,
    *,
    source: str | os.PathLike | None = None,
) -> Path:
    """The absolute path of ``relative`` below ``root``, refusing anything that leaves ``root``.

    Datalists and mapping files come from users and from other sites; an entry such as
    ``../../etc/passwd``, an absolute path, or a symbolic link pointing out of the data root must not
    make a script read (or later write next to) files outside the folder it was given.

    Args:
        root: the data root every entry must stay inside.
        relative: the path as written in the datalist (relative to ``root``; absolute paths are
            accepted only when they lie inside ``root``).
        source: the file the entry came from (the datalist), named in the error; default ``relative``.

    Returns:
        the resolved absolute path (symbolic links followed), which may not exist yet.

    Raises:
        EchoDataError: the entry is empty, contains a NUL byte, or resolves outside ``root``.
    """
    text = os.fspath(relative)
    where = source if source is not None else text
    if not text or "\x00" in text:
        raise EchoDataError(where, f"invalid path entry {text!r} (empty or with a NUL byte)")
    base = Path(root).expanduser().resolve()
    candidate = Path(text).expanduser()
    full = (candidate if candidate.is_absolute() else base / candidate).resolve()
    if full != base and base not in full.parents:
        raise EchoDataError(where, f"path {text!r} leaves the data root {base} (resolves to {full}); "
                                   "datalist entries must point inside the dataset folder")
    return full
