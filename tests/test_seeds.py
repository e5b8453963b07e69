"""One seed policy: seeds follow (run seed, role, names), never hyperparameters."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from taskonomy.data.bank import Bank
from taskonomy.pipeline.config import load_config
from taskonomy.pipeline.run import Plan
from taskonomy.pipeline.stages import network_seeds_of
from taskonomy.seeds import derived_seed
from taskonomy.train.network import Architecture, init_task_network
from taskonomy.transfer.fit import minibatch_seed, transfer_seed

BASE: dict[str, Any] = {
    "seed": 3,
    "tasks": ["depth_zbuffer", "normal", "class_scene"],
    "data": {"scenes": 12, "views": 3, "size": 16},
    "model": {"width": 8, "bottleneck_channels": 8},
    "train": {"steps": 400, "lr": 2e-3},
}


def _plan(**over: Any) -> Plan:
    cfg = {**BASE, **over}
    cfg["train"] = {**BASE["train"], **over.get("train", {})}
    return Plan(load_config(overrides=cfg))


def test_derived_seed_depends_on_seed_role_and_names_only() -> None:
    s = derived_seed(0, "train-init", "normal")
    assert s == derived_seed(0, "train-init", "normal")  # deterministic
    assert 0 <= s < 2**32
    others = {
        derived_seed(1, "train-init", "normal"),
        derived_seed(0, "pixels-init", "normal"),
        derived_seed(0, "train-batches", "normal"),
        derived_seed(0, "train-init", "depth_zbuffer"),
        derived_seed(0, "transfer-init", "normal", "depth_zbuffer"),
    }
    assert s not in others and len(others) == 5
    # Order of sources and the join are part of the name: ("a", "bc") != ("ab", "c").
    assert derived_seed(0, "r", "a", "bc") != derived_seed(0, "r", "ab", "c")


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Bank:
    from taskonomy.data.generate import generate_bank

    out = tmp_path_factory.mktemp("seeds") / "bank"
    return Bank(generate_bank(out, scenes=6, views=3, size=16, seed=0, progress=False))


def _initial(plan: Plan, kind: str, task: str, bank: Bank) -> dict[str, torch.Tensor]:
    job = (plan.train if kind == "train" else plan.pixels)[task]
    seeds = network_seeds_of(job)
    arch = Architecture(width=8, bottleneck_channels=8)
    encoder = None if kind == "train" else "pixels"
    return init_task_network(task, bank, arch, seeds.init, encoder).state_dict()


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("change", [{"train": {"steps": 401}}, {"train": {"lr": 3e-3}}])
def test_a_hyperparameter_change_keeps_the_initial_weights(
    bank: Bank, change: dict[str, Any]
) -> None:
    base, other = _plan(), _plan(**change)
    assert base.train["normal"].key != other.train["normal"].key  # a different job ...
    for task in ("normal", "class_scene"):  # ... starting from the same weights
        assert network_seeds_of(base.train[task]) == network_seeds_of(other.train[task])
        assert _same(_initial(base, "train", task, bank), _initial(other, "train", task, bank))


def test_a_seed_change_redraws_the_initial_weights(bank: Bank) -> None:
    base, other = _plan(), _plan(seed=4)
    assert not _same(_initial(base, "train", "normal", bank),
                     _initial(other, "train", "normal", bank))  # fmt: skip
    assert network_seeds_of(base.train["normal"]).batches != (
        network_seeds_of(other.train["normal"]).batches
    )
    # Roles and tasks draw apart too: the pixels network is not the task network's twin.
    assert network_seeds_of(base.pixels["normal"]) != network_seeds_of(base.train["normal"])
    assert network_seeds_of(base.train["normal"]) != network_seeds_of(base.train["class_scene"])


def test_transfer_seeds_ignore_hyperparameters_and_grouping() -> None:
    # A transfer's seed names only the run seed, its target and its sources.
    assert transfer_seed(3, "normal", ["depth_zbuffer"]) == derived_seed(
        3, "transfer-init", "normal", "depth_zbuffer"
    )
    assert transfer_seed(3, "normal", ["a"]) != transfer_seed(4, "normal", ["a"])
    assert minibatch_seed(3, "normal") != minibatch_seed(3, "depth_zbuffer")
