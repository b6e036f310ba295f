"""Evaluation against known truth (synthetic data): gating accuracy and friends."""

from echo_monai.evaluation.gating import ed_frame_errors, evaluate_gating, write_gating_report

__all__ = ["ed_frame_errors", "evaluate_gating", "write_gating_report"]
