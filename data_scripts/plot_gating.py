#!/usr/bin/env python
"""Gating figure for any echo cine: ECG with R peaks, chosen ED/ES frames, thumbnails.

    python data_scripts/plot_gating.py CINE [CINE ...] --out FOLDER

Writes FOLDER/<file name>_gating.png per input and prints the ECG source and method used. Files that
cannot be read or gated are reported and skipped; the rest go on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from echo_monai.errors import EchoDataError
from echo_monai.visualize.gating import gating_figure_for_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cines", nargs="+", type=Path, help="DICOM, AVI/MP4 or NIfTI cines")
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNG figures")
    parser.add_argument("--sources", default="ecg,burned_in,image",
                        help="gating sources to try, in order (default: %(default)s)")
    args = parser.parse_args(argv)
    failed = 0
    for path in args.cines:
        out = args.out / f"{path.name}_gating.png"
        try:
            gating = gating_figure_for_file(path, out, sources=tuple(args.sources.split(",")))
        except EchoDataError as exc:
            failed += 1
            print(f"skipped {exc}", file=sys.stderr)
            continue
        print(f"{path.name}: {gating.ecg_source} / {gating.method}, {len(gating.ed_frames)} ED, "
              f"{len(gating.es_frames)} ES frames -> {out}")
    return 1 if failed == len(args.cines) else 0


if __name__ == "__main__":
    sys.exit(main())
