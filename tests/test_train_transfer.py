from __future__ import annotations

import copy

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
    # ... and after the same minibatches and optimizer steps.
    hp = {"steps": 6, "batch_size": 8, "lr": 1e-2, "seed": 5, "log_every": 3}
    data = {**batch, "reps": torch.cat(reps, dim=1)}
    fit(stacked, lambda b: stacked.per_model_loss(stacked(b["reps"]), b).sum(0), data, **hp)
    for i, ro in enumerate(separate):
        fit(ro, lambda b, ro=ro: ro.loss(ro(b["reps"]), b), {**batch, "reps": reps[i]}, **hp)
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
