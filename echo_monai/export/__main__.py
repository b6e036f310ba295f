"""``python -m echo_monai.export``: export one bundle network to TorchScript + ONNX and verify it."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from echo_monai.errors import EchoDataError
from echo_monai.export.bundle import bundle_variants, export_bundle


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m echo_monai.export", description=__doc__)
    p.add_argument("--bundle", required=True, help="bundle folder, e.g. bundles/echo_view_classification")
    p.add_argument("--variant", default="default", help="'default', a configs/networks/ stem, or 'image'")
    p.add_argument("--ckpt", default=None, help="trained weights (models/model.pt); omitted: untrained")
    p.add_argument("--out", default=None, help="output folder (model.ts, model.onnx, model.export.json)")
    p.add_argument("--name", default="model", help="file stem (default model)")
    p.add_argument("--override", action="append", default=[], metavar="ID=JSON",
                   help="config override, e.g. image_size=[112,112] (repeatable)")
    p.add_argument("--list", action="store_true", help="list the bundle's network variants and exit")
    args = p.parse_args(argv)
    try:
        if args.list:
            print("\n".join(f"{k}: {' + '.join(v)}" for k, v in bundle_variants(args.bundle).items()))
            return 0
        if args.out is None:
            p.error("--out is required unless --list is given")
        overrides = {}
        for item in args.override:
            key, _, value = item.partition("=")
            overrides[key] = json.loads(value)
        report = export_bundle(args.bundle, args.out, args.variant, args.ckpt, overrides, args.name)
    except EchoDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict(), indent=1))
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
