"""`taskonomy estimate` on the tiny run: tables, calibration, compute, CLI, solve/report/serve."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from taskonomy.affinity.table import Transfer, TransferTable, read_table
from taskonomy.cli import app
from taskonomy.errors import TaskonomyError
from taskonomy.evaluate.calibration import POOLED, calibrate, spearman_ci
from taskonomy.pipeline.artifacts import RunDir
from taskonomy.pipeline.config import load_config
from taskonomy.pipeline.estimate import estimate_run, to_affinity_scale
from taskonomy.pipeline.run import Plan
from taskonomy.transfer.estimate import CKA, flatten_reps

runner = CliRunner()


@pytest.fixture(scope="module")
def run_copy(tiny_run: tuple[Path, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny run (the session's run stays as the other tests expect it)."""
    out = tmp_path_factory.mktemp("estimate") / "run"
    shutil.copytree(tiny_run[0], out, ignore=shutil.ignore_patterns("report", ".lock"))
    return out


@pytest.fixture(scope="module")
def estimated(run_copy: Path) -> Any:
    return estimate_run(run_copy, replicates=200)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_tables_are_estimated_kind_on_the_affinity_scale(run_copy: Path, estimated: Any) -> None:
    rd = RunDir(run_copy)
    measured = read_table(rd.table_path("affinity"), "affinity")
    assert set(rd.estimated_files()) == {"cka", "rsa", "dds", "ridge", "logme", "logme_probe"}
    for name, path in rd.estimated_files().items():
        table = read_table(path)
        assert table.kind == "estimated_affinity"
        assert dict(table) == pytest.approx(dict(estimated.tables[name]))
        # never taken for measured affinities
        with pytest.raises(TaskonomyError, match="table kind"):
            read_table(path, "affinity")
        for target in measured.targets():
            values = table.for_target(target)
            assert sum(values.values()) == pytest.approx(1.0)
            assert all(0.0 <= v <= 1.0 for v in values.values())
            # every transfer the run measured is estimated, self included
            assert set(measured.for_target(target)) - {Transfer(("pixels",), target)} <= set(values)


def test_first_order_scores_are_the_estimator_on_the_cached_representations(
    run_copy: Path, estimated: Any
) -> None:
    """CKA of source → target, recomputed by hand from the encode jobs' caches: same order."""
    from taskonomy.data.bank import Bank
    from taskonomy.pipeline.stages import BANK
    from taskonomy.transfer.encode import cached_reps

    rd = RunDir(run_copy)
    plan = Plan(load_config(rd.config_path))
    bank = Bank(rd.job_dir("data", plan.data.key) / BANK)
    target = "depth_zbuffer"

    def rep(source: str) -> np.ndarray:
        folder = rd.job_dir("encode", plan.encode(source, "rgb").key)
        return flatten_reps(cached_reps(bank, target, "test", folder))

    own = rep(target)
    scores = {
        s: CKA().fit({"test": rep(s)}, {"test": own}).score_
        for s in plan.sources  # depth_zbuffer, normal, class_scene, random
    }
    pair = ("class_scene", "normal")
    scores["+".join(pair)] = (
        CKA().fit({"test": np.hstack([rep(s) for s in pair])}, {"test": own}).score_
    )
    table = estimated.tables["cka"]
    got = {"+".join(tr.sources): v for tr, v in table.for_target(target).items()}
    keys = list(scores)
    # the table's values are the scores mapped by one increasing function per target
    assert (
        np.argsort([got[k] for k in keys]).tolist()
        == np.argsort([scores[k] for k in keys]).tolist()
    )
    assert got[target] == got["self"] == max(got.values())  # own encoder: CKA 1


def test_calibration_csv_rows_intervals_and_compute(run_copy: Path, estimated: Any) -> None:
    rd = RunDir(run_copy)
    rows = _rows(rd.estimates_vs_measured_csv)
    measured = read_table(rd.table_path("affinity"), "affinity")
    targets = measured.targets()
    assert [r["target"] for r in rows if r["estimator"] == "cka"] == [*targets, POOLED]
    n_transfers = sum(1 for tr in measured if tr.sources != ("self",))
    # transfer compute: the sum of the transfer jobs' own records (every one is this run's)
    records = [rd.read_record("transfer", k) for k in rd.finished_keys("transfer")]
    seconds = sum(r["result"]["compute_seconds"] for r in records)
    for r in rows:
        rho, lo, hi = float(r["spearman"]), float(r["ci_low"]), float(r["ci_high"])
        assert -1 <= lo <= rho <= hi <= 1 or r["target"] != POOLED
        if r["target"] == POOLED:
            assert int(r["n"]) == n_transfers
            assert float(r["transfer_seconds"]) == pytest.approx(seconds)
            assert float(r["flops"]) > 0 and float(r["transfer_flops"]) > 0
            assert float(r["seconds_ratio"]) == pytest.approx(
                float(r["seconds"]) / float(r["transfer_seconds"])
            )
            assert float(r["flops_ratio"]) == pytest.approx(
                float(r["flops"]) / float(r["transfer_flops"])
            )


