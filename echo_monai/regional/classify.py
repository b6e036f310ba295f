"""Normal / abnormal wall motion per segment, and MI per recording as HMC-QU labels it.

A rule, not a trained model, so that it can be read and checked:

1. Each segment gets a score relative to the case's own best segments::

       score = w * shortening / ref_shortening + (1 - w) * thickening / ref_thickening

   where shortening is the regional endocardial shortening (peak inward displacement over the
   segment's distance from the LV long axis, %; raw displacement in mm is naturally small near the
   apex, so comparing it between segments flags normal apical segments), thickening is systolic wall
   thickening (%), and ``ref_*`` is the mean of the ``n_reference`` largest values over the six
   segments (a heart is its own control: gain, spacing errors and heart size cancel). A segment scoring
   below ``relative_threshold`` is abnormal.
2. Absolute norms catch a heart that is hypokinetic everywhere (then nothing stands out relatively):
   a segment whose shortening is below ``min_shortening_pct`` AND whose thickening is below
   ``min_thickening_pct`` (akinetic range; normal thickening is above 30-40 %) is abnormal whatever its
   neighbours do.

A recording shows MI when any of its six segments is abnormal (HMC-QU's recording label). The defaults
are round values checked on synthetic cases with a seed kept apart from the benchmark's (see
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
        abnormal: (6,) bool (False where not assessed).
        assessed: (6,) bool, False for a segment that could not be measured (NaN).
        score: (6,) relative score (1 = as good as the best segments); NaN where not assessed.
        mi: any segment abnormal.
        reference_shortening_pct: the shortening the scores are relative to.
        reference_thickening_pct: the thickening the scores are relative to.
    """

    abnormal: np.ndarray
    assessed: np.ndarray
    score: np.ndarray
    mi: bool
    reference_shortening_pct: float
    reference_thickening_pct: float


def classify_segments(
    motion: SegmentMotion | tuple[np.ndarray, np.ndarray],
    relative_threshold: float = 0.5,
    shortening_weight: float = 0.5,
    n_reference: int = 2,
    min_shortening_pct: float = 10.0,
    min_thickening_pct: float = 15.0,
) -> SegmentAssessment:
    """Classify the six segments as normal or abnormal.

    Args:
        motion: a :class:`SegmentMotion`, or (shortening % (6,), thickening % (6,)).
        relative_threshold: score below which a segment is abnormal.
        shortening_weight: w in the score; 1 uses shortening only, 0 thickening only.
        n_reference: how many of the best segments define the case's own reference.
        min_shortening_pct, min_thickening_pct: absolute norms (both must fail).

    Returns:
        :class:`SegmentAssessment`. A segment that could not be measured (NaN) is not assessed: neither
        normal nor abnormal, and ``mi`` only reflects the assessed segments.
    """
    if isinstance(motion, SegmentMotion):
        short, thick = motion.shortening_pct, motion.thickening_pct
    else:
        short, thick = (np.asarray(v, dtype=np.float64) for v in motion)
    if short.shape != (6,) or thick.shape != (6,):
        raise ValueError(f"need six shortenings and six thickenings, got {short.shape} and {thick.shape}")
    if not 0.0 <= shortening_weight <= 1.0:
        raise ValueError(f"shortening_weight must be in [0, 1], got {shortening_weight}")
    if not 1 <= n_reference <= 6:
        raise ValueError(f"n_reference must be 1..6, got {n_reference}")

    def reference(v: np.ndarray) -> float:
        finite = np.sort(v[np.isfinite(v)])[::-1]
        return float(finite[:n_reference].mean()) if finite.size else float("nan")

    ref_s, ref_t = reference(short), reference(thick)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel_s = short / ref_s if ref_s > 0 else np.zeros(6)
        rel_t = thick / ref_t if ref_t > 0 else np.zeros(6)
    score = shortening_weight * rel_s + (1.0 - shortening_weight) * rel_t
    assessed = np.isfinite(score)
    absolute = (short < min_shortening_pct) & (thick < min_thickening_pct)
    abnormal = assessed & ((score < relative_threshold) | absolute)
    return SegmentAssessment(
        abnormal=abnormal,
        assessed=assessed,
        score=score,
        mi=bool(abnormal.any()),
        reference_shortening_pct=ref_s,
        reference_thickening_pct=ref_t,
    )
