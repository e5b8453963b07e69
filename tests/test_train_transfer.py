from __future__ import annotations

import copy
import itertools
import math

import pytest
import torch

from taskonomy.errors import TaskonomyError
from taskonomy.nn.heads import random_batch
from taskonomy.nn.readout import build_transfer
from taskonomy.train.loop import batches, fit, per_image
from taskonomy.transfer.stacked import StackedTransfers

SIZES = {"n_semantic_classes": 7, "n_object_classes": 5, "n_scene_classes": 4}


def _readouts(task: str, m: int, order: int = 1) -> list:
    out = []
    for i in range(m):
        torch.manual_seed(100 + i)
        out.append(build_transfer(task, order, 32, SIZES, bottleneck_channels=8, decoder_width=8))
    return out


@pytest.mark.parametrize("task", ["depth_zbuffer", "normal", "class_scene", "room_layout",
                                  "segment_semantic"])  # fmt: skip
def test_stacked_transfers_train_exactly_like_separate_ones(task: str) -> None:
    # float64, so that summation order (grouped vs single kernels) cannot blur the check.
    torch.set_num_threads(1)
    m, order = 3, 2
    separate = [r.double() for r in _readouts(task, m, order)]
    stacked = StackedTransfers(copy.deepcopy(separate))
    g = torch.Generator().manual_seed(0)
    batch = {
        k: v.double() if v.is_floating_point() else v
        for k, v in random_batch(task, 24, 32, SIZES, g).items()
    }
    reps = [torch.randn(24, 8 * order, 2, 2, generator=g, dtype=torch.float64) for _ in range(m)]
    # Same outputs before training ...
    out = stacked(torch.cat(reps, dim=1))
    for i in range(m):
        torch.testing.assert_close(out[i], separate[i](reps[i]), atol=1e-10, rtol=1e-9)
    # ... and after the same minibatches, optimizer steps and per-model early stopping.
    hp = {"steps": 9, "batch_size": 6, "lr": 3e-2, "seed": 5, "log_every": 3}
    train = {k: v[:18] for k, v in batch.items()}
    val = {k: v[18:] for k, v in batch.items()}
    cat = torch.cat(reps, dim=1)
    log = fit(stacked, lambda b: stacked.per_model_loss(stacked(b["reps"]), b).T,
              {**train, "reps": cat[:18]}, val={**val, "reps": cat[18:]}, models=m,
              **hp)  # fmt: skip
    steps = []
    for i, ro in enumerate(separate):
        one = fit(ro, lambda b, ro=ro: ro.loss(ro(b["reps"]), b), {**train, "reps": reps[i][:18]},
                  val={**val, "reps": reps[i][18:]}, **hp)  # fmt: skip
        steps.append(one.best_step)
    assert log.best_steps == steps
    test = {**batch, "reps": torch.cat(reps, dim=1)}
    got = per_image(lambda b: stacked.per_model_loss(stacked(b["reps"]), b).T, test).T
    for i, ro in enumerate(separate):
        want = per_image(lambda b, ro=ro: ro.loss(ro(b["reps"]), b), {**batch, "reps": reps[i]})
        torch.testing.assert_close(got[i], want, atol=1e-8, rtol=1e-7)


def test_stacking_refuses_mixed_or_headless_readouts() -> None:
    from taskonomy.nn.readout import TransferReadout

    with pytest.raises(TaskonomyError, match="at least one"):
        StackedTransfers([])
    with pytest.raises(TaskonomyError, match="without head"):
        StackedTransfers([TransferReadout(8, 1, 8)])


def test_batches_cover_each_epoch_and_are_seeded() -> None:
    data = {"x": torch.arange(10)}
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    s1, s2 = batches(data, 5, g1), batches(data, 5, g2)
    first = torch.cat([next(s1)["x"], next(s1)["x"]])
    assert sorted(first.tolist()) == list(range(10))  # one epoch = a permutation
    assert torch.equal(first, torch.cat([next(s2)["x"], next(s2)["x"]]))


