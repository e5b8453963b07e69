"""The loss-optimal constant prediction of a task: the honest "guess" baseline.

The sanity check compares each network with the best prediction that ignores the image,
and every fresh decoder starts from it. "Best" depends on the task's loss (registry kind
``HeadSpec.loss``), so the constant is derived from that kind, in one place:

====================  ======================================================================
loss kind             loss-optimal constant (per output pixel/entry, over training labels)
====================  ======================================================================
``l1``                median (per pixel and channel)
``masked_l1``         median over the images where that pixel is valid
``l2``                mean
``masked_l2``         mean over the valid images
``ce``                log class frequencies (softmax of the logits = the class prior)
``soft_ce``           log of the mean soft label (minimizes the mean cross-entropy)
``rebalanced_ce``     per pixel, log of the class-weight × frequency distribution
                      (weights from these labels' pixel counts, as the loss uses)
``pose_l2``           per pose, the geometric median of the 6-vectors (Weiszfeld): it
                      minimizes the sum of Euclidean norms, which the mean does not
``pairwise_metric``   any constant embedding scores the same (every distance 0); zeros
====================  ======================================================================

A median is any value between the two middle ones; torch's lower median is used.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from taskonomy.errors import input_error
from taskonomy.nn.losses import class_weights_from_counts
from taskonomy.tasks import get_task
from taskonomy.tasks.spec import MASK_KEY

_EPS = 1e-6  # floor of a class probability before the log (absent classes stay finite)


def _masked(y: Tensor, lab: Mapping[str, Tensor]) -> Tensor:
    """``y`` (N, C, H, W) with invalid entries set to NaN (no mask: unchanged)."""
    if MASK_KEY not in lab:
        return y
    m = lab[MASK_KEY].to(torch.bool).expand_as(y)
    return torch.where(m, y, torch.full_like(y, float("nan")))


def _nan_to_zero(x: Tensor) -> Tensor:
    # A pixel valid in no training image: any constant is optimal there; 0 is neutral.
    return torch.nan_to_num(x, nan=0.0)


def geometric_median(x: Tensor, iters: int = 200, tol: float = 1e-9) -> Tensor:
    """Geometric median of the rows of ``x`` (N, D) → (D,), by Weiszfeld's iteration."""
    x = x.double()
    z = x.mean(0)  # (D,)
    for _ in range(iters):
        d = (x - z).norm(dim=1).clamp(min=1e-12)  # (N,)
        w = 1.0 / d
        z_new = (w[:, None] * x).sum(0) / w.sum()
        if (z_new - z).norm() < tol:
            z = z_new
            break
        z = z_new
    return z.float()


def optimal_constant(task: str, lab: Mapping[str, Tensor], sizes: Mapping[str, int]) -> Tensor:
    """The constant prediction minimizing ``task``'s mean training loss, in the head's
    output space (shaped like one prediction; class heads: logits).

    ``lab``: the task's labels (N, ...) and, for masked tasks, the validity mask under
    :data:`~taskonomy.tasks.spec.MASK_KEY`; ``sizes``: the data set's symbol sizes.
    """
    spec = get_task(task)
    if spec.head is None or spec.label is None:
        raise input_error("task", task, "a task with a head and a label", "Pick a target task.")
    y = lab[task]
    kind = spec.head.loss
    if kind in ("l1", "masked_l1"):
        return _nan_to_zero(torch.nanmedian(_masked(y.float(), lab), dim=0).values)
    if kind in ("l2", "masked_l2"):
        return _nan_to_zero(torch.nanmean(_masked(y.float(), lab), dim=0))
    k = int(spec.head.resolve_channels(dict(sizes)))
    if kind == "pairwise_metric":
        return torch.zeros(k, *y.shape[1:])  # (D, H, W)
    if kind == "pose_l2":
        flat = y.float().reshape(y.shape[0], -1, 6)  # (N, P, 6)
        poses = [geometric_median(flat[:, p]) for p in range(flat.shape[1])]
        return torch.stack(poses).reshape(y.shape[1:])
    if kind == "soft_ce":
        return torch.log(y.float().mean(0) + _EPS)  # (K,)
    if kind == "ce":
        freq = torch.bincount(y.reshape(-1).long(), minlength=k)[:k].float()
        return torch.log(freq / freq.sum() + _EPS)  # (K,)
    if kind == "rebalanced_ce":
        return _rebalanced_logits(y.long(), lab.get(MASK_KEY), k)
    raise input_error(f"loss kind of {task!r}", kind, "a kind with a known optimal constant")


def _rebalanced_logits(y: Tensor, mask: Tensor | None, k: int) -> Tensor:
    """Per-pixel logits (K, H, W) minimizing Σ_n w_{y_n} CE: softmax ∝ w_c · count_c."""
    onehot = torch.nn.functional.one_hot(y, k).permute(0, 3, 1, 2).float()  # (N, K, H, W)
    if mask is not None:
        onehot = onehot * mask.float()
    counts = onehot.sum(0)  # (K, H, W)
    w = class_weights_from_counts(counts.sum((1, 2)))  # (K,) as the loss computes them
    weighted = counts * w[:, None, None]
    total = weighted.sum(0, keepdim=True)
    uniform = torch.full_like(weighted, 1 / k)  # a pixel valid nowhere
    prob = torch.where(total > 0, weighted / total.clamp(min=1e-12), uniform)
    return torch.log(prob + _EPS)
