"""Focal Tversky loss, composed from MONAI's ``TverskyLoss`` (MONAI has no focal variant).

Tversky index per sample and channel: ``TI = (TP + s) / (TP + alpha * FP + beta * FN + s)``; the loss is
``(1 - TI) ** gamma`` reduced over samples and channels.

The ``gamma`` argument here IS the exponent applied to ``1 - TI``. Abraham & Khan (2019) write the loss
as ``(1 - TI) ** (1 / gamma_paper)`` with ``gamma_paper = 4/3``, i.e. ``gamma=0.75`` here. With
``gamma < 1`` the loss grows fastest for nearly-right predictions, which pushes on the hard, thin parts
of a structure such as the apical wall. ``alpha = beta = 0.5, gamma = 1`` is exactly MONAI's
``DiceLoss`` (TP + (FP + FN) / 2 is half the Dice denominator; equal up to the smoothing constants).

Which weight is which: ``alpha`` weights false positives and ``beta`` false negatives, as in MONAI's
``TverskyLoss`` (and Salehi et al. 2017), so the two classes are interchangeable. Abraham & Khan put
their alpha on the false negatives; their published "alpha 0.7, beta 0.3" (favour recall) is therefore
``alpha=0.3, beta=0.7`` here, which are the defaults.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from monai.losses import TverskyLoss
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

__all__ = ["FocalTverskyLoss"]


class FocalTverskyLoss(_Loss):
    """``(1 - Tversky index) ** gamma``, per sample and channel, then reduced.

    Args:
        alpha: weight of false positives (MONAI convention; Abraham & Khan's beta).
        beta: weight of false negatives (Abraham & Khan's alpha).
        gamma: exponent on ``1 - TI`` (= 1 / gamma of Abraham & Khan); 1 gives the plain Tversky loss.
        include_background, to_onehot_y, sigmoid, softmax, other_act, smooth_nr, smooth_dr, batch:
            as in ``monai.losses.TverskyLoss``. ``batch=True`` pools TP/FP/FN over the batch first.
        reduction: ``"mean"`` / ``"sum"`` over samples and channels, or ``"none"``: shape (B, C)
            (``(C,)`` with ``batch=True``), like ``TverskyLoss``.
        eps: below this value of ``1 - TI`` the power is continued linearly so that the loss is 0 and
            its gradient finite at a perfect prediction (``x ** gamma`` has an infinite slope at 0 for
            ``gamma < 1``).

    Inputs ``input`` (B, C, H, W[, D]) and ``target`` (B, C or 1, H, W[, D]).
    """

    def __init__(
        self,
        alpha: float = 0.3,
        beta: float = 0.7,
        gamma: float = 0.75,
        include_background: bool = True,
        to_onehot_y: bool = False,
        sigmoid: bool = False,
        softmax: bool = False,
        other_act: Callable | None = None,
        reduction: LossReduction | str = LossReduction.MEAN,
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        eps: float = 1e-6,
    ):
        super().__init__(reduction=LossReduction(reduction).value)
        if gamma <= 0:
            raise ValueError(f"gamma must be > 0, got {gamma}")
        if eps <= 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.gamma = float(gamma)
        self.eps = float(eps)
        self.tversky = TverskyLoss(
            include_background=include_background,
            to_onehot_y=to_onehot_y,
            sigmoid=sigmoid,
            softmax=softmax,
            other_act=other_act,
            alpha=alpha,
            beta=beta,
            reduction=LossReduction.NONE,
            smooth_nr=smooth_nr,
            smooth_dr=smooth_dr,
            batch=batch,
        )

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x = self.tversky(input, target)  # 1 - TI, (B, C) or (C,)
        if self.gamma != 1.0:
            # Exact power above eps; below it the line through 0 and (eps, eps**gamma).
            safe = torch.where(x > self.eps, x, torch.ones_like(x))
            x = torch.where(x > self.eps, safe**self.gamma, x * self.eps ** (self.gamma - 1.0))
        if self.reduction == LossReduction.MEAN.value:
            return x.mean()
        if self.reduction == LossReduction.SUM.value:
            return x.sum()
        return x
