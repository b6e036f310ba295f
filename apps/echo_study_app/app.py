"""The echo study application on the MONAI Deploy App SDK (4.0): loader -> views -> A4C walls -> reports.

Models: ``--view-model`` / ``--wall-model`` (TorchScript files from ``python -m echo_monai.export``), or
the SDK's ``-m`` folder (``HOLOSCAN_MODEL_PATH`` in a MAP) holding ``view.ts`` and, optionally,
``wall.ts``. Input (``-i``) and output (``-o``) folders are the SDK's. ``--seg-patient`` says what the
DICOM SEGs keep of the patient and study (``deidentified``, the default, or ``source``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from monai.deploy.conditions import CountCondition
from monai.deploy.core import Application

from apps.echo_study_app.operators import (
    EchoCineLoaderOperator,
    EchoStudyReportOperator,
    EchoViewClassifierOperator,
    EchoWallOperator,
)
from apps.echo_study_app.pipeline import SEG_PATIENT_MODES

__all__ = ["EchoStudyApp", "main"]


def split_model_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Take ``--view-model`` / ``--wall-model`` / ``--seg-patient`` out of ``argv``; the rest goes to the SDK."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--view-model", type=Path, default=None)
    p.add_argument("--wall-model", type=Path, default=None)
    p.add_argument("--seg-patient", choices=SEG_PATIENT_MODES, default="deidentified")
    return p.parse_known_args(list(argv))


class EchoStudyApp(Application):
    """Echo study: view per cine, LV wall segmentation + regional analysis for A4C, JSON/CSV/SEG/PNG."""

    name = "echo_study_app"
    description = "Echo view classification and A4C LV wall analysis from ultrasound DICOM cines"
    version = "0.1.0"

    def __init__(self, *args, view_model: Path | None = None, wall_model: Path | None = None,
                 seg_patient: str = "deidentified", **kwargs) -> None:
        self.view_model, self.wall_model, self.seg_patient = view_model, wall_model, seg_patient
        super().__init__(*args, **kwargs)

    def compose(self) -> None:
        context = Application.init_app_context(self.argv)
        models = Path(context.model_path) if context.model_path else None
        view_model = self.view_model or (models / "view.ts" if models else None)
        wall_model = self.wall_model or (models / "wall.ts" if models and (models / "wall.ts").is_file() else None)
        if view_model is None:
            raise SystemExit("no view model: give --view-model model.ts or -m <folder with view.ts>")
        out = Path(context.output_path)
        load = EchoCineLoaderOperator(self, CountCondition(self, 1), input_folder=Path(context.input_path),
                                      name="load_cines")
        views = EchoViewClassifierOperator(self, model_path=view_model, name="classify_views")
        walls = EchoWallOperator(self, model_path=wall_model, output_folder=out, seg_patient=self.seg_patient,
                                 name="segment_walls")
        report = EchoStudyReportOperator(self, output_folder=out, name="write_reports")
        self.add_flow(load, views, {("cines", "cines")})
        self.add_flow(views, walls, {("rows", "rows")})
        self.add_flow(walls, report, {("rows", "rows")})


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    models, rest = split_model_args(argv)
    sys.argv = [sys.argv[0], *rest]  # the SDK parses sys.argv for -i / -o / -m
    EchoStudyApp(view_model=models.view_model, wall_model=models.wall_model, seg_patient=models.seg_patient).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
