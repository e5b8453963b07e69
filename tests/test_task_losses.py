"""Per-image task losses and metrics: shapes, oracles, masking, batch independence."""

from __future__ import annotations

import math

import pytest
import torch

from taskonomy.errors import TaskonomyError
from taskonomy.nn.heads import MASK_KEY, TaskHead, random_batch
from taskonomy.nn.losses import (
    LOSSES,
    PairwiseMetricLoss,
    RebalancedCrossEntropyLoss,
    build_loss,
    class_weights_from_counts,
)
from taskonomy.nn.metrics import METRICS, accuracy, angular_error
from taskonomy.tasks import get_task, list_tasks

torch.set_num_threads(1)

SIZES = {
    "n_object_classes": 5,
    "n_scene_classes": 4,
    "n_semantic_classes": 6,
    "n_jigsaw_permutations": 7,
}
S = 16  # image side: losses do not need a network, keep maps tiny
LABELLED = [t for t in list_tasks() if get_task(t).label is not None]
# Losses that are exactly 0 at a perfect prediction (CE-type losses are not).
ZERO_AT_TARGET = {"l1", "l2", "masked_l1", "masked_l2", "pose_l2"}


def _head(task: str) -> TaskHead:
    torch.manual_seed(0)
    rep = 8 * get_task(task).views
    return TaskHead(task, rep, (1, 1), S, SIZES, width=8)


def _in(head: TaskHead) -> int:
    first = next(m for m in head.decoder.modules() if isinstance(m, torch.nn.Conv2d))
    return first.in_channels


