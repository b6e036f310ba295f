"""The output folder of a dataset converter: guarded, atomic, reproducible, with a report.

Every converter writes through one :class:`ConversionOutput`, which

- refuses an output folder that overlaps an input (inside it, equal to it, or containing it), so that
  nothing a user gave can be overwritten;
- refuses a non-empty folder that a converter did not create (it marks its folders with
  ``.echo_monai_output.json``), and accepts a folder written earlier by the same converter, so that a
  re-run replaces its own outputs and gives the same bytes;
- writes every file atomically (a temporary file in the same folder, then ``os.replace``);
- collects what was skipped and why (and warnings about what was converted with a caveat), and writes
  ``skipped.csv`` and ``report.json`` at the end;
- removes files that an earlier run of the same converter wrote and this run did not (a re-run on
  changed input leaves no stale outputs behind). It never deletes a file it did not write.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from echo_monai.errors import EchoDataError

__all__ = ["MARKER_NAME", "ConversionOutput", "Skipped", "check_disjoint"]

MARKER_NAME = ".echo_monai_output.json"


@dataclass(frozen=True)
class Skipped:
    """One input that was not converted: ``source`` is its path relative to the input root."""

    source: str
    reason: str


def _resolved(path: str | os.PathLike) -> Path:
    return Path(path).expanduser().resolve()


def _is_within(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_disjoint(out_dir: str | os.PathLike, inputs: Iterable[str | os.PathLike]) -> None:
    """Raise :class:`EchoDataError` when ``out_dir`` is, contains or lies inside one of ``inputs``."""
    out = _resolved(out_dir)
    for given in inputs:
        inp = _resolved(given)
        if _is_within(out, inp) or _is_within(inp, out):
            raise EchoDataError(
                out,
                f"the output folder overlaps the input {inp}; choose an --out folder outside the input "
                "(inputs are never written to)",
            )


class ConversionOutput:
    """Guarded writer for one converter run.

    Args:
        out_dir: the output folder (created if missing).
        inputs: every input file or folder of the run; the output may not overlap any of them.
        tool: the converter's name, recorded in the marker; a folder made by another tool is refused.
    """

    def __init__(self, out_dir: str | os.PathLike, *, inputs: Iterable[str | os.PathLike], tool: str):
        self.root = _resolved(out_dir)
        self.tool = tool
        check_disjoint(self.root, inputs)
        if self.root.exists() and not self.root.is_dir():
            raise EchoDataError(self.root, "the output path exists and is not a folder")
        self._previous: list[str] = []
        marker = self.root / MARKER_NAME
        if self.root.is_dir() and any(self.root.iterdir()):
            if not marker.is_file():
                raise EchoDataError(
                    self.root,
                    "the output folder is not empty and was not written by an echo_monai converter; "
                    "choose an empty or new folder (existing files are never overwritten)",
                )
            try:
                previous = json.loads(marker.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise EchoDataError(marker, f"unreadable output marker ({exc})") from exc
            if previous.get("tool") != tool:
                raise EchoDataError(
                    self.root,
                    f"the output folder was written by {previous.get('tool')!r}, not {tool!r}; "
                    "choose another folder",
                )
            self._previous = [str(p) for p in previous.get("outputs", [])]
        self.root.mkdir(parents=True, exist_ok=True)
        # Mark the folder before anything else lands in it: a run that dies half-way can be re-run.
        self._write_marker(sorted(set(self._previous)))
        self.written: list[str] = []
        self.skipped: list[Skipped] = []
        self.warnings: list[Skipped] = []

    # -- paths -------------------------------------------------------------------------------------

    def path(self, relpath: str) -> Path:
        """Absolute path of an output file; refuses paths that would leave the output folder."""
        target = (self.root / relpath).resolve()
        if not _is_within(target, self.root) or target == self.root:
            raise ValueError(f"output path {relpath!r} leaves the output folder")
        return target

    # -- atomic writes -----------------------------------------------------------------------------

    def write_with(self, relpath: str, writer: Callable[[Path], Any]) -> Path:
        """Write ``relpath`` atomically: ``writer(tmp_path)`` fills a temporary file that then replaces it.

        The temporary file keeps the final suffixes (``.nii.gz``...), so writers that choose a format
        from the file name (nibabel) behave as for the real name.
        """
        target = self.path(relpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        suffix = "".join(target.suffixes[-2:]) if target.name.endswith(".nii.gz") else target.suffix
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp" + suffix, dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            writer(tmp)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._record(relpath)
        return target

    def write_bytes(self, relpath: str, data: bytes) -> Path:
        return self.write_with(relpath, lambda tmp: tmp.write_bytes(data))

    def write_text(self, relpath: str, text: str) -> Path:
        return self.write_bytes(relpath, text.encode("utf-8"))

    def write_json(self, relpath: str, obj: Any) -> Path:
        return self.write_text(relpath, json.dumps(obj, indent=2, sort_keys=False) + "\n")

    def write_csv(self, relpath: str, header: list[str], rows: Iterable[Iterable[Any]]) -> Path:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return self.write_text(relpath, buf.getvalue())

    # -- skips and the final report ----------------------------------------------------------------

    def skip(self, source: str, reason: str) -> None:
        """Record an input that is not converted, with the reason in a user's words."""
        self.skipped.append(Skipped(source=str(source), reason=reason))

    def warn(self, source: str, message: str) -> None:
        """Record a caveat about an input that was converted (listed in ``report.json``, not skipped)."""
        self.warnings.append(Skipped(source=str(source), reason=message))

    def finish(self, summary: dict[str, Any]) -> dict[str, Any]:
        """Write ``skipped.csv`` and ``report.json``, drop stale outputs of an earlier run, update the marker.

        Returns:
            the report: ``summary`` plus ``tool``, ``n_skipped``, ``skipped`` (source, reason) and
            ``warnings`` (source, reason).
        """
        skipped = sorted(self.skipped, key=lambda s: (s.source, s.reason))
        self.write_csv("skipped.csv", ["source", "reason"], [(s.source, s.reason) for s in skipped])
        report = {
            "tool": self.tool,
            **summary,
            "n_skipped": len(skipped),
            "skipped": [{"source": s.source, "reason": s.reason} for s in skipped],
            "warnings": [{"source": w.source, "reason": w.reason}
                         for w in sorted(self.warnings, key=lambda w: (w.source, w.reason))],
        }
        self.write_json("report.json", report)
        current = set(self.written)
        for rel in self._previous:
            if rel not in current:
                stale = self.path(rel)
                stale.unlink(missing_ok=True)
                self._remove_empty_parents(stale.parent)
        self._write_marker(sorted(current))
        return report

    # -- internals ---------------------------------------------------------------------------------

    def _record(self, relpath: str) -> None:
        rel = self.path(relpath).relative_to(self.root).as_posix()
        if rel not in self.written:
            self.written.append(rel)

    def _write_marker(self, outputs: list[str]) -> None:
        marker = self.root / MARKER_NAME
        fd, tmp_name = tempfile.mkstemp(prefix=".marker.", suffix=".tmp", dir=self.root)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"tool": self.tool, "outputs": outputs}, fh, indent=1)
            fh.write("\n")
        os.replace(tmp_name, marker)

    def _remove_empty_parents(self, folder: Path) -> None:
        while folder != self.root and _is_within(folder, self.root):
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent
