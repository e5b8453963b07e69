"""Gain/Quality of a policy, win-rate loading and budget sweeps (no BIP needed)."""

from __future__ import annotations

import itertools
import sys
import types
from pathlib import Path

import pytest

from taskonomy.affinity.table import Transfer, TransferTable
from taskonomy.errors import TaskonomyError
from taskonomy.evaluate.gain_quality import (
    attach_gain_quality,
    budget_sweep,
    group_by_order,
    load_winrates,
    mean_gain_quality,
)
from taskonomy.taxonomy.policy import Choice, Policy
from taskonomy.taxonomy.published import safe_load_pickle

# ---- tiny hand-made tables ---------------------------------------------------------

T = Transfer.of


def _pix() -> TransferTable:
    return TransferTable(
        {
            T(["self"], "normal"): 0.97,
            T(["normal"], "reshading"): 0.81,
            T(["normal", "depth_zbuffer"], "edge_occlusion"): 0.66,
            T(["self"], "depth_zbuffer"): 0.91,
        },
        "wins_vs_pixels",
    )


def _slf() -> TransferTable:
    return TransferTable(
        {
            T(["self"], "normal"): 0.5,
            T(["normal"], "reshading"): 0.31,
            T(["normal", "depth_zbuffer"], "edge_occlusion"): 0.22,
            # depth_zbuffer's self edge deliberately missing: Quality must still be 0.5
        },
        "wins_vs_self",
    )


def _policy() -> Policy:
    return Policy(
        objective=1.0,
        budget=2,
        max_order=2,
        scratch=("depth_zbuffer", "normal"),
        choices={
            "normal": Choice("normal", ("normal",), "scratch", 0.2),
            "depth_zbuffer": Choice("depth_zbuffer", ("depth_zbuffer",), "scratch", 0.2),
            "reshading": Choice("reshading", ("normal",), "transfer", 0.01),
            "edge_occlusion": Choice(
                "edge_occlusion", ("depth_zbuffer", "normal"), "transfer", 0.02
            ),
            # a transfer no table holds
            "keypoints3d": Choice("keypoints3d", ("normal",), "transfer", 0.005),
        },
        extra={"note": "kept"},
    )


def test_attach_reads_each_choice_from_the_right_table() -> None:
    pol = attach_gain_quality(_policy(), _pix(), _slf())
    c = pol.choices
    # transfers: Gain from the vs-pixels table, Quality from the vs-self table
    assert (c["reshading"].gain, c["reshading"].quality) == (0.81, 0.31)
    assert (c["edge_occlusion"].gain, c["edge_occlusion"].quality) == (0.66, 0.22)
    # scratch: Gain is the self edge vs pixels, Quality is 0.5 by definition
    assert (c["normal"].gain, c["normal"].quality) == (0.97, 0.5)
    assert (c["depth_zbuffer"].gain, c["depth_zbuffer"].quality) == (0.91, 0.5)
    # missing entries are None, not an error
    assert (c["keypoints3d"].gain, c["keypoints3d"].quality) == (None, None)
    # everything else is carried over
    assert pol.scratch == ("depth_zbuffer", "normal")
    assert c["edge_occlusion"].sources == ("depth_zbuffer", "normal")
    assert c["reshading"].affinity == 0.01
    assert pol.extra == {"note": "kept"}


def test_attach_does_not_mutate_its_input() -> None:
    before = _policy()
    attach_gain_quality(before, _pix(), _slf())
    assert all(ch.gain is None and ch.quality is None for ch in before.choices.values())


def test_attach_rejects_swapped_tables() -> None:
    with pytest.raises(TaskonomyError, match="wins_vs_pixels"):
        attach_gain_quality(_policy(), _slf(), _pix())
    with pytest.raises(TaskonomyError, match="TransferTable"):
        attach_gain_quality(_policy(), {}, _slf())  # type: ignore[arg-type]


def test_mean_gain_quality_skips_unknown_values() -> None:
    pol = attach_gain_quality(_policy(), _pix(), _slf())
    gain, quality = mean_gain_quality(pol)
    assert gain == pytest.approx((0.81 + 0.66 + 0.97 + 0.91) / 4)
    assert quality == pytest.approx((0.31 + 0.22 + 0.5 + 0.5) / 4)
    assert mean_gain_quality(_policy()) == (None, None)


# ---- the published 2018 files ------------------------------------------------------


def _raw(published_dir: Path, name: str) -> dict[str, float]:
    return safe_load_pickle((published_dir / "winrates" / name).read_bytes())  # type: ignore[no-any-return]


