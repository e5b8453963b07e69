from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from taskonomy import __version__
from taskonomy.affinity.table import Transfer, TransferTable, read_table
from taskonomy.cli import app
from taskonomy.taxonomy.bip import TaxonomyBIP

runner = CliRunner()


def _aff(published_dir: Path) -> Path:
    return published_dir / "affinities" / "all_affinities_16k.pkl"


def test_version_and_help() -> None:
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and __version__ in res.output
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0 and "solve" in res.output


def test_json_contract_matches_the_bip(published_dir: Path) -> None:
    res = runner.invoke(
        app,
        [
            "solve",
            "--affinities",
            str(_aff(published_dir)),
            "--budget",
            "6",
            "--max-order",
            "2",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert set(out) == {"objective", "budget", "max_order", "scratch", "policy"}
    table = read_table(_aff(published_dir))
    bip = TaxonomyBIP(budget=6, max_order=2).fit(table)
    assert out["objective"] == bip.objective_
    assert sorted(out["scratch"]) == sorted(bip.scratch_) and len(out["scratch"]) <= 6
    assert set(out["policy"]) == set(table.targets())
    for target, c in out["policy"].items():
        assert set(c) == {"sources", "kind", "affinity", "gain", "quality"}
        if c["kind"] == "scratch":
            assert c["sources"] == [target] and c["quality"] == 0.5
        else:
            assert len(c["sources"]) <= 2 and set(c["sources"]) <= set(out["scratch"]) | {"random"}
        # Gain/Quality came from the 2018 win rates found beside the affinity file.
        assert c["gain"] is not None and 0 <= c["gain"] <= 1


def test_targets_sources_and_2018_names(published_dir: Path) -> None:
    res = runner.invoke(
        app,
        [
            "solve",
            "--affinities",
            str(_aff(published_dir)),
            "--budget",
            "1",
            "--max-order",
            "1",
            "--targets",
            "rgb2depth,normal",
            "--sources",
            "rgb2sfnorm,reshade",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert set(out["policy"]) == {"depth_zbuffer", "normal"}
    assert set(out["scratch"]) <= {"normal", "reshading"}


def test_importance_and_label_cost_change_the_answer(tmp_path: Path) -> None:
    t = TransferTable(
        {
            Transfer.of(["self"], "normal"): 0.6,
            Transfer.of(["reshading"], "normal"): 0.3,
            Transfer.of(["random"], "normal"): 0.1,
            Transfer.of(["self"], "reshading"): 0.5,
            Transfer.of(["normal"], "reshading"): 0.4,
            Transfer.of(["random"], "reshading"): 0.1,
        }
    )
    path = tmp_path / "aff.csv"
    t.write_csv(path)
    base = ["solve", "--affinities", str(path), "--budget", "1", "--max-order", "1", "--json"]
    plain = json.loads(runner.invoke(app, base).output)
    assert plain["scratch"] == ["normal"]  # 0.6 + 0.4 beats 0.5 + 0.3
    weighted = json.loads(runner.invoke(app, [*base, "--importance", "reshading=4"]).output)
    assert weighted["scratch"] == ["reshading"]  # 4·0.5 + 0.3 beats 0.6 + 4·0.4
    costly = json.loads(runner.invoke(app, [*base, "--label-cost", "normal=2"]).output)
    assert costly["scratch"] == ["reshading"]
    assert plain["policy"]["normal"]["gain"] is None  # no win rates beside this CSV


def test_readable_table_output(published_dir: Path) -> None:
    res = runner.invoke(
        app,
        [
            "solve",
            "--affinities",
            str(_aff(published_dir)),
            "--budget",
            "4",
            "--max-order",
            "unlimited",
        ],
    )
    assert res.exit_code == 0
    assert "objective" in res.output and "trained from scratch" in res.output
    assert "depth_zbuffer" in res.output


def test_errors_are_one_line_with_nonzero_exit(published_dir: Path, tmp_path: Path) -> None:
    aff = str(_aff(published_dir))
    cases = [
        (["--budget", "-1", "--max-order", "1"], "budget"),
        (["--budget", "1", "--max-order", "0"], "max order"),
        (["--budget", "1", "--max-order", "x"], "max order"),
        (["--budget", "1", "--max-order", "1", "--targets", "depth"], "unknown task"),
        (["--budget", "1", "--max-order", "1", "--importance", "normal"], "TASK=NUMBER"),
        (["--budget", "1", "--max-order", "1", "--winrates", str(tmp_path)], "win-rate"),
    ]
    for extra, needle in cases:
        proc = subprocess.run(
            [sys.executable, "-m", "taskonomy.cli", "solve", "--affinities", aff, *extra],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 2, (extra, proc.stderr)
        assert needle in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    res = runner.invoke(
        app,
        ["solve", "--affinities", str(tmp_path / "nope.pkl"), "--budget", "1", "--max-order", "1"],
    )
    assert res.exit_code == 2


def test_infeasible_names_the_target(tmp_path: Path) -> None:
    t = TransferTable({Transfer.of(["normal"], "reshading"): 1.0})
    path = tmp_path / "aff.csv"
    t.write_csv(path)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "taskonomy.cli",
            "solve",
            "--affinities",
            str(path),
            "--budget",
            "0",
            "--max-order",
            "1",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and "reshading" in proc.stderr


def test_solve_does_not_import_torch_or_matplotlib() -> None:
    code = (
        "import sys, taskonomy.cli, taskonomy.taxonomy.plan, taskonomy.taxonomy.bip;"
        "print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
