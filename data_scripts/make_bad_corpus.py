#!/usr/bin/env python
"""Write the bad-input corpus: broken DICOM, AVI/MP4 and NIfTI cines, datalists, HMC-QU and CAMUS masks.

    python data_scripts/make_bad_corpus.py --out /tmp/bad_corpus

Every file is generated from a valid one with exactly one thing broken (see
echo_monai.testing.corpus); corpus.json lists each case, what is wrong with it, and the words an error
message about it should contain. Use it to check a reader or pipeline of your own against the same
inputs the test suite uses.
"""

from __future__ import annotations

import argparse
import sys

from echo_monai.testing.corpus import make_bad_corpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="a new or empty folder")
    args = parser.parse_args(argv)
    try:
        cases = make_bad_corpus(args.out)
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    width = max(len(c.name) for c in cases)
    for case in cases:
        print(f"{case.name:<{width}}  {case.kind:<10}  {case.problem}")
    print(f"wrote {len(cases)} cases to {args.out} (see corpus.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