def test_fit_is_reproducible_and_early_stops() -> None:
    torch.set_num_threads(1)

    def run(seed: int) -> tuple[torch.nn.Module, object]:
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 1)
        x = torch.randn(64, 4, generator=torch.Generator().manual_seed(9))
        y = x @ torch.tensor([[1.0], [-2.0], [0.5], [0.0]])
        data = {"x": x[:48], "y": y[:48]}
        val = {"x": x[48:], "y": y[48:]}
        log = fit(model, lambda b: (model(b["x"]) - b["y"]).abs().mean(1), data, steps=40,
                  batch_size=8, lr=0.05, seed=seed, log_every=10, val=val)  # fmt: skip
        return model, log

    m1, log1 = run(3)
    m2, _ = run(3)
    assert torch.equal(m1.weight, m2.weight)
    assert len(log1.val_losses) == 4 and log1.best_step in (10, 20, 30, 40)
    assert log1.val_losses[log1.best_step // 10 - 1] == min(log1.val_losses)


class _TwoRegressions(torch.nn.Module):
    """Two independent linear models packed in one (2, 3) weight: row m is model m."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.w.T  # (B, 2)


def test_fit_keeps_each_packed_models_own_best_step() -> None:
    # Model 0's training targets agree with validation, model 1's contradict it: model 0
    # keeps improving (best = last check), model 1 is best before any step (its zero start).
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    w_true = torch.tensor([1.0, -2.0, 0.5])
    x, xv = torch.randn(64, 3, generator=g), torch.randn(32, 3, generator=g)
    y = torch.stack([x @ w_true, -(x @ w_true)], dim=1)  # (64, 2)
    yv = torch.stack([xv @ w_true, xv @ w_true], dim=1)  # (32, 2)
    model = _TwoRegressions()

    def loss(b: dict[str, torch.Tensor]) -> torch.Tensor:
        return (model(b["x"]) - b["y"]).square()  # (B, 2)

    log = fit(model, loss, {"x": x, "y": y}, steps=40, batch_size=16, lr=0.05, seed=1,
              log_every=10, val={"x": xv, "y": yv}, models=2)  # fmt: skip
    assert log.best_steps == [40, 0]
    assert log.best_step == 40
    assert torch.equal(model.w[1].detach(), torch.zeros(3))  # restored to its start
    # The kept weights: against the same run without early stopping (all at step 40).
    model2 = _TwoRegressions()
    fit(model2, lambda b: (model2(b["x"]) - b["y"]).square(), {"x": x, "y": y}, steps=40,
        batch_size=16, lr=0.05, seed=1, log_every=10, val=None, models=2)  # fmt: skip
    assert torch.allclose(model.w[0], model2.w[0])  # model 0: its last step
    assert not torch.allclose(model.w[1], model2.w[1])  # model 1: an earlier step
    assert model2.w[1].norm() > 0.5  # without validation, model 1 walked away


def test_fit_refuses_parameters_not_blocked_by_model() -> None:
    model = torch.nn.Linear(3, 1)  # weight (1, 3): not divisible into 2 model blocks
    with pytest.raises(TaskonomyError, match="divisible by 2"):
        fit(model, lambda b: model(b["x"]).repeat(1, 2), {"x": torch.ones(4, 3)}, steps=1,
            batch_size=2, lr=0.1, models=2)  # fmt: skip


def test_fit_rejects_diverging_and_frozen_models() -> None:
    model = torch.nn.Linear(2, 1)
    data = {"x": torch.ones(4, 2)}
    with pytest.raises(TaskonomyError, match="loss became"):
        fit(model, lambda b: model(b["x"]).sum(1) * float("nan"), data, steps=2,
            batch_size=2, lr=0.1)  # fmt: skip
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(TaskonomyError, match="no trainable"):
        fit(model, lambda b: model(b["x"]).sum(1), data, steps=1, batch_size=2, lr=0.1)
    with pytest.raises(TaskonomyError, match="one sample count"):
        per_image(lambda b: b["x"], {"x": torch.ones(3), "y": torch.ones(4)})


@pytest.mark.parametrize(
    ("target", "size", "stacked"),
    [("depth_zbuffer", 32, True), ("depth_zbuffer", 64, True), ("normal", 128, False),
     ("segment_semantic", 32, False),
     ("class_scene", 256, True), ("room_layout", 64, True)],
)  # fmt: skip
def test_auto_stacking_follows_the_benchmark(target: str, size: int, stacked: bool) -> None:
    from taskonomy.transfer.stacked import use_stacked

    assert use_stacked("auto", target, size) is stacked
    assert use_stacked("always", target, size) and not use_stacked("never", target, size)


def test_lr_schedule_warms_up_then_decays_to_zero() -> None:
    from taskonomy.train.loop import lr_schedule

    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = lr_schedule(opt, 100)  # 5 warm-up steps
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.2) and lrs[4] == pytest.approx(
        0.5 * (1 + math.cos(0.04 * math.pi))
    )
    assert max(lrs) == lrs[4] and all(a >= b for a, b in itertools.pairwise(lrs[4:]))
    assert lrs[-1] < 1e-3
