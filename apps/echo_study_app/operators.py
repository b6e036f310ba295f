"""MONAI Deploy operators: thin wrappers over :mod:`apps.echo_study_app.pipeline` (imports the SDK).

Flow: ``EchoCineLoaderOperator`` (cines + skipped files) -> ``EchoViewClassifierOperator`` (rows with
views) -> ``EchoWallOperator`` (A4C rows get the wall analysis, DICOM SEG and overlay) ->
``EchoStudyReportOperator`` (per-study JSON + CSV). The stock ``DICOMSeriesToVolumeOperator`` is not
used: it builds a 3-D volume with an affine, which an ultrasound cine does not have.
"""

from __future__ import annotations

import logging
from pathlib import Path

from monai.deploy.core import Fragment, Operator, OperatorSpec

from apps.echo_study_app.pipeline import (
    ExportedModel,
    classify_series,
    find_cine_series,
    segment_series,
    write_reports,
)

__all__ = ["EchoCineLoaderOperator", "EchoStudyReportOperator", "EchoViewClassifierOperator", "EchoWallOperator"]

log = logging.getLogger(__name__)


class EchoCineLoaderOperator(Operator):
    """Finds the ultrasound multi-frame cines of ``input_folder``; emits ``cines`` = (root, cines, skipped)."""

    def __init__(self, fragment: Fragment, *args, input_folder: Path, **kwargs) -> None:
        self.input_folder = Path(input_folder)
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.output("cines")

    def compute(self, op_input, op_output, context) -> None:
        cines, skipped = find_cine_series(self.input_folder)
        log.info("%d cine(s) found, %d other file(s) skipped", len(cines), len(skipped))
        op_output.emit((self.input_folder, cines, skipped), "cines")


class EchoViewClassifierOperator(Operator):
    """Classifies every cine with the exported view model; emits ``rows`` = (rows, skipped)."""

    def __init__(self, fragment: Fragment, *args, model_path: Path, **kwargs) -> None:
        self.model = ExportedModel(model_path, "view")
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input("cines")
        spec.output("rows")

    def compute(self, op_input, op_output, context) -> None:
        root, cines, skipped = op_input.receive("cines")
        op_output.emit((classify_series(cines, root, self.model), skipped), "rows")


class EchoWallOperator(Operator):
    """LV wall segmentation, DICOM SEG and regional analysis of the A4C cines; passes ``rows`` on.

    ``seg_patient``: what the DICOM SEGs keep of the patient and study (``"deidentified"`` or ``"source"``).
    """

    def __init__(self, fragment: Fragment, *args, model_path: Path | None, output_folder: Path,
                 seg_patient: str = "deidentified", **kwargs) -> None:
        self.model = ExportedModel(model_path, "wall") if model_path is not None else None
        self.output_folder = Path(output_folder)
        self.seg_patient = seg_patient
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input("rows")
        spec.output("rows")

    def compute(self, op_input, op_output, context) -> None:
        rows, skipped = op_input.receive("rows")
        if self.model is not None:
            segment_series(rows, self.model, self.output_folder, seg_patient=self.seg_patient)
        op_output.emit((rows, skipped), "rows")


class EchoStudyReportOperator(Operator):
    """Writes ``skipped.csv`` and each study's ``report.json``, ``report.csv`` and ``wall_segments.csv``."""

    def __init__(self, fragment: Fragment, *args, output_folder: Path, **kwargs) -> None:
        self.output_folder = Path(output_folder)
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input("rows")

    def compute(self, op_input, op_output, context) -> None:
        rows, skipped = op_input.receive("rows")
        reports = write_reports(self.output_folder, rows, skipped)
        log.info("reports written for %d study(ies) to %s", len(reports), self.output_folder)
