"""Per-image task losses: every loss maps a batch to one value per image, shape (B,).

The affinity tournament compares networks image by image, so no loss reduces over the
batch. Each loss is an ``nn.Module`` called as ``loss(pred, target, mask=None)``:

==================  =========================  ==========================  ================
kind                pred                       target                      mask
==================  =========================  ==========================  ================
``l1``, ``l2``      (B, ...) float             same shape                  ignored
``masked_l1/l2``    (B, C, H, W) float         (B, C, H, W) float          (B, 1, H, W) bool
``ce``              (B, K) logits              (B,) int64 in [0, K)        ignored
``rebalanced_ce``   (B, K, H, W) logits        (B, H, W) int64             (B, 1, H, W) opt.
``soft_ce``         (B, K) logits              (B, K) probabilities        ignored
``pose_l2``         (B, P, 6) or (B, 6)        same shape                  ignored
``pairwise_metric`` (B, D, H, W) embedding     (B, H, W) int64 segment id  (B, 1, H, W) opt.
==================  =========================  ==========================  ================

Masked losses average over the valid pixels of each image (and its channels); an image
without a valid pixel scores 0 and gets zero gradient, never NaN.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from taskonomy.errors import input_error
from taskonomy.registry import Registry


class PerImageLoss(nn.Module):
    """Base class: ``forward(pred, target, mask=None) -> Tensor`` of shape (B,)."""

    #: False for losses whose value for one image depends on its batch mates.
    batch_independent = True

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        raise NotImplementedError


LossFactory = Callable[..., PerImageLoss]
LOSSES: Registry[LossFactory] = Registry("loss")


def _check_same_shape(name: str, pred: Tensor, target: Tensor) -> None:
    if pred.shape != target.shape:
        raise input_error(
            f"{name} prediction shape",
            tuple(pred.shape),
            f"the target's shape {tuple(target.shape)}",
            "Check the decoder's output channels against the task's label.",
        )


def masked_mean(values: Tensor, mask: Tensor | None) -> Tensor:
    """Per-image mean of ``values`` (B, C, H, W) over valid pixels and channels → (B,).

    ``mask`` (B, 1, H, W) bool broadcasts over channels; ``None`` means all valid. Masked
    entries are zeroed with ``where`` *before* summing so NaN/inf there cannot leak.
    """
    if mask is None:
        return values.flatten(1).mean(1)
    m = mask.to(torch.bool).expand_as(values)  # (B, C, H, W)
    total = torch.where(m, values, torch.zeros_like(values)).flatten(1).sum(1)  # (B,)
    count = m.flatten(1).sum(1)  # (B,)
    return total / count.clamp(min=1)  # images without a valid pixel: 0 / 1 = 0


def masked_diff(pred: Tensor, target: Tensor, mask: Tensor | None) -> Tensor:
    """pred - target with masked entries set to 0 first (so their gradient is exactly 0)."""
    d = pred - target  # (B, C, H, W)
    if mask is None:
        return d
    return torch.where(mask.to(torch.bool).expand_as(d), d, torch.zeros_like(d))


@LOSSES.decorator("l1")
class L1Loss(PerImageLoss):
    """Mean absolute error per image."""

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        _check_same_shape("l1", pred, target)
        return (pred - target).abs().flatten(1).mean(1)  # (B,)


@LOSSES.decorator("l2")
class L2Loss(PerImageLoss):
    """Mean squared error per image (the paper's MSE for layout / vanishing points)."""

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        _check_same_shape("l2", pred, target)
        return (pred - target).square().flatten(1).mean(1)  # (B,)


@LOSSES.decorator("masked_l1")
class MaskedL1Loss(PerImageLoss):
    """Mean absolute error over each image's valid pixels (0 if none)."""

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        _check_same_shape("masked_l1", pred, target)
        return masked_mean(masked_diff(pred, target, mask).abs(), mask)  # (B,)


@LOSSES.decorator("masked_l2")
class MaskedL2Loss(PerImageLoss):
    """Mean squared error over each image's valid pixels (0 if none)."""

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        _check_same_shape("masked_l2", pred, target)
        return masked_mean(masked_diff(pred, target, mask).square(), mask)  # (B,)


@LOSSES.decorator("ce")
class CrossEntropyLoss(PerImageLoss):
    """Cross-entropy of logits (B, K) against class ids (B,)."""

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return F.cross_entropy(pred, target.long(), reduction="none")  # (B,)


@LOSSES.decorator("soft_ce")
class SoftCrossEntropyLoss(PerImageLoss):
    """−Σ_c q_c log softmax(pred)_c for a target distribution q (B, K).

    Its minimum is the entropy of q, not 0 (0 only for one-hot targets).
    """

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        _check_same_shape("soft_ce", pred, target)
        return -(target * F.log_softmax(pred, dim=1)).sum(1)  # (B,)


def class_weights_from_counts(counts: Tensor, eps: float = 1.0) -> Tensor:
    """Inverse-frequency class weights (K,) from pixel counts (K,).

    ``w_c ∝ 1 / (n_c + eps)``, scaled so the pixel-average weight ``Σ_c f_c·w_c`` is 1
    (``f_c`` the share of pixels of class c); with ``eps = 0`` this is ``1 / (K'·f_c)``
    for K' classes present. ``eps`` keeps a near-absent class from exploding; absent
    classes get weight 0 (they do not occur in the labels the weights came from).
    """
    counts = counts.to(torch.float64)  # (K,)
    present = counts > 0
    raw = torch.where(present, 1.0 / (counts + eps).clamp(min=1e-12), torch.zeros_like(counts))
    freq = counts / counts.sum().clamp(min=1)  # (K,)
    scale = (freq * raw).sum()
    w = raw / scale if scale > 0 else raw
    return w.to(torch.float32)


@LOSSES.decorator("rebalanced_ce")
class RebalancedCrossEntropyLoss(PerImageLoss):
    """Per-pixel CE weighted by class, averaged over each image's (valid) pixels.

    ``class_weights`` (K,), e.g. :func:`class_weights_from_counts` of the training split's
    pixel counts, makes the loss batch-independent. Without it the weights are computed
    from the current batch's labels, so an image's loss then depends on its batch mates
    (``batch_independent`` is False): fine for training, not for per-image evaluation.
    """

    def __init__(self, class_weights: Tensor | None = None) -> None:
        super().__init__()
        self.class_weights: Tensor | None
        self.register_buffer("class_weights", class_weights)
        self.batch_independent = class_weights is not None

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        n_classes = pred.shape[1]
        target = target.long()  # (B, H, W)
        if self.class_weights is not None:
            weights = self.class_weights.to(pred)
        else:
            valid = target if mask is None else target[mask[:, 0].to(torch.bool)]
            weights = class_weights_from_counts(
                torch.bincount(valid.flatten(), minlength=n_classes)
            )
            weights = weights.to(pred)
        ce = F.cross_entropy(pred, target, reduction="none")  # (B, H, W)
        pix = (weights[target] * ce).unsqueeze(1)  # (B, 1, H, W)
        return masked_mean(pix, mask)  # (B,)


@LOSSES.decorator("pose_l2")
class PoseL2Loss(PerImageLoss):
    """L2 norm of the 6-vector pose error, summed over the P poses of a sample.

    pred/target (B, 6) (one pose: fixated/nonfixated) or (B, P, 6) (egomotion, P = 3).
    The norm is ``sqrt(|d|² + eps) − sqrt(eps)``: exactly 0 at a perfect prediction and a
    finite gradient there (the plain norm's gradient is undefined at 0).
    """

    def __init__(self, eps: float = 1e-12) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        _check_same_shape("pose_l2", pred, target)
        d = (pred - target).reshape(pred.shape[0], -1, 6)  # (B, P, 6)
        norms = (d.square().sum(-1) + self.eps).sqrt() - self.eps**0.5  # (B, P)
        return norms.sum(1)  # (B,)


def sample_pixel_pairs(
    n_pixels: int, n_pairs: int, generator: torch.Generator | None, seed: int
) -> tuple[Tensor, Tensor]:
    """Two index vectors (n_pairs,) into flattened pixels, the same for every image.

    With ``generator=None`` a fresh generator seeded with ``seed`` is used, so evaluation
    draws the same pairs every call; pass a generator during training for fresh pairs.
    """
    gen = generator
    if gen is None:
        gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, n_pixels, (2, n_pairs), generator=gen)  # (2, n_pairs)
    return idx[0], idx[1]