def _batch(task: str, b: int = 3, seed: int = 1) -> dict[str, torch.Tensor]:
    return random_batch(task, b, S, SIZES, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("task", LABELLED)
def test_loss_is_per_image_finite_and_batch_independent(task: str) -> None:
    head = _head(task)
    batch = _batch(task)
    pred = torch.randn(_pred_shape(head, 3), generator=torch.Generator().manual_seed(2))
    loss = head.loss(pred, batch)
    assert loss.shape == (3,)
    assert torch.isfinite(loss).all()
    assert (loss >= 0).all()  # every task loss is a distance or a cross-entropy
    metric = head.metric(pred, batch)
    assert metric.shape == (3,) and torch.isfinite(metric).all()
    if not head.loss_fn.batch_independent:
        return
    for i in range(3):
        one = {k: v[i : i + 1] for k, v in batch.items()}
        alone = head.loss(pred[i : i + 1], one)
        torch.testing.assert_close(alone[0], loss[i])


def _pred_shape(head: TaskHead, b: int) -> tuple[int, ...]:
    with torch.no_grad():
        return tuple(head(torch.zeros(b, _in(head), 1, 1)).shape)


@pytest.mark.parametrize("task", [t for t in LABELLED if get_task(t).head.loss in ZERO_AT_TARGET])  # type: ignore[union-attr]
def test_perfect_prediction_gives_zero_loss(task: str) -> None:
    head = _head(task)
    batch = _batch(task)
    target = batch[task]
    loss = head.loss(target.clone(), batch)
    torch.testing.assert_close(loss, torch.zeros(3), atol=1e-6, rtol=0)
    off = head.loss(target + 0.5, batch)
    assert (off > 0.1).all()


@pytest.mark.parametrize("task", [t for t in LABELLED if get_task(t).label.masked])  # type: ignore[union-attr]
def test_masked_loss_ignores_masked_pixels(task: str) -> None:
    head = _head(task)
    batch = _batch(task)
    pred = torch.rand(_pred_shape(head, 3), generator=torch.Generator().manual_seed(3))
    invalid = ~batch[MASK_KEY].expand_as(pred)  # (B, C, H, W)
    assert invalid.any()
    changed = torch.where(invalid, pred + 100.0, pred)
    torch.testing.assert_close(head.loss(changed, batch), head.loss(pred, batch))
    # Garbage (NaN) labels under the mask must not leak either.
    nan_batch = dict(batch)
    nan_batch[task] = torch.where(invalid, torch.nan, batch[task])
    torch.testing.assert_close(head.loss(pred, nan_batch), head.loss(pred, batch))


@pytest.mark.parametrize("kind", ["masked_l1", "masked_l2"])
def test_masked_loss_without_valid_pixels_is_zero_with_zero_grad(kind: str) -> None:
    loss_fn = build_loss(kind)
    pred = torch.rand(2, 1, 4, 4, requires_grad=True)
    target = torch.rand(2, 1, 4, 4)
    mask = torch.ones(2, 1, 4, 4, dtype=torch.bool)
    mask[1] = False  # second image: nothing valid
    loss = loss_fn(pred, target, mask)
    assert loss[1].item() == 0.0 and loss[0].item() > 0
    loss.sum().backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all()
    assert pred.grad[1].abs().sum().item() == 0.0


def test_masked_l1_hand_oracle() -> None:
    # One image, 2 channels, 2 pixels of which only the first is valid.
    pred = torch.tensor([[[[1.0, 9.0]], [[3.0, 9.0]]]])  # (1, 2, 1, 2)
    target = torch.tensor([[[[0.0, 0.0]], [[0.0, 0.0]]]])
    mask = torch.tensor([[[[True, False]]]])  # (1, 1, 1, 2)
    # valid entries: |1| and |3| → mean 2; L2: (1 + 9) / 2 = 5
    assert build_loss("masked_l1")(pred, target, mask).item() == pytest.approx(2.0)
    assert build_loss("masked_l2")(pred, target, mask).item() == pytest.approx(5.0)


def test_pose_loss_sums_pose_norms() -> None:
    pred = torch.zeros(1, 3, 6)
    target = torch.zeros(1, 3, 6)
    target[0, 0, 0] = 3.0
    target[0, 0, 1] = 4.0  # norm 5
    target[0, 2, 5] = 2.0  # norm 2
    assert build_loss("pose_l2")(pred, target).item() == pytest.approx(7.0)
    pred.requires_grad_(True)
    build_loss("pose_l2")(pred, pred.detach().clone()).sum().backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all()


def test_ce_and_soft_ce_oracles() -> None:
    logits = torch.tensor([[0.0, math.log(3.0)]])  # softmax = (1/4, 3/4)
    ce = build_loss("ce")(logits, torch.tensor([1]))
    assert ce.item() == pytest.approx(-math.log(0.75))
    soft = build_loss("soft_ce")(logits, torch.tensor([[0.5, 0.5]]))
    assert soft.item() == pytest.approx(-0.5 * math.log(0.25) - 0.5 * math.log(0.75))


def test_class_weights_from_counts() -> None:
    w = class_weights_from_counts(torch.tensor([30, 10, 0]), eps=0.0)
    # f = (3/4, 1/4), K' = 2 → w = (1/(2·3/4), 1/(2·1/4)) = (2/3, 2); absent class → 0
    torch.testing.assert_close(w, torch.tensor([2 / 3, 2.0, 0.0]))
    # pixel-average weight is 1
    assert (w[:2] * torch.tensor([0.75, 0.25])).sum().item() == pytest.approx(1.0)


def test_rebalanced_ce_matches_weighted_mean() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 4, 4, generator=g)
    target = torch.randint(0, 3, (2, 4, 4), generator=g)
    w = torch.tensor([0.5, 1.0, 2.0])
    loss = RebalancedCrossEntropyLoss(w)(logits, target)
    ce = torch.nn.functional.cross_entropy(logits, target, reduction="none")  # (2, 4, 4)
    expect = (w[target] * ce).flatten(1).mean(1)
    torch.testing.assert_close(loss, expect)
    # Per-batch weights (no class_weights) are documented as batch-dependent.
    assert not RebalancedCrossEntropyLoss().batch_independent
    assert RebalancedCrossEntropyLoss(w).batch_independent
    # Per-batch weights: a rare class's pixels weigh more than a common class's.
    t = torch.zeros(1, 4, 4, dtype=torch.long)
    t[0, 0, 0] = 1
    flat = torch.zeros(1, 2, 4, 4)  # uniform prediction: per-pixel CE = log 2 everywhere
    per_batch = RebalancedCrossEntropyLoss()(flat, t)
    assert per_batch.item() == pytest.approx(math.log(2.0))  # pixel-mean weight is 1
    smoothed = class_weights_from_counts(torch.tensor([15, 1]))  # eps = 1: 1/16 vs 1/2
    assert smoothed[1] / smoothed[0] == pytest.approx(8.0)
    assert (smoothed * torch.tensor([15 / 16, 1 / 16])).sum().item() == pytest.approx(1.0)