def test_estimates_and_intervals_are_reproducible(
    run_copy: Path, estimated: Any, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    shutil.copytree(run_copy, out)
    again = estimate_run(out, ["rsa", "ridge"], replicates=200)
    for name in ("rsa", "ridge"):
        assert dict(again.tables[name]) == dict(estimated.tables[name])
        assert again.calibration[name] == estimated.calibration[name]


def test_higher_orders_beyond_the_measured_ones(
    run_copy: Path, estimated: Any, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    shutil.copytree(run_copy, out)
    res = estimate_run(out, ["cka", "ridge"], max_order=3, replicates=200)
    for name in ("cka", "ridge"):
        assert res.tables[name].max_order() == 3
        # order 3 from the estimator's own first-order ranking: three of the non-self sources
        for tr in res.tables[name]:
            if tr.order == 3:
                assert tr.target not in tr.sources and "random" not in tr.sources
        # calibration maps the scores over the measured sets only: sets it never measured
        # change the estimated table, not its comparison with the measured one
        assert res.calibration[name] == estimated.calibration[name]


def test_calibration_oracle() -> None:
    assert spearman_ci(np.arange(4.0), np.array([1.0, 2, 4, 3]), replicates=0, level=0.9,
                       seed=0)[0] == pytest.approx(0.8)  # fmt: skip
    est = TransferTable({Transfer(("a",), "t"): 0.1, Transfer(("b",), "t"): 0.3,
                         Transfer(("c",), "t"): 0.6, Transfer(("self",), "t"): 0.0},
                        "estimated_affinity")  # fmt: skip
    meas = TransferTable({Transfer(("a",), "t"): 0.2, Transfer(("b",), "t"): 0.3,
                          Transfer(("c",), "t"): 0.4, Transfer(("self",), "t"): 0.1})  # fmt: skip
    rows = calibrate(est, meas, replicates=100, seed=1)
    assert [r.target for r in rows] == ["t", POOLED]
    assert rows[0].spearman == 1.0 and rows[0].n == 3  # self left out
    assert rows[0].ci_low == rows[0].ci_high == 1.0  # every resample keeps the order


def test_to_affinity_scale() -> None:
    a, b, c = (Transfer((s,), "t") for s in "abc")
    assert to_affinity_scale({a: -1.0, b: 0.0, c: 1.0}) == {a: 0.0, b: 1 / 3, c: 2 / 3}
    assert to_affinity_scale({a: 2.0, b: 2.0}) == {a: 0.5, b: 0.5}


def test_cli_estimate_prints_calibration_and_refuses_bad_input(
    run_copy: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    shutil.copytree(run_copy, out)
    res = runner.invoke(app, ["estimate", str(out), "--estimators", "cka,ridge",
                              "--replicates", "50"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "estimated_affinities_cka.csv" in res.output and "ridge" in res.output
    assert "pooled Spearman" in res.output
    res = runner.invoke(app, ["estimate", str(out), "--estimators", "cka,bogus"])
    assert res.exit_code == 2
    err = res.stderr.strip()
    assert err.count("\n") == 0 and "bogus" in err and "ridge" in err and "logme" in err
    res = runner.invoke(app, ["estimate", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and "config.yaml" in res.stderr and "Traceback" not in res.output


def test_solve_report_and_serve_say_they_plan_from_estimates(
    run_copy: Path, estimated: Any, tmp_path: Path
) -> None:
    from taskonomy.report.html import build_report
    from taskonomy.report.server import load_solver_data, tasks_payload

    path = RunDir(run_copy).estimated_affinities_csv("ridge")
    res = runner.invoke(app, ["solve", "--affinities", str(path), "--budget", "2",
                              "--max-order", "2", "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "ESTIMATED" in res.stderr
    out = json.loads(res.stdout)
    assert out["affinities_kind"] == "estimated_affinity"
    assert "uncertainty" not in out  # the measured losses beside it are not its intervals
    page = build_report(tmp_path / "rep", affinities=path).read_text(encoding="utf-8")
    assert "ESTIMATED affinities" in page
    served = load_solver_data(affinities=path)
    assert tasks_payload(served)["estimated"] is True and served.losses_path is None
    measured = RunDir(run_copy).table_path("affinity")
    assert tasks_payload(load_solver_data(affinities=measured))["estimated"] is False


def test_run_report_shows_the_calibration(run_copy: Path, estimated: Any, tmp_path: Path) -> None:
    from taskonomy.report.html import build_report

    page = build_report(tmp_path / "rep", run_dir=run_copy).read_text(encoding="utf-8")
    section = page.split('<section id="estimates">')[1].split("</section>")[0]
    assert "pooled Spearman" in section
    for name in ("cka", "rsa", "dds", "ridge", "logme", "logme_probe"):
        assert f"<td class=name>{name}</td>" in section


def test_pipeline_stage_writes_estimates_and_keeps_transfer_keys(
    run_copy: Path, tmp_path: Path, tiny_config: dict[str, Any]
) -> None:
    from taskonomy.pipeline.executors import InProcessExecutor
    from taskonomy.pipeline.run import run_pipeline

    on = load_config(overrides={**tiny_config, "transfer": {**tiny_config["transfer"],
                                                            "estimate": True}})  # fmt: skip
    off = load_config(overrides=tiny_config)
    job_on = Plan(on).transfers([["normal"]], "depth_zbuffer")
    assert job_on.key == Plan(off).transfers([["normal"]], "depth_zbuffer").key
    out = tmp_path / "run"
    shutil.copytree(run_copy, out, ignore=shutil.ignore_patterns("tables"))
    run_pipeline(on, out, executor=InProcessExecutor())  # every job finished: measure only
    rd = RunDir(out)
    assert set(rd.estimated_files()) == {"cka", "rsa", "dds", "ridge", "logme", "logme_probe"}
    assert rd.estimates_vs_measured_csv.is_file()


def test_target_aware_probes_factorize_each_source_set_once(
    run_copy: Path, estimated: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sharing the bases across targets changes no estimate, only the compute."""
    names = ["ridge", "logme", "logme_probe"]
    out = tmp_path / "run"
    shutil.copytree(run_copy, out)
    from taskonomy.pipeline.estimate import _BasisCache

    # no sharing: every (set, target) makes its own basis
    monkeypatch.setattr(_BasisCache, "get", lambda self, key, make: (make(), True))
    alone = estimate_run(out, names, replicates=0)
    monkeypatch.undo()
    for name in names:
        got, want = dict(estimated.tables[name]), dict(alone.tables[name])
        assert got.keys() == want.keys()
        assert got == pytest.approx(want, rel=1e-6, abs=1e-9)
        flops = [sum(c.flops for c in r.compute[name].values()) for r in (estimated, alone)]
        assert flops[0] < flops[1]
    # logme_probe reuses logme's bases: with logme before it, it makes none of its own
    shared = sum(c.flops for c in estimated.compute["logme_probe"].values())
    assert shared < sum(c.flops for c in alone.compute["logme_probe"].values())
    from taskonomy.transfer.estimate import LogME

    made: list[str] = []
    for method in ("basis", "part"):
        real = getattr(LogME, method)
        monkeypatch.setattr(LogME, method, lambda self, reps, _m=method, _r=real: (
            made.append(_m), _r(self, reps))[1])  # fmt: skip
    estimate_run(out, ["logme"], replicates=0)
    by_logme = list(made)
    estimate_run(out, ["logme", "logme_probe"], replicates=0)
    assert by_logme and made[len(by_logme) :] == by_logme


@pytest.mark.parametrize("name", ["ridge", "logme_probe"])
def test_sets_from_summed_source_kernels_change_no_estimate(
    run_copy: Path, estimated: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Where a set has no more rows than features, the probes' basis comes from the sum
    of its sources' kernels: the same estimates as factorizing the concatenation."""
    from taskonomy.transfer.estimate import Estimator, get_estimator

    cls = get_estimator(name)
    out = tmp_path / "run"
    shutil.copytree(run_copy, out)
    combined: list[int] = []
    real = cls.combine

    def spy(self: Estimator, parts: list[Any]) -> Any:
        combined.append(len(parts))
        return real(self, parts)

    monkeypatch.setattr(cls, "combine", spy)
    again = estimate_run(out, [name], replicates=0)
    assert max(combined) >= 2  # the tiny run's order-2 sets are wide enough
    monkeypatch.setattr(cls, "combines", lambda self, n, p: False)
    whole = estimate_run(out, [name], replicates=0)
    got, want = dict(again.tables[name]), dict(whole.tables[name])
    assert got.keys() == want.keys() == dict(estimated.tables[name]).keys()
    assert got == pytest.approx(want, rel=1e-6, abs=1e-9)
    flops = [sum(c.flops for c in r.compute[name].values()) for r in (again, whole)]
    assert flops[0] < flops[1]


def test_rows_key_tells_view_tuples_from_single_views(
    run_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A three-view target whose tuples are consecutive views lists, flattened, the same
    views as a single-view target: the two must not share cached bases."""
    import taskonomy.pipeline.estimate as pe

    rd = RunDir(run_copy)
    reader = pe._RunReader(rd, load_config(rd.config_path))
    views = np.arange(12, dtype=np.int64)
    shapes = {"depth_zbuffer": (12, 1), "normal": (4, 3)}

    def fake_views(bank: Any, target: str, split: str) -> tuple[np.ndarray, None]:
        return views.reshape(shapes[target]), None

    monkeypatch.setattr(pe, "sample_views", fake_views)
    assert reader.rows_key("depth_zbuffer") != reader.rows_key("normal")
    shapes["normal"] = (12, 1)  # the same rows: the same key
    assert reader.rows_key("depth_zbuffer") == reader.rows_key("normal")
