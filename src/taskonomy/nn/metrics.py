"""Per-image task metrics, shape (B,): what a report shows next to the loss.

Each metric is ``fn(pred, target, mask=None) -> Tensor`` (B,) with the shapes of the
matching loss (``taskonomy.nn.losses``), plus whether higher is better.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from taskonomy.nn.losses import PairwiseMetricLoss, PoseL2Loss, masked_diff, masked_mean
from taskonomy.registry import Registry

MetricFn = Callable[[Tensor, Tensor, "Tensor | None"], Tensor]


@dataclass(frozen=True)
class Metric:
    """A per-image metric and its direction."""

    fn: MetricFn
    higher_is_better: bool
    unit: str = ""

    def __call__(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.fn(pred, target, mask)


METRICS: Registry[Metric] = Registry("metric")


def mae(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean absolute error over (valid) pixels and channels → (B,)."""
    return masked_mean(masked_diff(pred, target, mask).abs(), mask)


def rmse(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Root mean squared error over (valid) entries → (B,)."""
    return masked_mean(masked_diff(pred, target, mask).square(), mask).sqrt()


def angular_error(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean angle in degrees between predicted and true vectors (B, 3, H, W) → (B,)."""
    cos = torch.nn.functional.cosine_similarity(pred, target, dim=1, eps=1e-8)  # (B, H, W)
    ang = torch.rad2deg(torch.acos(cos.clamp(-1.0, 1.0))).unsqueeze(1)  # (B, 1, H, W)
    if mask is not None:
        ang = torch.where(mask.to(torch.bool), ang, torch.zeros_like(ang))
    return masked_mean(ang, mask)


def accuracy(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Share of correct argmax predictions → (B,).

    pred (B, K) or (B, K, H, W) logits; target class ids (B,) / (B, H, W), or a soft label
    (B, K) compared by its argmax. Dense predictions average over (valid) pixels.
    """
    if target.is_floating_point() and target.shape == pred.shape:
        target = target.argmax(1)
    hit = (pred.argmax(1) == target.long()).to(pred.dtype)  # (B,) or (B, H, W)
    if hit.dim() == 1:
        return hit
    return masked_mean(hit.unsqueeze(1), mask)  # (B,)


def pose_l2(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Sum over poses of the 6-vector L2 error (the pose loss itself) → (B,)."""
    return PoseL2Loss()(pred, target)


def pair_accuracy(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Share of sampled pixel pairs whose embedding distance tells same vs different
    segment correctly (threshold: half the margin of the default metric loss) → (B,)."""
    loss = PairwiseMetricLoss()
    dist, same, valid = loss.pair_terms(pred, target, mask)  # (B, n) each
    right = ((dist < loss.margin / 2) == same) & valid
    return right.sum(1).to(pred.dtype) / valid.sum(1).clamp(min=1)


METRICS.register("mae", Metric(mae, higher_is_better=False))
METRICS.register("rmse", Metric(rmse, higher_is_better=False))
METRICS.register("angular_error", Metric(angular_error, higher_is_better=False, unit="deg"))
METRICS.register("accuracy", Metric(accuracy, higher_is_better=True))
METRICS.register("pose_l2", Metric(pose_l2, higher_is_better=False))
METRICS.register("pair_accuracy", Metric(pair_accuracy, higher_is_better=True))