def test_pairwise_metric_loss_oracles_and_determinism() -> None:
    seg = torch.zeros(1, 4, 4, dtype=torch.long)
    seg[:, :, 2:] = 1  # two segments: left and right halves
    loss_fn = PairwiseMetricLoss(n_pairs=64, margin=1.0, seed=0)
    # Same embedding per segment, segments 3 apart (> margin): both terms vanish.
    emb = torch.zeros(1, 2, 4, 4)
    emb[:, 0, :, 2:] = 3.0
    assert loss_fn(emb, seg).item() == pytest.approx(0.0, abs=1e-5)
    # All pixels embedded at one point: pull term 0, push term margin² = 1.
    assert loss_fn(torch.zeros(1, 2, 4, 4), seg).item() == pytest.approx(1.0, abs=1e-5)
    # Deterministic: default draws the seeded pairs; a generator gives reproducible draws.
    x = torch.randn(2, 2, 4, 4, generator=torch.Generator().manual_seed(1))
    seg2 = seg.expand(2, -1, -1)
    torch.testing.assert_close(loss_fn(x, seg2), loss_fn(x, seg2))
    a = loss_fn(x, seg2, generator=torch.Generator().manual_seed(5))
    b = loss_fn(x, seg2, generator=torch.Generator().manual_seed(5))
    c = loss_fn(x, seg2, generator=torch.Generator().manual_seed(6))
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, c)


def test_metrics_oracles() -> None:
    n = torch.zeros(1, 3, 1, 2)
    n[0, 2] = 1.0  # both pixels point along z
    p = n.clone()
    p[0, :, 0, 1] = torch.tensor([1.0, 0.0, 0.0])  # second pixel: 90° off
    assert angular_error(p, n).item() == pytest.approx(45.0, abs=1e-3)
    mask = torch.tensor([[[[True, False]]]])
    assert angular_error(p, n, mask).item() == pytest.approx(0.0, abs=1e-3)
    logits = torch.tensor([[2.0, 1.0], [0.0, 5.0]])
    torch.testing.assert_close(accuracy(logits, torch.tensor([0, 0])), torch.tensor([1.0, 0.0]))
    soft = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    torch.testing.assert_close(accuracy(logits, soft), torch.tensor([1.0, 1.0]))
    assert METRICS.get("accuracy").higher_is_better
    assert not METRICS.get("mae").higher_is_better


def test_every_declared_loss_and_metric_is_registered() -> None:
    for task in LABELLED:
        head = get_task(task).head
        assert head is not None, task
        assert head.loss in LOSSES and head.metric in METRICS, task


def test_unknown_loss_lists_valid_kinds() -> None:
    with pytest.raises(TaskonomyError, match=r"unknown loss: got 'l3'; expected one of: .*l1"):
        build_loss("l3")


def test_shape_mismatch_is_a_clear_error() -> None:
    with pytest.raises(TaskonomyError, match="prediction shape"):
        build_loss("l1")(torch.zeros(2, 3), torch.zeros(2, 4))


def test_rebalanced_ce_with_split_weights_is_batch_independent_in_a_head() -> None:
    weights = class_weights_from_counts(torch.tensor([50, 30, 10, 5, 3, 2]))
    torch.manual_seed(0)
    head = TaskHead(
        "segment_semantic", 8, (1, 1), S, SIZES, width=8, loss_kwargs={"class_weights": weights}
    )
    assert head.loss_fn.batch_independent
    batch = _batch("segment_semantic")
    pred = torch.randn(_pred_shape(head, 3), generator=torch.Generator().manual_seed(4))
    loss = head.loss(pred, batch)
    for i in range(3):
        one = {k: v[i : i + 1] for k, v in batch.items()}
        torch.testing.assert_close(head.loss(pred[i : i + 1], one)[0], loss[i])
