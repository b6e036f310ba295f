"""Normal / abnormal wall motion per segment, and MI per recording as HMC-QU labels it.

A rule, not a trained model, so that it can be read and checked:

1. Each segment gets a score relative to the case's own best segments::

       score = w * displacement / ref_displacement + (1 - w) * thickening / ref_thickening

   where ``ref_*`` is the mean of the ``n_reference`` largest values over the six segments (a heart is
   its own control: gain, spacing errors and heart size cancel). A segment scoring below
   ``relative_threshold`` is abnormal.
2. Absolute norms catch a heart that is hypokinetic everywhere (then nothing stands out relatively):
   a segment whose peak displacement is below ``min_displacement_mm`` AND whose thickening is below
   ``min_thickening_pct`` is abnormal whatever its neighbours do.

A recording shows MI when any of its six segments is abnormal (HMC-QU's recording label). The defaults
were chosen on synthetic cases with seeds kept apart from the benchmark's (see
``benchmarks/results/regional.md``); real data will want them re-fitted, e.g. on HMC-QU's labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from echo_monai.regional.motion import SegmentMotion

__all__ = ["SegmentAssessment", "classify_segments"]


@dataclass
class SegmentAssessment:
    """Per-segment verdicts, in the order of :data:`~echo_monai.regional.segments.SEGMENT_NAMES`.

    Attributes:
        abnormal: (6,) bool.
        score: (6,) relative score (1 = as good as the best segments).
        mi: any segment abnormal.
        reference_displacement_mm: the displacement the scores are relative to.
        reference_thickening_pct: the thickening the scores are relative to.
    """

    abnormal: np.ndarray
    score: np.ndarray
    mi: bool
    reference_displacement_mm: float
    reference_thickening_pct: float


def classify_segments(
    motion: SegmentMotion | tuple[np.ndarray, np.ndarray],
    relative_threshold: float = 0.5,
    displacement_weight: float = 0.5,
    n_reference: int = 2,
    min_displacement_mm: float = 2.0,
    min_thickening_pct: float = 10.0,
) -> SegmentAssessment:
    """Classify the six segments as normal or abnormal.

    Args:
        motion: a :class:`SegmentMotion`, or (peak displacement mm (6,), thickening % (6,)).
        relative_threshold: score below which a segment is abnormal.
        displacement_weight: w in the score; 1 uses displacement only, 0 thickening only.
        n_reference: how many of the best segments define the case's own reference.
        min_displacement_mm, min_thickening_pct: absolute norms (both must fail).

    Returns:
        :class:`SegmentAssessment`. A segment that could not be measured (NaN) counts as abnormal.
    """
    if isinstance(motion, SegmentMotion):
        disp, thick = motion.peak_displacement_mm, motion.thickening_pct
    else:
        disp, thick = (np.asarray(v, dtype=np.float64) for v in motion)
    if disp.shape != (6,) or thick.shape != (6,):
        raise ValueError(f"need six displacements and six thickenings, got {disp.shape} and {thick.shape}")
    if not 0.0 <= displacement_weight <= 1.0:
        raise ValueError(f"displacement_weight must be in [0, 1], got {displacement_weight}")
    if not 1 <= n_reference <= 6:
        raise ValueError(f"n_reference must be 1..6, got {n_reference}")

    def reference(v: np.ndarray) -> float:
        finite = np.sort(v[np.isfinite(v)])[::-1]
        return float(finite[:n_reference].mean()) if finite.size else float("nan")

    ref_d, ref_t = reference(disp), reference(thick)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel_d = disp / ref_d if ref_d > 0 else np.zeros(6)
        rel_t = thick / ref_t if ref_t > 0 else np.zeros(6)
    score = displacement_weight * rel_d + (1.0 - displacement_weight) * rel_t
    absolute = (disp < min_displacement_mm) & (thick < min_thickening_pct)
    abnormal = ~(score >= relative_threshold) | absolute  # NaN score -> abnormal
    return SegmentAssessment(
        abnormal=abnormal,
        score=score,
        mi=bool(abnormal.any()),
        reference_displacement_mm=ref_d,
        reference_thickening_pct=ref_t,
    )
