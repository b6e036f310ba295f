"""The 11 standard transthoracic echo views and their label order (used by every bundle)."""

from __future__ import annotations

__all__ = ["NUM_VIEWS", "VIEW_DESCRIPTIONS", "VIEW_NAMES", "view_index"]

VIEW_NAMES: tuple[str, ...] = (
    "PLAX",
    "PSAX-ves",
    "PSAX-base",
    "PSAX-mid",
    "PSAX-apical",
    "A2C",
    "A3C",
    "A4C",
    "A5C",
    "Suprasternal",
    "Subcostal",
)
NUM_VIEWS = len(VIEW_NAMES)

VIEW_DESCRIPTIONS: dict[str, str] = {
    "PLAX": "parasternal long axis: LV, LA, aortic root, mitral and aortic valves",
    "PSAX-ves": "parasternal short axis, great-vessel level (aortic valve, RVOT, PA)",
    "PSAX-base": "parasternal short axis, mitral-valve level ('fish mouth')",
    "PSAX-mid": "parasternal short axis, papillary-muscle level",
    "PSAX-apical": "parasternal short axis, apical level (small LV ring, no papillary muscles)",
    "A2C": "apical 2-chamber: LV and LA",
    "A3C": "apical 3-chamber: LV, LA, LVOT and aortic valve",
    "A4C": "apical 4-chamber: LV, RV, LA, RA, mitral and tricuspid valves",
    "A5C": "apical 5-chamber: A4C plus the LVOT / aortic valve",
    "Suprasternal": "suprasternal notch: aortic arch",
    "Subcostal": "subcostal 4-chamber through the liver",
}

_LOOKUP = {name.lower(): i for i, name in enumerate(VIEW_NAMES)}
_LOOKUP.update({name.lower().replace("-", "_"): i for i, name in enumerate(VIEW_NAMES)})
_LOOKUP.update({name.lower().replace("-", ""): i for i, name in enumerate(VIEW_NAMES)})


def view_index(name: str) -> int:
    """Label index of a view name (case-insensitive; '-', '_' or nothing between words).

    Raises:
        ValueError: the name is not one of the 11 views; the message lists the valid names.
    """
    key = str(name).strip().lower()
    if key not in _LOOKUP:
        raise ValueError(f"unknown view name {name!r}; valid names are: {', '.join(VIEW_NAMES)}")
    return _LOOKUP[key]
