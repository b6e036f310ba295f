#!/usr/bin/env python
"""Convert the A4C clips of a synthetic echo dataset into NIfTI image / LV-wall mask cine pairs.

    python data_scripts/make_synthetic_dataset.py --out /tmp/syn --views A4C ...
    python data_scripts/prepare_wall_dataset.py --input /tmp/syn --out /tmp/syn_wall --size 128

The output has the item format of prepare_hmcqu.py and prepare_camus.py, so the LV-wall bundle
(bundles/echo_lv_wall_segmentation) trains on any of them. The generator's patient split is kept;
clips that cannot be used are listed in skipped.csv. See echo_monai.datasets.wall.
"""

from __future__ import annotations

import argparse
import os
import sys

from echo_monai.datasets.wall import prepare_wall_dataset
from echo_monai.errors import EchoDataError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="a synthetic dataset folder (with datalist.json)")
    parser.add_argument("--out", required=True, help="output folder (new, empty, or from an earlier run)")
    parser.add_argument("--size", type=int, nargs="+", metavar="PX",
                        help="resize frames to H [W] pixels (e.g. 224 as HMC-QU, 64-128 for CPU training)")
    args = parser.parse_args(argv)
    if args.size is not None and len(args.size) not in (1, 2):
        parser.error("--size takes one or two numbers")
    size = None if args.size is None else (args.size * 2)[:2]
    try:
        report = prepare_wall_dataset(args.input, args.out, size=size)
    except (EchoDataError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"converted {report['n_converted']} A4C clip(s) ({report['n_mi']} with MI); "
          f"items per split: {report['n_items']}")
    print(f"skipped {report['n_skipped']} (see skipped.csv); wrote {os.path.join(args.out, 'datalist.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
