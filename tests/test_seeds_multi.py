"""Several training seeds of one config: shared data job, per-seed tables, agreement."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from taskonomy.affinity.table import Transfer, TransferTable
from taskonomy.errors import TaskonomyError
from taskonomy.pipeline.seeds import affinity_agreement, jaccard, mean_affinities


def _table(values: dict[tuple[str, str], float]) -> TransferTable:
    return TransferTable({Transfer((s,), t): v for (s, t), v in values.items()}, "affinity")


def test_mean_affinities_renormalized_by_hand() -> None:
    a = _table({("normal", "depth_zbuffer"): 0.6, ("self", "depth_zbuffer"): 0.4})
    b = _table({("normal", "depth_zbuffer"): 0.2, ("self", "depth_zbuffer"): 0.8,
                ("random", "depth_zbuffer"): 0.0})  # fmt: skip
    m = mean_affinities([a, b])  # common transfers only: means 0.4 and 0.6, sum 1
    assert m[Transfer(("normal",), "depth_zbuffer")] == pytest.approx(0.4)
    assert m[Transfer(("self",), "depth_zbuffer")] == pytest.approx(0.6)
    assert Transfer(("random",), "depth_zbuffer") not in set(m)


def test_agreement_and_jaccard_by_hand() -> None:
    vals = {("normal", "reshading"): 0.1, ("random", "reshading"): 0.2, ("self", "reshading"): 0.7}
    a = _table(vals)
    rev = _table({k: 1 - v for k, v in vals.items()})
    assert affinity_agreement(a, a) == {"spearman_pooled": 1.0, "spearman_target_median": 1.0}
    assert affinity_agreement(a, rev)["spearman_pooled"] == pytest.approx(-1.0)
    assert jaccard(["a", "b"], ["b", "c"]) == pytest.approx(1 / 3)
    assert jaccard([], []) == 1.0


def test_two_seeds_share_the_data_job(tmp_path: Path, tiny_config: dict[str, Any]) -> None:
    from taskonomy.pipeline.config import load_config
    from taskonomy.pipeline.executors import InProcessExecutor
    from taskonomy.pipeline.run import run_pipeline

    over = {**tiny_config, "tasks": ["depth_zbuffer", "class_scene", "random"], "novel": [],
            "seeds": [0, 1], "transfer": {"max_order": 1, "steps": 5, "batch_size": 16},
            "train": {"steps": 10, "batch_size": 16}, "pixels": {"steps": 5, "batch_size": 16},
            "taxonomy": {"budgets": [1, 2], "orders": [1], "plan_from": "mean"}}  # fmt: skip
    cfg = load_config(overrides=over)
    result = run_pipeline(cfg, tmp_path, executor=InProcessExecutor())
    assert len(list((tmp_path / "jobs" / "data").iterdir())) == 1  # one shared data job
    assert len(list((tmp_path / "jobs" / "train").iterdir())) == 4  # 2 tasks × 2 seeds
    for seed in (0, 1):
        assert (tmp_path / "seeds" / str(seed) / "tables" / "affinities.csv").is_file()
    diag = json.loads((tmp_path / "tables" / "diagnostics.json").read_text())
    agree = diag["seeds"]
    assert agree["seeds"] == [0, 1] and agree["plan_from"] == "mean"
    assert -1.0 <= agree["spearman_pooled"] <= 1.0
    assert set(agree["jaccard"]) == {"budget1_order1", "budget2_order1"}
    assert result.run_dir == tmp_path and (tmp_path / "taxonomies").is_dir()
    # The top level's uncertainty comes from both seeds' losses: (S, N) rows, seeds resampled.
    from taskonomy.evaluate.uncertainty import load_per_image_losses
    from taskonomy.rundir import RunFiles

    top = RunFiles(tmp_path)
    stacked = load_per_image_losses(top.per_image_losses)
    one = load_per_image_losses(RunFiles(tmp_path / "seeds" / "1").per_image_losses)
    for target, rows in stacked.items():
        for label, arr in rows.items():
            assert arr.shape == (2, *one[target][label].shape)
            np.testing.assert_array_equal(arr[1], one[target][label])
    assert top.affinities_ci_csv.is_file() and top.significance_json.is_file()
    for name in ("budget1_order1", "budget2_order1"):
        record = json.loads(top.taxonomy_json(name).read_text())
        if "error" not in record:
            assert record["uncertainty"]["stability"]["replicates"] >= 1
    targets = {tr.target for tr in result.affinities}
    for t in targets:  # the planned mean table is renormalized per target
        total = sum(result.affinities[tr] for tr in result.affinities if tr.target == t)
        assert total == pytest.approx(1.0)


def test_duplicate_seeds_rejected(tiny_config: dict[str, Any]) -> None:
    from taskonomy.pipeline.config import load_config

    with pytest.raises(TaskonomyError, match="seeds"):
        load_config(overrides={**tiny_config, "seeds": [1, 1]})


def test_cli_bad_seeds_is_one_line(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from taskonomy.cli import run as run_cmd

    app = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
    run_cmd.register(app)
    app.command("noop")(lambda: None)  # a second command keeps `run` a subcommand
    res = CliRunner().invoke(app, ["run", "--out", str(tmp_path / "r"), "--seeds", "0,x"])
    assert res.exit_code != 0
    lines = [ln for ln in res.output.strip().splitlines() if ln]
    assert len(lines) == 1 and "--seeds" in lines[0], res.output
    assert not (tmp_path / "r").exists()


def test_several_seeds_with_estimates_show_the_remeasurement_ceiling(
    tmp_path: Path, tiny_config: dict[str, Any]
) -> None:
    """Each seed's calibration also ranks the other seed's measured affinities against its
    own, computed exactly as an estimator's rows are."""
    import csv

    from taskonomy.affinity.table import read_table
    from taskonomy.evaluate.calibration import POOLED, calibrate
    from taskonomy.pipeline.config import load_config
    from taskonomy.pipeline.executors import InProcessExecutor
    from taskonomy.pipeline.run import run_pipeline
    from taskonomy.report.estimates import section_estimates
    from taskonomy.seeds import derived_seed

    over = {**tiny_config, "tasks": ["depth_zbuffer", "normal", "class_scene", "random"],
            "novel": [], "seeds": [0, 1],
            "transfer": {"max_order": 1, "steps": 5, "batch_size": 16, "estimate": True},
            "train": {"steps": 10, "batch_size": 16}, "pixels": {"steps": 5, "batch_size": 16},
            "taxonomy": {"budgets": [1, 2], "orders": [1]}}  # fmt: skip
    run_pipeline(load_config(overrides=over), tmp_path, executor=InProcessExecutor())
    tables = {s: read_table(tmp_path / "seeds" / str(s) / "tables" / "affinities.csv")
              for s in (0, 1)}  # fmt: skip
    for seed, other in ((0, 1), (1, 0)):
        path = tmp_path / "seeds" / str(seed) / "tables" / "estimates_vs_measured.csv"
        with path.open(encoding="utf-8", newline="") as fh:
            name = f"measured_seed_{other}"
            rows = [r for r in csv.DictReader(fh) if r["estimator"] == name]
        ci_seed = derived_seed(seed, "estimate-calibration", name)
        want = calibrate(tables[other], tables[seed], seed=ci_seed)
        assert sorted(r["target"] for r in rows) == sorted(c.target for c in want)
        got = {r["target"]: r for r in rows}
        for c in want:
            r = got[c.target]
            assert int(r["n"]) == c.n and float(r["spearman"]) == pytest.approx(c.spearman)
            assert float(r["ci_low"]) == pytest.approx(c.ci_low)
            assert r["flops_ratio"] == r["seconds"] == ""  # no compute of its own
        assert rows[-1]["target"] == POOLED
        assert int(rows[-1]["n"]) == 3 * 4  # 3 targets × (3 task sources + random)
    html = section_estimates(tmp_path)  # the top level shows the first seed's
    assert "measured_seed_1" in html and "measuring again" in html
