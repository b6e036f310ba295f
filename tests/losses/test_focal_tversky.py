"""Focal Tversky loss: the Dice special case, the focal exponent, gradients and reductions."""

from __future__ import annotations

import pytest
import torch
from monai.losses import DiceLoss, TverskyLoss

from echo_monai.losses import FocalTverskyLoss

torch.set_num_threads(1)


def _batch(seed: int = 0, channels: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, channels, 16, 16, generator=g)
    labels = (torch.rand(3, 1, 16, 16, generator=g) > 0.6).long()
    return logits, labels


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("include_background", [False, True])
def test_equals_dice_at_half_half_gamma_one(batch: bool, include_background: bool) -> None:
    logits, labels = _batch()
    kw = {"softmax": True, "to_onehot_y": True, "include_background": include_background, "batch": batch}
    ftl = FocalTverskyLoss(alpha=0.5, beta=0.5, gamma=1.0, smooth_nr=0.0, smooth_dr=1e-8, **kw)
    dice = DiceLoss(smooth_nr=0.0, smooth_dr=2e-8, **kw)
    assert torch.allclose(ftl(logits, labels), dice(logits, labels), atol=1e-6)


def test_default_gamma_differs_from_dice_and_is_power_of_tversky() -> None:
    logits, labels = _batch(1)
    kw = {"softmax": True, "to_onehot_y": True}
    focal = FocalTverskyLoss(alpha=0.5, beta=0.5, reduction="none", **kw)(logits, labels)
    dice = DiceLoss(reduction="none", **kw)(logits, labels).flatten(1)
    assert focal.shape == dice.shape == (3, 2)
    assert torch.all(dice > 0.05) and torch.all(focal > dice + 1e-3)  # x**0.75 > x for 0 < x < 1
    tversky = TverskyLoss(alpha=0.3, beta=0.7, reduction="none", **kw)(logits, labels)
    default = FocalTverskyLoss(reduction="none", **kw)(logits, labels)
    assert torch.allclose(default, tversky**0.75, atol=1e-6)


def test_alpha_weights_false_positives() -> None:
    label = torch.zeros(1, 1, 8, 8)
    label[..., 2:6, 2:6] = 1
    over = label.clone()
    over[..., 1:7, 1:7] = 1  # false positives only
    fp_heavy = FocalTverskyLoss(alpha=0.9, beta=0.1, gamma=1.0)(over, label)
    fn_heavy = FocalTverskyLoss(alpha=0.1, beta=0.9, gamma=1.0)(over, label)
    assert fp_heavy > fn_heavy + 0.1


def test_gradient_finite_at_perfect_prediction() -> None:
    label = torch.zeros(2, 1, 8, 8)
    label[..., 2:6, 3:7] = 1
    pred = label.clone().requires_grad_(True)
    loss = FocalTverskyLoss(gamma=0.75)(pred, label)
    loss.backward()
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    assert torch.isfinite(pred.grad).all()
    # Sigmoid path on confident logits: near-perfect, still finite and small.
    logits = (label * 20 - 10).requires_grad_(True)
    loss = FocalTverskyLoss(sigmoid=True)(logits, label)
    loss.backward()
    assert torch.isfinite(logits.grad).all() and loss.item() < 1e-3


def test_reductions() -> None:
    logits, labels = _batch(2)
    kw = {"softmax": True, "to_onehot_y": True}
    none = FocalTverskyLoss(reduction="none", **kw)(logits, labels)
    assert none.shape == (3, 2)
    assert torch.allclose(FocalTverskyLoss(reduction="mean", **kw)(logits, labels), none.mean())
    assert torch.allclose(FocalTverskyLoss(reduction="sum", **kw)(logits, labels), none.sum())
    pooled = FocalTverskyLoss(reduction="none", batch=True, **kw)(logits, labels)
    assert pooled.shape == (2,)
    assert not torch.allclose(pooled, none.mean(0))  # pooling counts is not averaging losses


def test_training_step_reduces_loss() -> None:
    torch.manual_seed(0)
    label = torch.zeros(1, 1, 12, 12)
    label[..., 3:9, 4:8] = 1
    logits = torch.zeros(1, 1, 12, 12, requires_grad=True)
    loss_fn = FocalTverskyLoss(sigmoid=True)
    opt = torch.optim.Adam([logits], lr=0.3)
    first = None
    for _ in range(20):
        opt.zero_grad()
        loss = loss_fn(logits, label)
        first = loss.item() if first is None else first
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        FocalTverskyLoss(gamma=0.0)
    with pytest.raises(ValueError):
        FocalTverskyLoss(sigmoid=True, softmax=True)
