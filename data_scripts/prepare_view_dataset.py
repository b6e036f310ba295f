#!/usr/bin/env python
"""Build a patient-split view-classification datalist from a view folder tree or a synthetic dataset.

    python data_scripts/prepare_view_dataset.py --input /data/echo_views --out /data/views_datalist \
        --salt "$ECHO_SALT" --folds 5
    python data_scripts/prepare_view_dataset.py --input synthetic/datalist.json --out views_datalist

The folder tree is <input>/<view>/**/<file> (DICOM, AVI/MP4 or NIfTI); --mapping maps a site's folder
names to the 11 views. See echo_monai.datasets.views.prepare_view_dataset.
"""

from __future__ import annotations

import argparse
import os
import sys

from echo_monai.datasets.views import prepare_view_dataset
from echo_monai.errors import EchoDataError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="view folder tree, or a synthetic datalist.json")
    parser.add_argument("--out", required=True, help="output folder (new, empty, or from an earlier run)")
    parser.add_argument("--mapping", help='JSON file {"site folder name": "view name" or null}')
    parser.add_argument("--patient-regex", help="regular expression finding the patient in a file's path "
                                                "below its view folder (group 'patient' or group 1)")
    parser.add_argument("--salt", default=os.environ.get("ECHO_MONAI_SALT"),
                        help="private salt for the patient-key hash (default: $ECHO_MONAI_SALT)")
    parser.add_argument("--val-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--folds", type=int, help="k patient-grouped folds over the non-test items")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-decode-check", action="store_true",
                        help="do not decode every file (faster; unreadable files are then not found)")
    parser.add_argument("--absolute-paths", action="store_true", help="write absolute image paths")
    args = parser.parse_args(argv)
    try:
        report = prepare_view_dataset(
            args.input, args.out, mapping=args.mapping, patient_regex=args.patient_regex, salt=args.salt,
            val_fraction=args.val_fraction, test_fraction=args.test_fraction, folds=args.folds,
            seed=args.seed, check_decode=not args.no_decode_check, absolute_paths=args.absolute_paths,
        )
    except (EchoDataError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"items per split: {report['n_items']}; patients per split: {report['n_patients']}")
    if report["empty_views"]:
        print(f"views without any item: {', '.join(report['empty_views'])}")
    print(f"skipped {report['n_skipped']} file(s) (see skipped.csv); wrote {os.path.join(args.out, 'datalist.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
