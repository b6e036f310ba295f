#!/usr/bin/env python
"""Gating figure for any echo cine: ECG with R peaks, chosen ED/ES frames, thumbnails.

    python data_scripts/plot_gating.py CINE [CINE ...] --out FOLDER

Writes FOLDER/<file name>_gating.png per input and prints the ECG source and method used. Files that
cannot be read or gated are skipped and listed with the reason in FOLDER/skipped.csv (and report.json);
the rest go on. FOLDER may not be or contain an input, and is only written by this script.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from echo_monai.datasets.output import ConversionOutput
from echo_monai.errors import EchoDataError
from echo_monai.visualize.gating import gating_figure_for_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cines", nargs="+", type=Path, help="DICOM, AVI/MP4 or NIfTI cines")
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNG figures")
    parser.add_argument("--sources", default="ecg,burned_in,image",
                        help="gating sources to try, in order (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        out = ConversionOutput(args.out, inputs=args.cines, tool="plot_gating")
    except EchoDataError as exc:
        print(f"plot_gating: {exc}", file=sys.stderr)
        return 2
    sources = tuple(args.sources.split(","))
    names: set[str] = set()
    done = 0
    for path in args.cines:
        name = f"{path.name}_gating.png"
        if name in names:  # same file name in two folders
            name = f"{path.parent.name}_{name}"
        names.add(name)
        result = {}
        try:
            target = out.write_with(name, lambda tmp, path=path, result=result: result.update(
                gating=gating_figure_for_file(path, tmp, sources=sources)))
        except EchoDataError as exc:
            out.skip(path.name, exc.problem)  # the name only: folder names may carry patient names
            print(f"skipped {exc}", file=sys.stderr)
            continue
        done += 1
        gating = result["gating"]
        print(f"{path.name}: {gating.ecg_source} / {gating.method}, {len(gating.ed_frames)} ED, "
              f"{len(gating.es_frames)} ES frames -> {target}")
    out.finish({"figures": done, "inputs": len(args.cines)})
    return 1 if done == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
