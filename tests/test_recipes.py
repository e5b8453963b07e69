"""The train/ and transfer/ recipes, called with plain arguments (no job, no pipeline)."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from taskonomy.data.bank import Bank
from taskonomy.train.network import Architecture, holdout, mean_label_guess
from taskonomy.train.tensors import MASK, load_labels, sample_views

SRC = Path(__file__).resolve().parents[1] / "src" / "taskonomy"


def test_recipes_do_not_import_the_pipeline() -> None:
    # pipeline/ sits downstream of train/ and transfer/: imports point down the flow only.
    files = [*(SRC / "train").glob("*.py"), *(SRC / "transfer").glob("*.py"), SRC / "seeds.py"]
    bad: list[str] = []
    for f in files:
        for node in ast.walk(ast.parse(f.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            bad += [f"{f.name}: {n}" for n in names if n.startswith(("taskonomy.pipeline",
                                                                    "taskonomy.cli"))]  # fmt: skip
    assert len(files) >= 6 and not bad


def test_mean_label_guess_by_hand() -> None:
    # Classes: log of the label frequencies (0.5, 0.25, 0.25, 0) over 4 scene classes.
    lab = {"class_scene": torch.tensor([0, 0, 1, 2])}
    got = mean_label_guess("class_scene", lab, {"n_scene_classes": 4})
    want = torch.log(torch.tensor([0.5, 0.25, 0.25, 0.0]) + 1e-6)
    torch.testing.assert_close(got, want)
    # Masked L1: the per-pixel (lower) median over valid pixels only (0 where none is);
    # any value in [1, 3] minimizes the L1 loss of the labels 1 and 3.
    y = torch.tensor([[[[1.0, 2.0]]], [[[3.0, 4.0]]]])  # (N=2, 1, 1, 2)
    m = torch.tensor([[[[True, False]]], [[[True, False]]]])
    got = mean_label_guess("depth_zbuffer", {"depth_zbuffer": y, MASK: m}, {})
    torch.testing.assert_close(got, torch.tensor([[[1.0, 0.0]]]))


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Bank:
    from taskonomy.data.generate import generate_bank

    out = tmp_path_factory.mktemp("recipes") / "bank"
    return Bank(generate_bank(out, scenes=14, views=3, size=16, seed=1, progress=False))


def test_holdout_keeps_whole_scenes_out(bank: Bank) -> None:
    labels = load_labels(bank, "depth_zbuffer", "large")
    n = labels["depth_zbuffer"].shape[0]
    data = {**labels, "i": torch.arange(n)}
    train, val = holdout(bank, "depth_zbuffer", data, "large", fraction=0.25)
    views, _ = sample_views(bank, "depth_zbuffer", "large")
    scene = bank.scene_of_view(views)
    train_scenes, val_scenes = set(scene[train["i"]]), set(scene[val["i"]])
    assert not train_scenes & val_scenes  # no scene on both sides
    assert len(val_scenes) == max(1, round(0.25 * len(set(scene))))
    assert len(train["i"]) + len(val["i"]) == n


@pytest.mark.parametrize("target", ["depth_zbuffer", "class_scene"])
def test_fit_transfers_stacked_equals_one_by_one(bank: Bank, target: str) -> None:
    # float64 (readouts are built in the default dtype), so that summation order (grouped
    # vs single kernels), amplified by Adam on near-zero gradients, cannot blur the check.
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    try:
        _check_fit_transfers(bank, target)
    finally:
        torch.set_default_dtype(torch.float32)


def test_fit_transfers_of_mixed_widths_stack_by_width(bank: Bank) -> None:
    # Outside encoders bring their own channel counts: equal widths stack together, and
    # the result is still what training them one by one gives.
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    try:
        _check_fit_transfers(bank, "depth_zbuffer", {"a": 4, "b": 6, "c": 4})
    finally:
        torch.set_default_dtype(torch.float32)


def _check_fit_transfers(bank: Bank, target: str, widths: dict[str, int] | None = None) -> None:
    from taskonomy.transfer.fit import TransferParams, fit_transfers

    g = torch.Generator().manual_seed(0)
    sets = [["a"], ["b"], ["c"]]
    width = widths or dict.fromkeys("abc", 4)
    n = {s: sample_views(bank, target, s)[0].shape[0] for s in ("small", "test")}
    reps = {s: {k: torch.randn(n[s], width[k], 1, 1, generator=g) for k in "abc"} for s in n}
    labels = {s: load_labels(bank, target, s) for s in n}
    arch = Architecture(width=8, bottleneck_channels=4, decoder_width=8)
    params = TransferParams(steps=12, batch_size=8, lr=1e-2)
    out = {}
    for mode in ("always", "never"):
        mode_params = TransferParams(params.steps, params.batch_size, params.lr, mode)
        # No early stopping: on random representations it would keep every guess-started
        # transfer at step 0, and then all losses agree trivially.
        out[mode] = fit_transfers(
            target, sets, reps, labels, bank, arch, mode_params, seed=5, val_fraction=0.0
        )
    stacked, separate = out["always"], out["never"]
    assert stacked.stacked and not separate.stacked
    assert stacked.losses.shape == (3, n["test"]) and torch.isfinite(stacked.losses).all()
    torch.testing.assert_close(stacked.losses, separate.losses, rtol=1e-7, atol=1e-9)
    groups = len(set(width.values()))
    assert sorted(stacked.modules) == (["readouts"] if groups == 1 else ["readouts0", "readouts1"])
    assert sorted(separate.modules) == ["readout0", "readout1", "readout2"]
    assert stacked.best_steps == separate.best_steps == [params.steps] * 3  # no validation
    # The same seed gives the same transfers; the losses are not all equal across sets.
    again = fit_transfers(target, sets, reps, labels, bank, arch, params, seed=5)
    assert torch.equal(again.losses, fit_transfers(target, sets, reps, labels, bank, arch,
                                                   params, seed=5).losses)  # fmt: skip
    assert all(0 <= s <= params.steps for s in again.best_steps)  # early-stopped
    means = stacked.losses.mean(1)
    assert not math.isclose(float(means[0]), float(means[1]))
    assert np.isfinite(stacked.compute_seconds) and stacked.compute_seconds >= 0
