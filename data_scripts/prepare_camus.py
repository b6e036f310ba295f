#!/usr/bin/env python
"""Convert CAMUS (NIfTI or the older .mhd/.raw layout) into NIfTI image / LV-wall pairs and a datalist.

    python data_scripts/prepare_camus.py --input /data/CAMUS_public --out /data/camus_wall
    python data_scripts/prepare_camus.py --input /data/camus/training --out camus_wall --views A4C A2C

Myocardium (label 2) becomes the binary wall mask. The official split (database_split) is used when
present. See echo_monai.datasets.camus.
"""

from __future__ import annotations

import argparse
import os
import sys

from echo_monai.datasets.camus import PHASES, prepare_camus
from echo_monai.errors import EchoDataError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="CAMUS folder (either layout)")
    parser.add_argument("--out", required=True, help="output folder (new, empty, or from an earlier run)")
    parser.add_argument("--views", nargs="+", default=["A4C"], choices=["A4C", "A2C"])
    parser.add_argument("--phases", nargs="+", default=list(PHASES), choices=list(PHASES))
    parser.add_argument("--no-official-split", action="store_true",
                        help="ignore database_split and make a seeded patient split")
    parser.add_argument("--val-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        report = prepare_camus(args.input, args.out, views=args.views, phases=args.phases,
                               official_split=not args.no_official_split, val_fraction=args.val_fraction,
                               test_fraction=args.test_fraction, seed=args.seed)
    except (EchoDataError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"items per split: {report['n_items']} ({report['split_source']})")
    print(f"skipped {report['n_skipped']} (see skipped.csv); wrote {os.path.join(args.out, 'datalist.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