def _by_set(raw: dict[str, float], key: str) -> float:
    """The entry for ``key``'s sources in any order (a file may list them in any order)."""
    *srcs, tgt = key.split("__")
    keys = [k.split("__") for k in raw]
    (key,) = ["__".join(k) for k in keys if k[-1] == tgt and sorted(k[:-1]) == sorted(srcs)]
    val = raw[key]
    return val


def test_published_values_match_the_pickles(published_dir: Path) -> None:
    pix, slf = load_winrates(published_dir / "winrates", suffix="_16k")
    assert (pix.kind, slf.kind) == ("wins_vs_pixels", "wins_vs_self")
    raw_pix = _raw(published_dir, "wins_vs_pixels_16k.pkl")
    raw_task = _raw(published_dir, "wins_vs_task_16k.pkl")
    pol = Policy(
        objective=0.0,
        budget=1,
        max_order=3,
        scratch=("normal",),
        choices={
            "normal": Choice("normal", ("normal",), "scratch", 0.0),
            "reshading": Choice("reshading", ("normal",), "transfer", 0.0),
            "principal_curvature": Choice(
                "principal_curvature", ("normal", "keypoints3d"), "transfer", 0.0
            ),
        },
    )
    c = attach_gain_quality(pol, pix, slf).choices
    # 2018 keys: rgb2sfnorm = normal, reshade = reshading, keypoint3d, curvature
    assert c["reshading"].gain == raw_pix["rgb2sfnorm__reshade"]
    assert c["reshading"].quality == raw_task["rgb2sfnorm__reshade"]
    assert c["principal_curvature"].gain == _by_set(raw_pix, "rgb2sfnorm__keypoint3d__curvature")
    assert c["principal_curvature"].quality == _by_set(
        raw_task, "rgb2sfnorm__keypoint3d__curvature"
    )
    assert c["normal"].gain == raw_pix["self__rgb2sfnorm"]
    assert c["normal"].quality == 0.5
    # the published vs-self table agrees that self scores exactly 0.5
    assert raw_task["self__rgb2sfnorm"] == 0.5


def test_load_winrates_accepts_every_2018_entry_point(published_dir: Path) -> None:
    via_winrates = load_winrates(published_dir / "winrates", suffix="_1k")
    via_parent = load_winrates(published_dir, suffix="_1k")
    via_affinity = load_winrates(published_dir / "affinities" / "all_affinities_1k.pkl")
    for pix, slf in (via_parent, via_affinity):
        assert dict(pix) == dict(via_winrates[0])
        assert dict(slf) == dict(via_winrates[1])
    # and the suffix matters: the 16k tables are different numbers
    pix16, _ = load_winrates(published_dir, suffix="_16k")
    key = Transfer.of(["normal"], "reshading")
    assert pix16[key] != via_winrates[0][key]


def test_load_winrates_reads_project_csvs(tmp_path: Path) -> None:
    _pix().write_csv(tmp_path / "wins_vs_pixels.csv")
    _slf().write_csv(tmp_path / "wins_vs_self.csv")
    pix, slf = load_winrates(tmp_path)
    assert dict(pix) == dict(_pix()) and pix.kind == "wins_vs_pixels"
    assert dict(slf) == dict(_slf()) and slf.kind == "wins_vs_self"


def test_load_winrates_errors_say_what_is_expected(tmp_path: Path, published_dir: Path) -> None:
    with pytest.raises(TaskonomyError, match=r"wins_vs_self\.csv"):
        load_winrates(tmp_path)  # empty folder
    _pix().write_csv(tmp_path / "wins_vs_pixels.csv")
    with pytest.raises(TaskonomyError, match=r"wins_vs_self\.csv missing"):
        load_winrates(tmp_path)
    with pytest.raises(TaskonomyError, match="'_16k'"):  # lists the suffixes that exist
        load_winrates(published_dir, suffix="_2k")
    with pytest.raises(TaskonomyError, match="existing folder"):
        load_winrates(tmp_path / "nope")
    with pytest.raises(TaskonomyError, match="all_affinities"):
        load_winrates(tmp_path / "wins_vs_pixels.csv")  # a file, but not an affinity file
    # a CSV whose kind contradicts its name is refused by the table reader
    _pix().write_csv(tmp_path / "wins_vs_self.csv")
    with pytest.raises(TaskonomyError, match="kind"):
        load_winrates(tmp_path)


# ---- budget sweeps -----------------------------------------------------------------

AFF = TransferTable(
    {
        T(["self"], "normal"): 0.5,
        T(["self"], "reshading"): 0.5,
        T(["self"], "depth_zbuffer"): 0.5,
        T(["normal"], "reshading"): 0.3,
        T(["normal"], "depth_zbuffer"): 0.2,
        T(["reshading"], "normal"): 0.25,
        T(["reshading"], "depth_zbuffer"): 0.1,
        T(["depth_zbuffer"], "normal"): 0.05,
        T(["depth_zbuffer"], "reshading"): 0.15,
        T(["normal", "reshading"], "depth_zbuffer"): 0.35,
    }
)