@LOSSES.decorator("pairwise_metric")
class PairwiseMetricLoss(PerImageLoss):
    """Contrastive loss on sampled pixel pairs of a per-pixel embedding.

    For each image, pairs (i, j) of pixels are drawn (positions shared by the whole batch,
    so each image's value does not depend on its batch mates); with ``d`` the Euclidean
    distance of their embeddings, same-segment pairs cost ``d²`` and different-segment
    pairs ``max(0, margin − d)²``. The loss is the mean over same pairs plus the mean over
    different pairs (each term 0 when the image has no such pair; invalid pixels, if a
    mask is given, are left out of both).
    """

    def __init__(self, n_pairs: int = 512, margin: float = 1.0, seed: int = 0) -> None:
        super().__init__()
        self.n_pairs = n_pairs
        self.margin = margin
        self.seed = seed

    def pair_terms(
        self,
        pred: Tensor,
        target: Tensor,
        mask: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Distances (B, n), same-segment flags (B, n) and validity (B, n) of the pairs."""
        b, _, h, w = pred.shape
        if target.shape != (b, h, w):
            raise input_error(
                "pairwise_metric target shape", tuple(target.shape), f"(B, H, W) = {(b, h, w)}"
            )
        i, j = sample_pixel_pairs(h * w, self.n_pairs, generator, self.seed)
        emb = pred.flatten(2)  # (B, D, H·W)
        seg = target.flatten(1)  # (B, H·W)
        diff = emb[:, :, i] - emb[:, :, j]  # (B, D, n)
        dist = (diff.square().sum(1) + 1e-12).sqrt()  # (B, n)
        same = seg[:, i] == seg[:, j]  # (B, n)
        valid = i != j  # (n,) a pixel paired with itself says nothing
        valid = valid.expand(b, -1)  # (B, n)
        if mask is not None:
            m = mask.to(torch.bool).flatten(1)  # (B, H·W)
            valid = valid & m[:, i] & m[:, j]
        return dist, same, valid

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        mask: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        dist, same, valid = self.pair_terms(pred, target, mask, generator)
        pos = same & valid  # (B, n)
        neg = ~same & valid
        zero = torch.zeros_like(dist)
        pull = torch.where(pos, dist.square(), zero).sum(1) / pos.sum(1).clamp(min=1)
        push_cost = (self.margin - dist).clamp(min=0).square()
        push = torch.where(neg, push_cost, zero).sum(1) / neg.sum(1).clamp(min=1)
        return pull + push  # (B,)


def build_loss(name: str, **kwargs: object) -> PerImageLoss:
    """Instantiate a loss kind by name (unknown names list the valid ones)."""
    return LOSSES.get(name)(**kwargs)
