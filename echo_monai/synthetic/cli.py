"""``echo-make-synthetic``: write a synthetic echo dataset (and optionally an HMC-QU-style export)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from echo_monai.errors import EchoDataError
from echo_monai.views import VIEW_NAMES

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="echo-make-synthetic",
        description="Write synthetic echo cines of the 11 TTE views as DICOM, with truth files, a MONAI "
                    "datalist split by patient, a summary and a preview figure.")
    p.add_argument("--out", required=True, help="output folder (new or empty; never overwritten otherwise)")
    p.add_argument("--patients", type=int, default=10, help="number of synthetic patients (default 10)")
    p.add_argument("--clips-per-view", type=int, default=4, help="clips of each view (default 4)")
    p.add_argument("--frames", type=int, default=48, help="frames per clip (default 48)")
    p.add_argument("--size", type=int, nargs="+", default=[256], metavar="PX",
                   help="frame size: one number (square) or H W (default 256)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the output is a function of it")
    p.add_argument("--views", nargs="+", default=None, metavar="VIEW",
                   help=f"subset of views (default all): {' '.join(VIEW_NAMES)}")
    p.add_argument("--workers", type=int, default=None, help="processes (default: number of CPUs, max 8)")
    p.add_argument("--hmcqu", type=int, nargs="?", const=6, default=0, metavar="N",
                   help="also write N A4C recordings (6 without N) in HMC-QU's layout under OUT/hmcqu")
    p.add_argument("--no-figure", action="store_true", help="skip figures/views_ed_es.png")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from echo_monai.synthetic.dataset import make_dataset

    size = args.size[0] if len(args.size) == 1 else (args.size[0], args.size[1])
    t0 = time.perf_counter()
    try:
        datalist = make_dataset(args.out, n_patients=args.patients, clips_per_view=args.clips_per_view,
                                n_frames=args.frames, size=size, seed=args.seed, views=args.views,
                                workers=args.workers, figure=not args.no_figure)
        if args.hmcqu > 0:
            from echo_monai.synthetic.hmcqu import export_hmcqu

            export_hmcqu(Path(args.out) / "hmcqu", n_recordings=args.hmcqu, seed=args.seed)
    except (EchoDataError, ValueError) as exc:
        print(f"echo-make-synthetic: {exc}", file=sys.stderr)
        return 2
    counts = ", ".join(f"{k} {len(v)}" for k, v in datalist.items())
    print(f"wrote {sum(len(v) for v in datalist.values())} clips ({counts}) to {args.out} "
          f"in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
