"""Issue 13 integration: the uncertainty tables of a finished pipeline run and `solve` on them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import TINY_RUN
from taskonomy.affinity.ahp import AHP
from taskonomy.affinity.bootstrap import read_ci_csv_text
from taskonomy.affinity.table import Transfer, read_table
from taskonomy.cli import app
from taskonomy.errors import TaskonomyError
from taskonomy.evaluate.uncertainty import (
    load_per_image_losses,
    optimum_share,
    save_per_image_losses,
)
from taskonomy.rundir import RunFiles
from taskonomy.taxonomy.policy import Policy
from taskonomy.taxonomy.request import PlanRequest

runner = CliRunner()


UC = TINY_RUN["uncertainty"]  # the tiny run's bootstrap settings


def test_per_image_losses_reproduce_the_affinities(tiny_run: tuple[Path, Any]) -> None:
    out, result = tiny_run
    losses = load_per_image_losses(RunFiles(out).per_image_losses)
    assert set(losses) == set(result.affinities.targets())
    for target, rows in losses.items():
        assert "self" in rows and "pixels" in rows
        labels = [lab for lab in rows if lab != "pixels"]
        aff = AHP().fit(np.stack([rows[lab] for lab in labels])).affinity_
        for lab, a in zip(labels, aff, strict=True):
            assert result.affinities[Transfer.of(lab.split("+"), target)] == pytest.approx(a)


def test_ci_table_brackets_the_point_values(tiny_run: tuple[Path, Any]) -> None:
    out, result = tiny_run
    files = RunFiles(out)
    ci = read_ci_csv_text(files.affinities_ci_csv.read_text())
    assert set(ci["value"]) == set(result.affinities)
    for tr, v in result.affinities.items():
        assert ci["value"][tr] == pytest.approx(v)
        assert ci["lower"][tr] <= ci["median"][tr] <= ci["upper"][tr]
        # The point estimate lies inside its percentile interval (tiny test set: wide).
        assert ci["lower"][tr] - 1e-12 <= v <= ci["upper"][tr] + 1e-12
    assert f"# replicates: {UC['replicates']}" in files.affinities_ci_csv.read_text()


def test_taxonomies_carry_stability_and_significance(tiny_run: tuple[Path, Any]) -> None:
    out, _ = tiny_run
    n_checked = 0
    for path in RunFiles(out).taxonomy_files():
        record = json.loads(path.read_text())
        if "error" in record:
            continue
        stab = record["uncertainty"]["stability"]
        n_rep = UC["stability_replicates"]
        assert stab["replicates"] == n_rep
        assert sum(o["count"] for o in stab["replicate_optima"]) == n_rep
        policy = Policy.from_json(record)
        # The exact probability is the share of stored replicate optima equal to the policy;
        # the reported one also counts replicates the policy ties (never fewer).
        by_hand = (
            sum(
                o["count"]
                for o in stab["replicate_optima"]
                if sorted(o["scratch"]) == sorted(policy.scratch)
                and all(
                    o["policy"][t]["kind"] == c.kind
                    and tuple(o["policy"][t]["sources"]) == c.sources
                    for t, c in policy.choices.items()
                )
            )
            / n_rep
        )
        assert stab["exact_optimum_probability"] == pytest.approx(by_hand)
        assert optimum_share(stab, policy) == pytest.approx(by_hand)
        assert stab["optimum_probability"] == pytest.approx(optimum_share(stab))
        assert stab["optimum_probability"] >= by_hand - 1e-12
        assert all(0 <= o["ties_reported"] <= o["count"] for o in stab["replicate_optima"])
        freqs = [*stab["scratch_frequency"].values(), *stab["other_scratch_frequency"].values()]
        freqs += [e["frequency"] for e in stab["edge_frequency"].values()]
        assert all(0.0 <= f <= 1.0 for f in freqs)
        assert set(stab["scratch_frequency"]) == set(policy.scratch)
        assert set(stab["edge_frequency"]) == set(policy.choices)
        # An edge the replicate optima choose counts (ties may add more).
        for t, e in stab["edge_frequency"].items():
            want = Transfer.of(e["sources"].split("+"), t)
            count = sum(
                o["count"]
                for o in stab["replicate_optima"]
                if (
                    Transfer(("self",), t)
                    if o["policy"][t]["kind"] == "scratch"
                    else Transfer.of(o["policy"][t]["sources"], t)
                )
                == want
            )
            assert e["frequency"] >= count / n_rep - 1e-12
        for t, iv in record["uncertainty"]["intervals"].items():
            assert iv["lower"] - 1e-12 <= iv["value"] <= iv["upper"] + 1e-12, t
        for metric in ("gain", "quality"):
            sig = record["significance"][metric]
            assert 0.0 <= sig["percentile"] <= 100.0
            n_pol = UC["random_policies"]
            assert 1 / (n_pol + 1) <= sig["p_value"] <= 1.0 and sig["n_samples"] == n_pol
        n_checked += 1
    assert n_checked >= 4


def test_significance_table(tiny_run: tuple[Path, Any]) -> None:
    out, result = tiny_run
    sig = json.loads(RunFiles(out).significance_json.read_text())
    targets = set(result.affinities.targets())
    assert {(r["target"], r["baseline"]) for r in sig["rows"]} <= {
        (t, b) for t in targets for b in ("random", "pixels")
    }
    for r in sig["rows"]:
        assert 0.0 <= r["p_value"] <= 1.0 and r["significant"] == (r["p_value"] < 0.05)
        assert -1.0 <= r["rank_biserial"] <= 1.0
    summary = {s["baseline"]: s for s in sig["summary"]}
    rnd = [r for r in sig["rows"] if r["baseline"] == "random"]
    assert summary["random"]["targets"] == len(rnd)
    assert summary["random"]["significant"] == sum(r["significant"] for r in rnd)


def test_npz_round_trip_and_refuses_pickles(tmp_path: Path) -> None:
    losses = {"normal": {"self": np.arange(4.0), "a+b": np.ones((2, 4))[0]}}
    save_per_image_losses(tmp_path / "l.npz", losses)
    back = load_per_image_losses(tmp_path / "l.npz")
    assert list(back["normal"]) == ["self", "a+b"]
    np.testing.assert_array_equal(back["normal"]["self"], np.arange(4.0))
    np.savez(tmp_path / "bad.npz", **{"labels/normal": np.array([{"x": 1}], dtype=object)})
    with pytest.raises(TaskonomyError, match="per-image losses"):
        load_per_image_losses(tmp_path / "bad.npz")
    with pytest.raises(TaskonomyError, match="existing"):
        load_per_image_losses(tmp_path / "missing.npz")


def _solve(*args: str) -> Any:
    return runner.invoke(app, ["solve", "--budget", "2", "--max-order", "2", *args])


def test_solve_on_a_run_dir_reports_stability(tiny_run: tuple[Path, Any]) -> None:
    out, _ = tiny_run
    res = _solve("--affinities", str(out), "--stability-replicates", "40", "--json")
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert body["objective_kind"] == "mean"
    stab = body["uncertainty"]["stability"]
    assert stab["replicates"] == 40
    assert stab["optimum_probability"] == pytest.approx(optimum_share(stab))
    assert stab["exact_optimum_probability"] == pytest.approx(
        optimum_share(stab, Policy.from_json(body))
    )
    # Same answer as the pipeline's taxonomy of that budget/order (same table, same BIP).
    stored = json.loads(RunFiles(out).taxonomy_json("budget2_order2").read_text())
    assert sorted(body["scratch"]) == sorted(stored["scratch"])


def test_solve_lcb_maximizes_the_lower_bounds(tiny_run: tuple[Path, Any]) -> None:
    out, _ = tiny_run
    files = RunFiles(out)
    res = _solve(
        "--affinities", str(files.table_path("affinity")), "--objective", "lcb",
        "--losses", str(files.per_image_losses), "--stability-replicates", "5", "--json",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert body["objective_kind"] == "lcb"
    # The credited affinities are the 2.5% bounds of the solve's bootstrap (seed 0).
    from taskonomy.evaluate.uncertainty import bootstrap

    boot = bootstrap(load_per_image_losses(files.per_image_losses), 1000, 0.95)
    for t, c in body["policy"].items():
        edge = Transfer(("self",), t) if c["kind"] == "scratch" else Transfer.of(c["sources"], t)
        assert c["affinity"] == pytest.approx(boot.lower_[edge])
    assert body["objective"] == pytest.approx(sum(c["affinity"] for c in body["policy"].values()))


def test_solve_lcb_without_losses_is_one_line(tmp_path: Path, tiny_run: tuple[Path, Any]) -> None:
    out, _ = tiny_run
    table = read_table(RunFiles(out).table_path("affinity"))
    table.write_csv(tmp_path / "affinities.csv")
    res = _solve("--affinities", str(tmp_path / "affinities.csv"), "--objective", "lcb")
    assert res.exit_code != 0
    assert "needs per-image losses" in res.output and "Traceback" not in res.output
    res = _solve("--affinities", str(tmp_path / "affinities.csv"), "--objective", "max")
    assert res.exit_code != 0 and "objective" in res.output and "lcb" in res.output


def test_plan_request_objective() -> None:
    req = PlanRequest.build({"budget": 2, "max_order": 1, "objective": "LCB"})
    assert req.objective == "lcb" and "objective" not in req.plan_kwargs()
    assert PlanRequest.build({"budget": 2, "max_order": 1}).objective == "mean"
    with pytest.raises(TaskonomyError, match=r"objective.*one of: lcb, mean"):
        PlanRequest.build({"budget": 2, "max_order": 1, "objective": 3})


def test_report_section_and_grid_opacity(tiny_run: tuple[Path, Any], tmp_path: Path) -> None:
    from taskonomy.report.html import build_report
    from taskonomy.report.uncertainty import edge_stability

    out, _ = tiny_run
    stab = edge_stability(out)
    record = json.loads(RunFiles(out).taxonomy_json("budget2_order2").read_text())
    want = {
        t: e["frequency"] for t, e in record["uncertainty"]["stability"]["edge_frequency"].items()
    }
    assert stab[(2.0, 2)] == want
    page = build_report(tmp_path / "report", run_dir=out).read_text()
    section = page.split('<section id="uncertainty">', 1)[1].split("</section>", 1)[0]
    assert "affinities_ci.csv" in section and "P(optimum)" in section
    assert f"{record['uncertainty']['stability']['optimum_probability']:.3f}" in section
    assert "Edge opacity" in page


def test_grid_opacity_follows_stability() -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.patches import FancyArrowPatch

    from taskonomy.report.figures import taxonomy_grid
    from taskonomy.taxonomy.policy import Choice

    pol = Policy(
        objective=1.0, budget=1, max_order=1, scratch=("normal",),
        choices={"normal": Choice("normal", ("normal",), "scratch", 0.5),
                 "reshading": Choice("reshading", ("normal",), "transfer", 0.5)},
    )  # fmt: skip
    fig = taxonomy_grid({(1.0, 1): pol}, stability={(1.0, 1): {"reshading": 0.0}})
    alphas = [
        p.get_alpha() for ax in fig.axes for p in ax.patches if isinstance(p, FancyArrowPatch)
    ]
    assert alphas == [pytest.approx(0.15)]
