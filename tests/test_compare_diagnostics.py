"""scripts/compare_diagnostics.py: the measures row by hand, and a run directory read back."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "compare_diagnostics", ROOT / "scripts" / "compare_diagnostics.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


DIAG = {
    "targets": [
        {"target": "a", "spread": 0.1, "own_network_best": True},
        {"target": "b", "spread": 0.3, "own_network_best": False},
        {"target": "c", "spread": 0.5, "own_network_best": True},
        {"target": "d"},  # no first-order sources: not counted
    ],
    "sanity": [
        {"task": "a", "win_vs_guess": 0.7, "win_vs_random": 0.9},
        {"task": "b", "win_vs_guess": 0.65, "win_vs_random": None},
    ],
    "family": {"ari": 0.2, "auc": 0.6},
}


def test_measures_by_hand() -> None:
    train = [{"test_loss": 0.5, "guess_test_loss": 1.0}, {"test_loss": 0.9, "guess_test_loss": 1.0},
             {"test_loss": 3.0, "guess_test_loss": 4.0}]  # fmt: skip
    row = _script().measures(DIAG, train)
    assert row["own_best"] == "2/3"
    assert row["spread_median"] == pytest.approx(0.3) and row["spread_min"] == pytest.approx(0.1)
    assert (row["ari"], row["auc"]) == (0.2, 0.6)
    assert row["win_guess_min"] == 0.65 and row["win_random_min"] == 0.9
    assert row["gain_median"] == pytest.approx(0.25)  # gains 0.5, 0.1, 0.25


def test_table_from_a_run_dir(tmp_path: Path) -> None:
    run = tmp_path / "rep-x"
    (run / "tables").mkdir(parents=True)
    (run / "tables" / "diagnostics.json").write_text(json.dumps(DIAG))
    for i, wall in enumerate([2.4, 3.3]):
        job = run / "jobs" / "train" / f"k{i}"
        job.mkdir(parents=True)
        result = {"test_loss": 0.5, "guess_test_loss": 1.0}
        record = {"kind": "train", "wall_s": wall, "result": result}
        (job / "job.json").write_text(json.dumps(record))
    mod = _script()
    row = mod.read_run(run)
    assert row["run"] == "rep-x" and row["job_seconds"] == 6 and row["gain_median"] == 0.5
    lines = mod.markdown_table([row]).splitlines()
    assert len(lines) == 3 and lines[2].startswith("| rep-x | 2/3 | 0.300 |")
    with pytest.raises(SystemExit, match=r"no tables/diagnostics\.json"):
        mod.read_run(tmp_path / "missing")