def brute_force(budget: float, max_order: int | None) -> Policy:
    """Best policy over every scratch set within budget (exhaustive: 3 tasks)."""
    tasks = ["depth_zbuffer", "normal", "reshading"]
    best: Policy | None = None
    for r in range(1, int(budget) + 1):
        for scratch in itertools.combinations(tasks, r):
            choices = {}
            for t in tasks:
                options = [
                    (v, tr)
                    for tr, v in AFF.for_target(t).items()
                    if (tr.is_self and t in scratch)
                    or (
                        not tr.is_self
                        and set(tr.sources) <= set(scratch)
                        and (max_order is None or tr.order <= max_order)
                    )
                ]
                v, tr = max(options)
                kind = "scratch" if tr.is_self else "transfer"
                choices[t] = Choice(t, (t,) if tr.is_self else tr.sources, kind, v)
            obj = sum(c.affinity for c in choices.values())
            if best is None or obj > best.objective:
                best = Policy(obj, budget, max_order, scratch, choices)
    assert best is not None
    return best


def test_sweep_calls_solver_per_order_then_budget_and_attaches() -> None:
    calls: list[tuple[float, int | None]] = []

    def solver(budget: float, max_order: int | None) -> Policy:
        calls.append((budget, max_order))
        return brute_force(budget, max_order)

    pix = TransferTable(
        {T(["self"], t): 0.9 for t in ("normal", "reshading", "depth_zbuffer")}
        | {T(["normal"], "reshading"): 0.8, T(["normal", "reshading"], "depth_zbuffer"): 0.7},
        "wins_vs_pixels",
    )
    slf = TransferTable({T(["normal"], "reshading"): 0.4}, "wins_vs_self")
    out = budget_sweep(solver, [1, 2, 3], [1, None], winrates=(pix, slf))
    assert calls == [(1, 1), (2, 1), (3, 1), (1, None), (2, None), (3, None)]
    assert [(p.budget, p.max_order) for p in out] == calls
    # budget 2 at unlimited order: train normal+reshading, serve depth by the order-2 transfer
    b2 = out[4]
    assert set(b2.scratch) == {"normal", "reshading"}
    assert b2.choices["depth_zbuffer"].sources == ("normal", "reshading")
    assert b2.choices["depth_zbuffer"].gain == 0.7
    assert b2.choices["normal"].quality == 0.5
    # same budget at order 1 cannot use it: by hand, {normal, depth} (0.5+0.5+0.3) beats
    # {normal, reshading} (0.5+0.5+0.2); at unlimited order the latter gets 0.5+0.5+0.35
    assert set(out[1].scratch) == {"depth_zbuffer", "normal"}
    assert out[1].objective == pytest.approx(1.3)
    assert b2.objective == pytest.approx(1.35)


def test_group_by_order_sorts_budgets() -> None:
    pols = [brute_force(b, k) for k in (None, 1) for b in (3, 1, 2)]
    groups = group_by_order(pols)
    assert list(groups) == [None, 1]
    assert [p.budget for p in groups[1]] == [1, 2, 3]
    assert all(p.max_order is None for p in groups[None])


def test_sweep_argument_errors() -> None:
    with pytest.raises(TaskonomyError, match="solver"):
        budget_sweep(None, [1], [1])
    with pytest.raises(TaskonomyError, match="solver=None"):
        budget_sweep(brute_force, [1], [1], table=AFF)
    with pytest.raises(TaskonomyError, match="at least one"):
        budget_sweep(brute_force, [], [1])
    with pytest.raises(TaskonomyError, match="expected a taskonomy Policy"):
        budget_sweep(lambda b, k: {"not": "a policy"}, [1], [1])  # type: ignore[arg-type, return-value]


def test_sweep_defaults_to_the_bip_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    """With solver=None the BIP module's ``solve`` gets the table and keywords."""
    seen: list[tuple[object, float, int | None, dict[str, object]]] = []

    def fake_solve(
        table: TransferTable, budget: float, max_order: int | None, **kw: object
    ) -> Policy:
        seen.append((table, budget, max_order, kw))
        return brute_force(budget, max_order)

    fake = types.ModuleType("taskonomy.taxonomy.bip")
    fake.solve = fake_solve  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "taskonomy.taxonomy.bip", fake)
    out = budget_sweep(None, [2], [1, 2], table=AFF, targets=["normal"])
    assert [(s[1], s[2]) for s in seen] == [(2, 1), (2, 2)]
    assert all(s[0] is AFF and s[3] == {"targets": ["normal"]} for s in seen)
    assert len(out) == 2
