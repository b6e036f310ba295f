"""Explanations of echo networks: Captum attributions, sanity checks and anatomy-based measures.

- :func:`~echo_monai.explain.attribution.attribute` - one Captum method (Saliency, IntegratedGradients,
  NoiseTunnel, LayerGradCam, GuidedGradCam, Occlusion) on image (B, C, H, W) or video (B, C, T, H, W)
  networks, maps with channels summed; :class:`RegionScore` / :class:`ClassContrast` turn a segmentation
  network or a pair of classes into one score per sample; :func:`explanation_mode` leaves no gradients.
- :func:`~echo_monai.explain.explain.explain_batch` / :func:`write_explanation` - prediction, target and
  files (PNG overlay, clip strip and GIF, NIfTI) as the Ignite handlers write them.
- :mod:`~echo_monai.explain.sanity` - Adebayo et al.'s model-randomisation check (Spearman rank correlation)
  and :func:`outside_sensitivity` (predictions that change with random content outside the scan sector).
- :mod:`~echo_monai.explain.anatomy` - attribution mass inside the scan sector and per labelled structure.
"""

from echo_monai.explain.anatomy import StructureMass, mass_in_region, mass_inside, mass_per_structure
from echo_monai.explain.attribution import (
    LAYER_METHODS,
    METHODS,
    ClassContrast,
    RegionScore,
    attribute,
    blurred,
    explanation_mode,
    last_conv_layer,
    temporal_importance,
)
from echo_monai.explain.explain import Explanation, explain_batch, output_stem, write_explanation
from echo_monai.explain.sanity import (
    OutsideSensitivity,
    cascading_randomisation,
    outside_sensitivity,
    randomised_copy,
    spearman_rank_correlation,
)

__all__ = [
    "LAYER_METHODS",
    "METHODS",
    "ClassContrast",
    "Explanation",
    "OutsideSensitivity",
    "RegionScore",
    "StructureMass",
    "attribute",
    "blurred",
    "cascading_randomisation",
    "explain_batch",
    "explanation_mode",
    "last_conv_layer",
    "mass_in_region",
    "mass_inside",
    "mass_per_structure",
    "output_stem",
    "outside_sensitivity",
    "randomised_copy",
    "spearman_rank_correlation",
    "temporal_importance",
    "write_explanation",
]
