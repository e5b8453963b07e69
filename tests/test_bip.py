"""The supervision-budget BIP against a brute-force oracle, the published 2018 table, errors."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from taskonomy.affinity import Transfer, TransferTable, read_table
from taskonomy.errors import TaskonomyError
from taskonomy.tasks import list_tasks
from taskonomy.taxonomy.bip import FORMULATIONS, TaxonomyBIP, solve
from taskonomy.taxonomy.policy import Policy

TASKS = [t for t in list_tasks() if t != "random"]


# ---- a brute-force oracle, written from the problem statement ------------------------------
def oracle(
    table: TransferTable,
    budget: float,
    max_order: int | None,
    targets: Sequence[str],
    sources: Sequence[str],
    importance: Mapping[str, float],
    cost: Mapping[str, float],
) -> float | None:
    """Best Σ importance·affinity over every trained set within budget (None: infeasible).

    For a trained set Y each target takes its best transfer whose sources are all in Y or
    ``random`` when ``sources`` lists it (with every source in ``sources``, order ≤ max_order,
    no ``pixels``), or its ``self`` edge when it is in ``sources`` and in Y.
    """
    free = {"random"} & set(sources)  # a given source list is respected
    trainable = sorted(set(sources) - {"random"})
    best: float | None = None
    for k in range(len(trainable) + 1):
        for ys in itertools.combinations(trainable, k):
            y = set(ys)
            if sum(cost.get(s, 1.0) for s in y) > budget + 1e-9:
                continue
            total = 0.0
            for t in targets:
                vals = []
                for tr, v in table.for_target(t).items():
                    if tr.is_self:
                        if t in y:
                            vals.append(v)
                    elif (
                        "pixels" not in tr.sources
                        and (max_order is None or tr.order <= max_order)
                        and all(s in free or s in y for s in tr.sources)
                    ):
                        vals.append(v)
                if not vals:
                    break
                total += importance.get(t, 1.0) * max(vals)
            else:
                best = total if best is None else max(best, total)
    return best


def assert_feasible(
    pol: Policy,
    table: TransferTable,
    budget: float,
    max_order: int | None,
    targets: Sequence[str],
    sources: Sequence[str],
    importance: Mapping[str, float],
    cost: Mapping[str, float],
) -> None:
    """The policy obeys every constraint and its objective is what its choices score."""
    scratch = set(pol.scratch)
    assert scratch <= set(sources) - {"random"}
    assert sum(cost.get(s, 1.0) for s in scratch) <= budget + 1e-9
    assert set(pol.choices) == set(targets)
    total = 0.0
    for t, ch in pol.choices.items():
        if ch.kind == "scratch":
            assert ch.sources == (t,)
            assert t in scratch
            assert ch.affinity == table[Transfer(("self",), t)]
        else:
            tr = Transfer(ch.sources, t)
            assert tr in table
            assert ch.affinity == table[tr]
            assert "pixels" not in ch.sources
            assert max_order is None or tr.order <= max_order
            assert all(s in scratch or (s == "random" in sources) for s in ch.sources)
        total += importance.get(t, 1.0) * ch.affinity
    assert pol.objective == pytest.approx(total, abs=1e-12)


def random_instance(rng: np.random.Generator) -> dict[str, object]:
    """A small random instance with source-only and target-only tasks, ties and noise."""
    n = int(rng.integers(4, 7))
    tasks = [str(t) for t in rng.choice(TASKS, size=n, replace=False)]
    n_t = int(rng.integers(1, n + 1))
    targets = tasks[:n_t]
    # most tasks are sources; some targets are not (novel tasks), some sources are not targets
    sources = [t for t in tasks if rng.random() < 0.75]
    if rng.random() < 0.5:
        sources.append("random")
    pool = [*tasks, "random"]
    values: dict[Transfer, float] = {}
    for t in targets:
        if rng.random() < 0.9:
            values[Transfer(("self",), t)] = float(rng.random())
        if rng.random() < 0.5:
            values[Transfer(("random",), t)] = float(rng.random() * 0.3)
        if rng.random() < 0.3:
            values[Transfer.of(["pixels"], t)] = 2.0  # a baseline: never a candidate
        for _ in range(int(rng.integers(2, 14))):
            k = int(rng.integers(1, 4))
            srcs = [str(s) for s in rng.choice(pool, size=min(k, len(pool)), replace=False)]
            # coarse values so that ties happen often; higher orders tend to score higher,
            # which makes the LP relaxation fractional (the MIP must branch)
            values[Transfer.of(srcs, t)] = float(np.round(rng.random() * (0.5 + k / 3), 1))
    cost = {s: float(rng.choice([0.0, 0.5, 1.0, 1.0, 2.0])) for s in tasks}
    importance = {t: float(rng.choice([0.0, 0.5, 1.0, 2.0])) for t in targets}
    orders: list[int | None] = [1, 2, 3, None]
    return {
        "table": TransferTable(values),
        "budget": float(rng.choice([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0])),
        "max_order": orders[int(rng.integers(0, 4))],
        "targets": targets,
        "sources": sources,
        "importance": importance,
        "cost": cost,
    }


def fit(inst: dict[str, object], formulation: str = "reduced") -> TaxonomyBIP:
    return TaxonomyBIP(
        inst["budget"],  # type: ignore[arg-type]
        inst["max_order"],  # type: ignore[arg-type]
        targets=inst["targets"],  # type: ignore[arg-type]
        sources=inst["sources"],  # type: ignore[arg-type]
        importance=inst["importance"],  # type: ignore[arg-type]
        label_cost=inst["cost"],  # type: ignore[arg-type]
        formulation=formulation,
    ).fit(inst["table"])  # type: ignore[arg-type]


def check_against_oracle(inst: dict[str, object], formulation: str) -> TaxonomyBIP | None:
    """Assert the solver matches the oracle; return the fitted model (None: infeasible)."""
    want = oracle(
        inst["table"],  # type: ignore[arg-type]
        inst["budget"],  # type: ignore[arg-type]
        inst["max_order"],  # type: ignore[arg-type]
        inst["targets"],  # type: ignore[arg-type]
        inst["sources"],  # type: ignore[arg-type]
        inst["importance"],  # type: ignore[arg-type]
        inst["cost"],  # type: ignore[arg-type]
    )
    if want is None:
        with pytest.raises(TaskonomyError, match=r"too small|no candidate"):
            fit(inst, formulation)
        return None
    m = fit(inst, formulation)
    assert m.objective_ == pytest.approx(want, abs=1e-9)
    assert m.status_ == "optimal"
    assert_feasible(
        m.policy_,
        inst["table"],  # type: ignore[arg-type]
        inst["budget"],  # type: ignore[arg-type]
        inst["max_order"],  # type: ignore[arg-type]
        inst["targets"],  # type: ignore[arg-type]
        inst["sources"],  # type: ignore[arg-type]
        inst["importance"],  # type: ignore[arg-type]
        inst["cost"],  # type: ignore[arg-type]
    )
    return m


def test_matches_brute_force_on_200_random_instances() -> None:
    rng = np.random.default_rng(20180618)
    fitted = [check_against_oracle(random_instance(rng), "reduced") for _ in range(200)]
    solved = [m for m in fitted if m is not None]
    # the generator must exercise every path: infeasible instances, answers read off an
    # integral LP relaxation, and answers that needed the MIP
    assert 100 <= len(solved) < 200
    assert sum(m.lp_integral_ for m in solved) >= 50
    assert sum(m.n_modelled_ > 0 and not m.lp_integral_ for m in solved) >= 5


@pytest.mark.parametrize("formulation", sorted(set(FORMULATIONS) - {"reduced"}))
def test_every_formulation_matches_brute_force(formulation: str) -> None:
    rng = np.random.default_rng(7)
    for _ in range(40):
        check_against_oracle(random_instance(rng), formulation)


# ---- hand-checkable cases ------------------------------------------------------------------
def small_table() -> TransferTable:
    """Two targets (normal, reshading) and a source-only task (jigsaw)."""
    v = {
        Transfer(("self",), "normal"): 0.5,
        Transfer(("self",), "reshading"): 0.6,
        Transfer(("random",), "normal"): 0.05,
        Transfer(("random",), "reshading"): 0.04,
        Transfer(("jigsaw",), "normal"): 0.3,
        Transfer(("jigsaw",), "reshading"): 0.35,
        Transfer(("normal",), "reshading"): 0.45,
        Transfer(("reshading",), "normal"): 0.2,
        Transfer(("jigsaw", "random"), "normal"): 0.32,
        Transfer(("pixels",), "normal"): 0.9,
    }
    return TransferTable(v)


def test_hand_checked_budgets() -> None:
    tab = small_table()
    # budget 0: only random transfers
    m = TaxonomyBIP(0).fit(tab)
    assert m.objective_ == pytest.approx(0.05 + 0.04)
    assert m.scratch_ == ()
    assert m.policy_.choices["normal"].sources == ("random",)
    # budget 1: train normal (0.5 + 0.45 = 0.95) beats reshading (0.6 + 0.2) and jigsaw
    # (0.32 via jigsaw+random, + 0.35 = 0.67)
    m = TaxonomyBIP(1).fit(tab)
    assert m.objective_ == pytest.approx(0.95)
    assert m.scratch_ == ("normal",)
    assert m.policy_.choices["normal"].kind == "scratch"
    assert m.policy_.choices["normal"].sources == ("normal",)
    assert m.policy_.choices["reshading"].sources == ("normal",)
    # budget 2: both trained from scratch
    m = TaxonomyBIP(2).fit(tab)
    assert m.objective_ == pytest.approx(1.1)
    assert m.scratch_ == ("normal", "reshading")
    # pixels (0.9 into normal) is never used, whatever the budget
    assert all("pixels" not in c.sources for c in m.policy_.choices.values())


def test_random_plus_source_needs_only_the_source() -> None:
    tab = small_table()
    m = TaxonomyBIP(1, sources=["jigsaw", "random"]).fit(tab)
    # normal and reshading are novel here; jigsaw is the only trainable task
    assert m.scratch_ == ("jigsaw",)
    assert m.policy_.choices["normal"].sources == ("jigsaw", "random")
    assert m.objective_ == pytest.approx(0.32 + 0.35)
    # with max order 1 the order-2 transfer (random counts) is not allowed
    m = TaxonomyBIP(1, max_order=1, sources=["jigsaw"]).fit(tab)
    assert m.policy_.choices["normal"].sources == ("jigsaw",)


def test_importance_and_label_cost_change_the_answer() -> None:
    tab = small_table()
    m = TaxonomyBIP(1, importance={"reshading": 10.0}).fit(tab)
    assert m.scratch_ == ("reshading",)
    assert m.objective_ == pytest.approx(10 * 0.6 + 0.2)
    # normal costs 2: with budget 1.5 the best is reshading (0.6 + 0.2)
    m = TaxonomyBIP(1.5, label_cost={"normal": 2.0}).fit(tab)
    assert m.scratch_ == ("reshading",)
    assert m.label_cost_ == 1.0
    # a free task is always available
    m = TaxonomyBIP(0, label_cost={"jigsaw": 0}).fit(tab)
    assert m.scratch_ == ("jigsaw",)
    assert m.objective_ == pytest.approx(0.32 + 0.35)


def test_self_wins_a_tie_with_the_same_task_as_source() -> None:
    v = {
        Transfer(("self",), "normal"): 0.4,
        Transfer(("normal",), "normal"): 0.4,
        Transfer(("random",), "normal"): 0.1,
    }
    m = TaxonomyBIP(1).fit(TransferTable(v))
    assert m.policy_.choices["normal"].kind == "scratch"
    # the transfer t → t is legal and needs t trained
    v[Transfer(("normal",), "normal")] = 0.5
    m = TaxonomyBIP(1).fit(TransferTable(v))
    ch = m.policy_.choices["normal"]
    assert (ch.kind, ch.sources, ch.affinity) == ("transfer", ("normal",), 0.5)
    assert m.scratch_ == ("normal",)


def test_2018_names_in_and_canonical_names_out() -> None:
    v = {
        Transfer.of(["self"], "rgb2depth"): 0.6,
        Transfer.of(["rgb2sfnorm"], "rgb2depth"): 0.3,
        Transfer.of(["self"], "rgb2sfnorm"): 0.7,
        Transfer.of(["rgb2depth"], "rgb2sfnorm"): 0.2,
    }
    pol = solve(
        TransferTable(v),
        1,
        targets=["rgb2depth", "rgb2sfnorm"],
        sources=["rgb2sfnorm", "rgb2depth"],
        importance={"rgb2depth": 1.0},
    )
    assert set(pol.choices) == {"depth_zbuffer", "normal"}
    assert pol.scratch == ("normal",)
    assert pol.choices["depth_zbuffer"].sources == ("normal",)
    assert pol.objective == pytest.approx(1.0)


def test_solve_returns_the_estimator_policy() -> None:
    tab = small_table()
    pol = solve(tab, 1, max_order=2)
    m = TaxonomyBIP(1, 2).fit(tab)
    assert pol.objective == m.objective_
    assert pol.scratch == m.scratch_
    assert pol.choices == m.policy_.choices
    assert pol.to_json()["policy"]["reshading"]["sources"] == ["normal"]


# ---- the published 2018 table -------------------------------------------------------------
@pytest.fixture(scope="module")
def published(published_dir: Path) -> TransferTable:
    return read_table(published_dir / "affinities" / "all_affinities_16k.pkl")


def test_published_ample_budget_first_order_takes_each_target_maximum(
    published: TransferTable,
) -> None:
    targets = published.targets()
    m = TaxonomyBIP(len(targets), max_order=1).fit(published)
    want = 0.0
    for t in targets:
        first = {tr: v for tr, v in published.for_target(t).items() if tr.order == 1}
        best = max(first.values())
        want += best
        ch = m.policy_.choices[t]
        assert ch.affinity == best
        assert ch.kind == "scratch" or len(ch.sources) == 1
    assert m.objective_ == pytest.approx(want, abs=1e-12)


def test_published_objective_is_monotone_in_budget_and_order(published: TransferTable) -> None:
    orders: list[int | None] = [1, 2, 3, 4, None]
    grid = {(o, b): TaxonomyBIP(b, o).fit(published) for o in orders for b in range(0, 27, 2)}
    for o in orders:
        objs = [grid[o, b].objective_ for b in range(0, 27, 2)]
        assert all(a <= b + 1e-12 for a, b in itertools.pairwise(objs))
        for b in range(0, 27, 2):
            assert grid[o, b].label_cost_ <= b
    for b in range(0, 27, 2):
        objs = [grid[o, b].objective_ for o in orders]
        assert all(a <= c + 1e-12 for a, c in itertools.pairwise(objs))
    # more budget helps strictly somewhere, so the test can fail if the budget is ignored
    assert grid[None, 26].objective_ > grid[None, 2].objective_ > grid[None, 0].objective_


def test_published_budget_zero_uses_only_random(published: TransferTable) -> None:
    m = TaxonomyBIP(0).fit(published)
    assert m.scratch_ == ()
    for t, ch in m.policy_.choices.items():
        assert ch.sources == ("random",)
        assert ch.affinity == published[Transfer(("random",), t)]
    want = sum(published[Transfer(("random",), t)] for t in published.targets())
    assert m.objective_ == pytest.approx(want, abs=1e-12)


def test_published_subproblem_matches_brute_force(published: TransferTable) -> None:
    targets = ["normal", "depth_zbuffer", "class_object", "edge_texture", "room_layout"]
    sources = ["normal", "reshading", "class_scene", "jigsaw", "edge_texture", "keypoints3d"]
    imp = {"class_object": 2.0}
    for budget, order in [(1, 2), (2, 2), (3, 3), (2, None)]:
        want = oracle(published, budget, order, targets, sources, imp, {})
        m = TaxonomyBIP(budget, order, targets, sources, importance=imp).fit(published)
        assert want is not None
        assert m.objective_ == pytest.approx(want, abs=1e-12)
        assert_feasible(m.policy_, published, budget, order, targets, sources, imp, {})


# ---- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("budget", [-1, -0.5, math.nan, math.inf, "3", True, None])
def test_bad_budget(budget: object) -> None:
    with pytest.raises(TaskonomyError, match="budget"):
        TaxonomyBIP(budget).fit(small_table())  # type: ignore[arg-type]


@pytest.mark.parametrize("max_order", [0, -2, 1.5, True, "2"])
def test_bad_max_order(max_order: object) -> None:
    with pytest.raises(TaskonomyError, match="max_order"):
        TaxonomyBIP(1, max_order).fit(small_table())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kw",
    [
        {"targets": ["not_a_task"]},
        {"sources": ["normal", "not_a_task"]},
        {"importance": {"not_a_task": 1.0}},
        {"label_cost": {"not_a_task": 1.0}},
    ],
)
def test_unknown_task_names_are_listed(kw: dict[str, object]) -> None:
    with pytest.raises(TaskonomyError, match=r"not_a_task.*one of: .*normal"):
        TaxonomyBIP(1, **kw).fit(small_table())  # type: ignore[arg-type]


def test_other_bad_inputs() -> None:
    tab = small_table()
    with pytest.raises(TaskonomyError, match="no transfer into it"):
        TaxonomyBIP(1, targets=["depth_zbuffer"]).fit(tab)
    with pytest.raises(TaskonomyError, match="importance"):
        TaxonomyBIP(1, importance={"normal": -1.0}).fit(tab)
    with pytest.raises(TaskonomyError, match="per target"):
        TaxonomyBIP(1, importance={"jigsaw": 1.0}).fit(tab)
    with pytest.raises(TaskonomyError, match="label_cost"):
        TaxonomyBIP(1, label_cost={"normal": math.nan}).fit(tab)
    with pytest.raises(TaskonomyError, match="random"):
        TaxonomyBIP(1, label_cost={"random": 1.0}).fit(tab)
    with pytest.raises(TaskonomyError, match="formulation"):
        TaxonomyBIP(1, formulation="fastest").fit(tab)
    with pytest.raises(TaskonomyError, match="optimality"):
        TaxonomyBIP(1, highs_options={"mip_rel_gap": 0.1}).fit(tab)
    with pytest.raises(TaskonomyError, match="HiGHS option"):
        TaxonomyBIP(1, highs_options={"no_such_option": 1}).fit(tab)
    with pytest.raises(TaskonomyError, match="baseline"):
        TaxonomyBIP(1, sources=["pixels"]).fit(tab)
    with pytest.raises(TaskonomyError, match="time_limit"):
        TaxonomyBIP(1, time_limit=0).fit(tab)
    wins = TransferTable(dict(tab), kind="wins_vs_self")
    with pytest.raises(TaskonomyError, match="affinity"):
        TaxonomyBIP(1).fit(wins)


def test_target_without_candidates_is_named_with_the_reason() -> None:
    tab = small_table()
    # normal is not a source (cannot be trained) and only order ≤ 1 from {jigsaw}... but the
    # random edge remains; drop it with a table that has none.
    v = {tr: x for tr, x in tab.items() if "random" not in tr.sources}
    with pytest.raises(TaskonomyError) as err:
        TaxonomyBIP(5, targets=["normal"], sources=["edge_texture"]).fit(TransferTable(v))
    msg = str(err.value)
    assert "'normal'" in msg
    assert "not in sources" in msg
    assert "cannot be trained" in msg
    assert "jigsaw" in msg  # names the missing sources


def test_max_order_too_low_is_explained() -> None:
    v = {
        Transfer(("normal", "reshading"), "depth_zbuffer"): 0.5,
        Transfer(("self",), "normal"): 0.5,
        Transfer(("self",), "reshading"): 0.5,
    }
    with pytest.raises(TaskonomyError, match=r"'depth_zbuffer'.*order ≤ 1.*1 exceed max_order"):
        TaxonomyBIP(5, max_order=1).fit(TransferTable(v))
    # with order 2 it is served by both sources
    m = TaxonomyBIP(2, max_order=2).fit(TransferTable(v))
    assert m.policy_.choices["depth_zbuffer"].sources == ("normal", "reshading")


def test_budget_too_small_names_the_minimum_budget_and_targets() -> None:
    # two targets served by one shared source: the minimum budget is 1 (train jigsaw), not 2
    v = {
        Transfer(("self",), "normal"): 0.5,
        Transfer(("self",), "reshading"): 0.5,
        Transfer(("jigsaw",), "normal"): 0.2,
        Transfer(("jigsaw",), "reshading"): 0.2,
    }
    with pytest.raises(TaskonomyError) as err:
        TaxonomyBIP(0.5).fit(TransferTable(v))
    msg = str(err.value)
    assert "budget 0.5 is too small" in msg
    assert "at least 1 " in msg
    assert "jigsaw" in msg
    assert "normal" in msg and "reshading" in msg
    # with label costs the minimum is the cheapest cover: jigsaw (3) vs normal+reshading (1+1)
    with pytest.raises(TaskonomyError, match="at least 2 "):
        TaxonomyBIP(1.5, label_cost={"jigsaw": 3.0}).fit(TransferTable(v))
    assert TaxonomyBIP(1).fit(TransferTable(v)).scratch_ == ("jigsaw",)


def test_time_limit_is_never_a_silent_answer(published: TransferTable) -> None:
    # 'paper' has a weak relaxation; a microscopic limit cannot be met on this instance
    with pytest.raises(TaskonomyError, match="time limit"):
        TaxonomyBIP(5, None, time_limit=1e-6, formulation="paper").fit(published)


def test_explicit_sources_are_respected_random_only_when_listed() -> None:
    # random -> t is the best transfer; normal -> t is worse but needs a trained source.
    table = TransferTable(
        {
            Transfer.of(["random"], "reshading"): 0.5,
            Transfer.of(["normal"], "reshading"): 0.3,
            Transfer.of(["self"], "reshading"): 0.2,
            Transfer.of(["self"], "normal"): 1.0,
        }
    )
    kw = {"budget": 1.0, "max_order": 1, "targets": ["reshading"]}
    default = TaxonomyBIP(**kw).fit(table).policy_  # type: ignore[arg-type]
    assert default.choices["reshading"].sources == ("random",)  # free, in the default
    given = TaxonomyBIP(sources=["normal"], **kw).fit(table).policy_  # type: ignore[arg-type]
    assert given.choices["reshading"].sources == ("normal",) and given.scratch == ("normal",)
    listed = TaxonomyBIP(sources=["normal", "random"], **kw).fit(table).policy_  # type: ignore[arg-type]
    assert listed.choices["reshading"].sources == ("random",)
    # budget 0: random alone would serve it, but random is not listed
    with pytest.raises(TaskonomyError, match="budget 0 is too small"):
        TaxonomyBIP(budget=0.0, max_order=1, targets=["reshading"], sources=["normal"]).fit(table)
    only_random = TransferTable({Transfer.of(["random"], "reshading"): 1.0})
    with pytest.raises(TaskonomyError, match="from sources \\{normal\\} is in the table"):
        TaxonomyBIP(budget=1.0, max_order=1, sources=["normal"]).fit(only_random)


def test_cli_sources_without_random_never_use_random() -> None:
    from taskonomy.evaluate.plan import plan

    # the brief's example: point_matching and normal from normal,reshading only
    for budget in (1, 2, 3):
        pol = plan("taskonomy-2018-16k", budget=budget, max_order=3,
                   targets="point_matching,normal", sources="normal,reshading")  # fmt: skip
        used = {s for c in pol.choices.values() for s in c.sources}
        assert "random" not in used and used <= {"normal", "reshading"}
