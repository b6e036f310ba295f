"""Ignite handlers and metrics for echo workflows, constructible from bundle JSON (``attach(engine)``)."""

from echo_monai.handlers.resume import AtomicCheckpointSaver, TrainingCheckpoint
from echo_monai.handlers.view_metrics import ViewF1
from echo_monai.handlers.view_outputs import WindowRecords, window_records
from echo_monai.handlers.view_report import ClassificationReportHandler, write_view_report

__all__ = ["AtomicCheckpointSaver", "ClassificationReportHandler", "TrainingCheckpoint", "ViewF1", "WindowRecords",
           "window_records", "write_view_report"]
