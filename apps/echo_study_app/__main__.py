"""``python -m apps.echo_study_app -i DICOM_DIR -o OUT --view-model view.ts [--wall-model wall.ts]
[--seg-patient deidentified|source]``.

Runs through the MONAI Deploy SDK when it is installed; ``--no-sdk`` (or no SDK) runs the same pipeline
directly, which is what the SDK operators wrap.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path


def _run_without_sdk(argv: list[str]) -> int:
    from apps.echo_study_app.pipeline import SEG_PATIENT_MODES, ExportedModel, run_study
    from echo_monai.errors import EchoDataError

    p = argparse.ArgumentParser(prog="python -m apps.echo_study_app --no-sdk")
    p.add_argument("-i", "--input", type=Path, required=True, help="folder of DICOM files (searched recursively)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument("-m", "--model", type=Path, default=None, help="folder holding view.ts and optionally wall.ts")
    p.add_argument("--view-model", type=Path, default=None)
    p.add_argument("--wall-model", type=Path, default=None)
    p.add_argument("--seg-patient", choices=SEG_PATIENT_MODES, default="deidentified",
                   help="what the DICOM SEGs keep of the patient and study (default: de-identified)")
    args = p.parse_args(argv)
    view = args.view_model or (args.model / "view.ts" if args.model else None)
    wall = args.wall_model or (args.model / "wall.ts" if args.model and (args.model / "wall.ts").is_file() else None)
    if view is None:
        p.error("give --view-model or -m")
    try:
        reports = run_study(args.input, args.output, ExportedModel(view, "view"),
                            ExportedModel(wall, "wall") if wall else None, seg_patient=args.seg_patient)
    except EchoDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, report in reports.items():
        print(f"{name}: {report['n_cines']} cine(s) -> {args.output / name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--no-sdk" in argv or importlib.util.find_spec("monai.deploy") is None:
        return _run_without_sdk([a for a in argv if a != "--no-sdk"])
    from apps.echo_study_app.app import main as sdk_main

    return sdk_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
