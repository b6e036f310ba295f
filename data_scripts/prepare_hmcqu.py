#!/usr/bin/env python
"""Convert HMC-QU (A4C videos, LV-wall masks, A4C.xlsx) into NIfTI cine pairs and a datalist.

    python data_scripts/prepare_hmcqu.py --input /data/HMC-QU-root --out /data/hmcqu_nifti

Each recording is cropped to its annotated cycle and resized to the 224x224 mask grid; recordings with
problems are listed in skipped.csv and the rest is converted. See echo_monai.datasets.hmcqu.
"""

from __future__ import annotations

import argparse
import os
import sys

from echo_monai.datasets.hmcqu import DEFAULT_PATIENT_REGEX, prepare_hmcqu
from echo_monai.errors import EchoDataError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True,
                        help="folder with HMC-QU/A4C, 'LV Ground-truth Segmentation Masks' and A4C.xlsx")
    parser.add_argument("--out", required=True, help="output folder (new, empty, or from an earlier run)")
    parser.add_argument("--sheet", help="the A4C.xlsx file (default: found below --input)")
    parser.add_argument("--patient-regex", default=DEFAULT_PATIENT_REGEX,
                        help="finds the patient in a recording id (default: 'ES0001 _4CH_1' -> 'ES0001')")
    parser.add_argument("--include-unmasked", action="store_true",
                        help="also convert recordings without a mask (image only, has_mask false)")
    parser.add_argument("--val-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--folds", type=int, help="k patient-grouped folds over the non-test items")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        report = prepare_hmcqu(args.input, args.out, sheet=args.sheet, patient_regex=args.patient_regex,
                               include_unmasked=args.include_unmasked,
                               val_fraction=args.val_fraction, test_fraction=args.test_fraction, folds=args.folds, seed=args.seed)
    except (EchoDataError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"converted {report['n_converted']} recording(s) ({report['n_mi']} MI); "
          f"items per split: {report['n_items']}")
    print(f"skipped {report['n_skipped']} (see skipped.csv); wrote {os.path.join(args.out, 'datalist.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
