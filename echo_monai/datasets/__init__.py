"""Dataset converters: view folder trees, HMC-QU, CAMUS and synthetic A4C into datalists and NIfTI pairs.

Each converter writes only under its output folder (never into an input), atomically, with a
``report.json`` and ``skipped.csv`` saying what was left out and why; outputs carry no patient
identifiers and splits never put one patient in two of them. The command-line front ends are
``data_scripts/prepare_view_dataset.py``, ``prepare_hmcqu.py``, ``prepare_camus.py`` and
``prepare_wall_dataset.py``.

Names are imported on first use, so ``echo_monai.datasets.splits`` does not pull in OpenCV or openpyxl.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "prepare_view_dataset": "echo_monai.datasets.views",
    "prepare_hmcqu": "echo_monai.datasets.hmcqu",
    "read_hmcqu_sheet": "echo_monai.datasets.hmcqu",
    "read_hmcqu_mask": "echo_monai.datasets.hmcqu",
    "prepare_camus": "echo_monai.datasets.camus",
    "read_camus_image": "echo_monai.datasets.camus",
    "read_metaimage": "echo_monai.datasets.metaimage",
    "prepare_wall_dataset": "echo_monai.datasets.wall",
    "split_items": "echo_monai.datasets.splits",
    "assign_groups": "echo_monai.datasets.splits",
    "patient_key": "echo_monai.datasets.splits",
    "ConversionOutput": "echo_monai.datasets.output",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'echo_monai.datasets' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted(__all__)
