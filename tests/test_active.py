"""Active transfer selection: learning-curve bounds and the stopping rule on hand-made tables."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from taskonomy.affinity.table import Transfer
from taskonomy.errors import TaskonomyError
from taskonomy.pipeline.config import load_config
from taskonomy.pipeline.executors import InProcessExecutor
from taskonomy.pipeline.run import run_pipeline
from taskonomy.taxonomy.active import ActiveCheck, LearningCurveBounds, ranked_higher_sets

N = 40
T = "normal"
DEPTH = Transfer(("depth_zbuffer",), T)
SHADE = Transfer(("reshading",), T)
SELF = Transfer(("self",), T)


def _noisy(level: float, seed: int) -> np.ndarray:
    """Per-image losses around ``level`` (±1 %): no ties in the tournament."""
    return level * (1 + 0.01 * np.random.default_rng(seed).standard_normal(N))


def test_bounds_from_learning_curves_by_hand() -> None:
    # depth: probe 2.0 → full 1.0 (ratio 0.5); edge: probe 1.0 → full 1.1 (ratio 1.1).
    edge = Transfer(("edge_texture",), T)
    probes = {DEPTH: np.full(N, 2.0), edge: np.full(N, 1.0), SHADE: np.full(N, 4.0)}
    full = {DEPTH: np.full(N, 1.0), edge: np.full(N, 1.1)}
    curves = LearningCurveBounds(margin=0.5).fit(probes, full)
    assert curves.ratios_ == pytest.approx({DEPTH: 0.5, edge: 1.1})
    # optimistic: 1 - (1 - 0.5)·1.5 = 0.25; pessimistic: 1 + 0.1·1.5 = 1.15
    assert curves.factors_[T] == pytest.approx((0.25, 1.15))
    b = curves.bounds_[SHADE]
    assert set(curves.bounds_) == {SHADE}
    assert b.optimistic == pytest.approx(np.full(N, 1.0))
    assert b.pessimistic == pytest.approx(np.full(N, 4.6))
    assert b.probe == pytest.approx(np.full(N, 4.0))


def test_target_without_curves_gets_the_widest_bounds() -> None:
    curves = LearningCurveBounds().fit({SHADE: np.full(N, 3.0)}, {})
    b = curves.bounds_[SHADE]
    assert b.optimistic == pytest.approx(np.zeros(N))
    assert b.pessimistic.min() > 100 * 3.0


def _check(shade_probe: float) -> ActiveCheck:
    """normal's self network is poor (2.0), depth fully trained (1.0: probe 2.0, ratio 0.5,
    optimistic factor 0.25); reshading only probed at ``shade_probe``."""
    probes = {DEPTH: _noisy(2.0, 1), SHADE: _noisy(shade_probe, 2)}
    full = {DEPTH: _noisy(1.0, 3)}
    curves = LearningCurveBounds(margin=0.5).fit(probes, full)
    known = {T: ([DEPTH, SELF], np.vstack([full[DEPTH], _noisy(2.0, 4)]))}
    check = ActiveCheck(budgets=[1], orders=[1], targets=[T],
                        sources=["depth_zbuffer", "reshading", "normal"], max_order=1)  # fmt: skip
    return check.fit(known, curves.bounds_, {T: np.full(N, 10.0)})


def test_an_optimistic_bound_that_can_flip_the_policy_must_be_trained() -> None:
    # reshading probed at 3.0: optimistic 0.75 beats depth's 1.0 on every image, so the
    # budget-1 policy could train reshading instead of depth.
    check = _check(3.0)
    assert check.flips_ == {SHADE: "policy budget1_order1"}
    ((scratch, _choices),) = check.policies_.values()  # type: ignore[misc]
    assert scratch == ("depth_zbuffer",)  # at probe losses depth serves normal


def test_a_bound_that_cannot_flip_anything_is_skipped() -> None:
    # reshading probed at 5.0: optimistic 1.25 still loses to depth everywhere; it beats
    # self, which moves the affinities, but not the choice.
    check = _check(5.0)
    assert check.flips_ == {}
    assert check.completions_ == 2  # optimistic and pessimistic, one transfer
    assert check.missing_ == []


def test_a_pessimistic_bound_that_can_unseat_the_choice_must_be_trained() -> None:
    # depth got worse with full training (probe 1.0 → full 1.2): bounds ×1.0 and ×1.3.
    # reshading, probed at 1.0, serves normal at probe losses; at 1.3 it loses to depth.
    probes = {DEPTH: _noisy(1.0, 1), SHADE: _noisy(1.0, 2)}
    full = {DEPTH: 1.2 * probes[DEPTH]}
    curves = LearningCurveBounds(margin=0.5).fit(probes, full)
    assert curves.factors_[T] == pytest.approx((1.0, 1.3))
    known = {T: ([DEPTH, SELF], np.vstack([full[DEPTH], _noisy(2.0, 4)]))}
    check = ActiveCheck([1], [1], [T], ["depth_zbuffer", "reshading", "normal"], max_order=1)
    check.fit(known, curves.bounds_, {T: np.full(N, 10.0)})
    ((scratch, _choices),) = check.policies_.values()  # type: ignore[misc]
    assert scratch == ("reshading",)
    assert check.flips_ == {SHADE: "policy budget1_order1"}
    assert check.completions_ == 2  # the pessimistic move only (ranking, policies)


def test_ranking_flip_and_missing_higher_order_sets() -> None:
    # Seven sources into normal, six fully trained with distinct losses, one (edge_texture)
    # untrained: its bounds straddle the 5th place, so it can change the order-2 sets.
    names = ["autoencoding", "class_scene", "keypoints2d", "denoising", "depth_zbuffer",
             "edge_occlusion"]  # fmt: skip
    trs = [Transfer((s,), T) for s in names]
    full = {tr: _noisy(1.0 + 0.1 * i, i) for i, tr in enumerate(trs)}
    probes = {tr: 2 * full[tr] for tr in trs}  # every curve halves the loss
    edge = Transfer(("edge_texture",), T)
    probes[edge] = _noisy(2.8, 9)  # 1.4 at the same ratio; optimistic 0.7, probe 2.8
    curves = LearningCurveBounds(margin=0.5).fit(probes, full)
    known = {T: ([*trs, SELF], np.vstack([*full.values(), _noisy(3.0, 8)]))}
    check = ActiveCheck([1], [1], [T], [*names, "edge_texture", "normal"], max_order=2)
    check.fit(known, curves.bounds_, {T: np.full(N, 10.0)})
    assert check.flips_ == {edge: "ranking"}
    # at probe losses edge_texture ranks last: the order-2 sets of the five best
    assert check.ranking_[T] == list(ranked_higher_sets({tr: -i for i, tr in enumerate(trs)}, T, 2))
    assert ("edge_texture",) not in {s for p in check.ranking_[T] for s in [p[:1], p[1:]]}
    assert len(check.missing_) == 10  # C(5, 2) order-2 sets, none probed yet


def test_bounds_for_unknown_targets_are_refused() -> None:
    check = ActiveCheck([1], [1], [T], ["depth_zbuffer"], max_order=1)
    other = Transfer(("depth_zbuffer",), "reshading")
    curves = LearningCurveBounds().fit({other: np.ones(N)}, {})
    with pytest.raises(TaskonomyError, match="untrained transfers"):
        check.fit({T: ([SELF], np.ones((1, N)))}, curves.bounds_, {T: np.ones(N)})


def _policy_answers(taxonomies: dict[str, Any]) -> dict[str, Any]:
    """Each taxonomy's answer: the scratch set and every target's choice (or the error)."""
    return {
        name: rec.get("error") or (sorted(rec["scratch"]), {t: (c["kind"], c["sources"])
                                   for t, c in sorted(rec["policy"].items())})
        for name, rec in taxonomies.items()
    }  # fmt: skip


def test_active_selection_matches_all_on_the_tiny_run(
    tmp_path: Path, tiny_run: tuple[Path, Any], tiny_config: dict[str, Any]
) -> None:
    reference, full_run = tiny_run
    out = tmp_path / "active"
    shutil.copytree(reference, out)  # the networks are cached; transfers get new keys
    cfg = load_config(
        overrides={**tiny_config, "transfer": {**tiny_config["transfer"], "selection": "active"}}
    )
    result = run_pipeline(cfg, out, executor=InProcessExecutor())
    assert _policy_answers(result.taxonomies) == _policy_answers(full_run.taxonomies)
    record = json.loads((out / "tables" / "selection.json").read_text())
    rows = record["transfers"]
    in_tables = [r for r in rows if r["in_tables"]]
    # the same transfers as the full run's tables, each either trained or probed and why
    assert {r["transfer"] for r in in_tables} == {
        str(tr) for tr in full_run.affinities if not tr.is_self
    }
    assert all(r["why"] for r in rows)
    assert {r["status"] for r in rows} <= {"full", "probe"}
    skipped = [r for r in in_tables if r["status"] == "probe"]
    assert all(r["why"].startswith("no completion") for r in skipped)
    assert all(r["optimistic_loss"] <= r["probe_loss"] <= r["pessimistic_loss"] for r in skipped)
    assert record["compute"]["units"] > 0 and record["rounds"][-1]["flips"] == 0
    steps = {r["status"]: r["steps"] for r in rows}
    assert steps.get("probe", 1) == 1 and steps.get("full", 10) == 10  # 1/8 of 10, rounded
    assert all((r["full_loss"] is None) == (r["status"] == "probe") for r in rows)


def test_selection_is_no_job_param(tiny_config: dict[str, Any]) -> None:
    from taskonomy.pipeline.run import Plan

    def keys(selection: str) -> set[str]:
        cfg = load_config(
            overrides={
                **tiny_config,
                "transfer": {
                    **tiny_config["transfer"],
                    "selection": selection,
                    "active": {"margin": 1.0},
                },
            }
        )
        return {job.key for job in Plan(cfg).first_order().values()}

    assert keys("all") == keys("active")


@pytest.mark.parametrize(
    ("active", "match"),
    [({"probe_fraction": 1.0}, "probe_fraction"), ({"margin": -1}, "margin"),
     ({"initial": 0}, "initial"), ({"rounds": 3}, "rounds"), ({"groups": "all"}, "groups")],
)  # fmt: skip
def test_bad_active_settings_name_the_key(
    tiny_config: dict[str, Any], active: dict[str, Any], match: str
) -> None:
    with pytest.raises(TaskonomyError, match=match):
        load_config(overrides={**tiny_config, "transfer": {"active": active}})


def _full_transfer_jobs(run: Path, steps: int) -> set[str]:
    """Keys of the run's transfer jobs trained for ``steps``."""
    keys = set()
    for d in (run / "jobs" / "transfer").iterdir():
        record = json.loads((d / "job.json").read_text())
        if record["params"]["transfer"]["steps"] == steps:
            keys.add(d.name)
    return keys


def test_whole_groups_reuse_the_jobs_of_all(
    tmp_path: Path, tiny_run: tuple[Path, Any], tiny_config: dict[str, Any]
) -> None:
    reference, full_run = tiny_run
    out = tmp_path / "whole"
    shutil.copytree(reference, out)
    before = _full_transfer_jobs(out, 10)
    transfer = {**tiny_config["transfer"], "selection": "active", "active": {"groups": "whole"}}
    result = run_pipeline(load_config(overrides={**tiny_config, "transfer": transfer}), out,
                          executor=InProcessExecutor())  # fmt: skip
    # every full training is one of the `all` run's own jobs: nothing new at full steps
    assert _full_transfer_jobs(out, 10) == before
    assert _policy_answers(result.taxonomies) == _policy_answers(full_run.taxonomies)
    rows = json.loads((out / "tables" / "selection.json").read_text())["transfers"]
    assert any(r["why"].startswith("group of ") for r in rows)


def test_active_selection_refuses_the_estimate_stage(tiny_config: dict[str, Any]) -> None:
    with pytest.raises(TaskonomyError, match="estimate needs selection: all"):
        load_config(overrides={**tiny_config, "transfer": {"selection": "active",
                                                           "estimate": True}})  # fmt: skip
