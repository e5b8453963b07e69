"""The loss-optimal constant: hand oracles, and no perturbation of it scores better."""

from __future__ import annotations

import pytest
import torch

from taskonomy.nn.losses import build_loss, class_weights_from_counts
from taskonomy.tasks import get_task
from taskonomy.tasks.spec import MASK_KEY
from taskonomy.train.constant import geometric_median, optimal_constant

SIZES = {"H": 4, "W": 4, "n_scene_classes": 5, "n_object_classes": 5, "n_semantic_classes": 4}


def test_l1_median_by_hand() -> None:
    y = torch.tensor([0.0, 0.0, 0.0, 1.0, 0.9]).reshape(5, 1, 1, 1)  # (N, C, H, W)
    got = optimal_constant("edge_texture", {"edge_texture": y}, {})
    assert got.shape == (1, 1, 1) and float(got) == 0.0  # median 0, mean 0.38


def test_masked_l1_median_over_valid_pixels_by_hand() -> None:
    y = torch.tensor([5.0, 0.2, 0.3, 0.9]).reshape(4, 1, 1, 1)
    m = torch.tensor([False, True, True, True]).reshape(4, 1, 1, 1)
    got = optimal_constant("depth_zbuffer", {"depth_zbuffer": y, MASK_KEY: m}, {})
    assert float(got) == pytest.approx(0.3)  # the invalid 5.0 is ignored


def test_geometric_median_by_hand() -> None:
    # Three points at one spot and one far away: the geometric median stays at the cluster.
    x = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [9.0, 0.0]])
    torch.testing.assert_close(geometric_median(x), torch.zeros(2), atol=1e-4, rtol=0)


def _labels(task: str, n: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    spec = get_task(task)
    assert spec.label is not None
    shape = spec.label.resolve(SIZES)
    if spec.head is not None and spec.head.loss in ("ce",):
        k = spec.head.resolve_channels(SIZES)
        y = torch.multinomial(torch.tensor([0.6, 0.2, 0.1, 0.05, 0.05][:k]), n, True, generator=gen)
        return {task: y}
    if spec.head is not None and spec.head.loss == "rebalanced_ce":
        y = torch.multinomial(torch.tensor([0.7, 0.2, 0.07, 0.03]), n * 16, True, generator=gen)
        return {task: y.reshape(n, 4, 4)}
    if spec.head is not None and spec.head.loss == "soft_ce":
        return {task: torch.softmax(2 * torch.randn(n, *shape, generator=gen), 1)}
    # skewed regression labels: median and mean differ
    y = torch.rand(n, *shape, generator=gen) ** 3
    out = {task: y}
    if spec.masked:
        out[MASK_KEY] = torch.rand(n, 1, *shape[1:], generator=gen) > 0.3
    return out


TASKS = ["edge_texture", "depth_zbuffer", "room_layout", "principal_curvature", "class_scene",
         "class_object", "segment_semantic", "egomotion", "fixated_pose"]  # fmt: skip


@pytest.mark.parametrize("task", TASKS)
def test_constant_beats_perturbed_constants(task: str) -> None:
    gen = torch.Generator().manual_seed(0)
    lab = _labels(task, 200, gen)
    spec = get_task(task)
    assert spec.head is not None
    kwargs = {}
    if spec.head.loss == "rebalanced_ce":
        y = lab[task]
        counts = torch.bincount(y.flatten(), minlength=4)
        kwargs["class_weights"] = class_weights_from_counts(counts)
    loss = build_loss(spec.head.loss, **kwargs)
    c = optimal_constant(task, lab, SIZES)
    y = lab[task]
    mask = lab.get(MASK_KEY)

    def score(const: torch.Tensor) -> float:
        pred = const.expand(y.shape[0], *const.shape)
        return float(loss(pred, y, mask).mean())

    best = score(c)
    for i in range(8):
        delta = 0.05 * torch.randn(c.shape, generator=gen) * (1 + i)
        assert best <= score(c + delta) + 1e-6, (task, i)
    if spec.head.loss in ("l1", "masked_l1"):  # the mean (the old guess) is worse under L1
        assert best < score(c * 0 + y.float().mean(0))
