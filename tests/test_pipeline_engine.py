"""The job engine: content-addressed keys, atomic job folders, resumption, executors.

Toy job kinds live in tests/_toy_jobs.py so pool workers and subprocesses can import them.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import _toy_jobs as toy
from taskonomy.errors import TaskonomyError
from taskonomy.pipeline import (
    InProcessExecutor,
    Job,
    LogProgress,
    ProcessPoolExecutor,
    RayExecutor,
    RichProgress,
    RunDir,
    make_executor,
    run_jobs,
    topological_order,
)
from taskonomy.pipeline.executors import cpu_count
from taskonomy.pipeline.jobs import JobContext

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(SRC), env.get("PYTHONPATH", "")])
    return env


def _artifacts(root: Path) -> dict[str, bytes]:
    """Every job artifact (not job.json, which holds timings) by path relative to jobs/."""
    jobs = root / "jobs"
    return {
        str(p.relative_to(jobs)): p.read_bytes()
        for p in sorted(jobs.rglob("*"))
        if p.is_file() and p.name != "job.json"
    }


def _counts(root: Path) -> dict[str, int]:
    return {p.stem: len(p.read_text().splitlines()) for p in (root / "counters").glob("*.txt")}


def _final_dirs(root: Path) -> list[Path]:
    return [p.parent for p in (root / "jobs").glob("*/*/job.json")]


def _temp_dirs(root: Path) -> list[Path]:
    return [p for p in (root / "jobs").glob("*/.*") if ".tmp-" in p.name]


# -- keys -------------------------------------------------------------------------------
def test_key_is_stable_across_processes_and_param_order() -> None:
    a = Job("testtoy_base", {"task": "t0", "size": 8, "iters": 1, "nested": {"x": [1, 2.5]}})
    # Key order is irrelevant and tuples count as JSON lists.
    params_b = {"nested": {"x": (1, 2.5)}, "iters": 1, "size": 8, "task": "t0"}
    b = Job("testtoy_base", params_b)  # type: ignore[arg-type]
    assert a.key == b.key and a == b and len(a.key) == 20
    code = (
        "from taskonomy.pipeline import Job; "
        "print(Job('testtoy_base', {'task': 't0', 'size': 8, 'iters': 1, "
        "'nested': {'x': [1, 2.5]}}).key)"
    )
    # A fresh interpreter with another hash seed must derive the same key.
    env = _env() | {"PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == a.key
    assert pickle.loads(pickle.dumps(a)).key == a.key


def test_key_is_sensitive_to_params_kind_version_and_deps_but_not_name() -> None:
    base = Job("testtoy_base", {"task": "t0", "size": 8, "iters": 1})
    other = Job("testtoy_base", {"task": "t1", "size": 8, "iters": 1})
    pair = Job("testtoy_pair", {"iters": 1}, deps=(base, other))
    keys = {
        base.key,
        other.key,
        Job("testtoy_base", {"task": "t0", "size": 8, "iters": 2}).key,
        Job("testtoy_base", {"task": "t0", "size": 8, "iters": 1.0}).key,  # float != int
        Job("testtoy_pair", {"task": "t0", "size": 8, "iters": 1}).key,
        Job("testtoy_base", {"task": "t0", "size": 8, "iters": 1}, version="2").key,
        pair.key,
        Job("testtoy_pair", {"iters": 1}, deps=(base,)).key,
    }
    assert len(keys) == 8
    # An upstream change propagates downstream.
    changed = Job("testtoy_base", {"task": "t1", "size": 9, "iters": 1})
    assert Job("testtoy_pair", {"iters": 1}, deps=(base, changed)).key != pair.key
    # Labels and dep order do not change what is computed.
    assert Job("testtoy_pair", {"iters": 1}, deps=(other, base), name="x").key == pair.key
    assert base.seed == int(base.key[:8], 16)


@pytest.mark.parametrize(
    "params", [{"x": np.float32(1.0)}, {"x": float("nan")}, {1: "a"}, {"p": Path("a")}]
)
def test_params_must_be_json(params: dict) -> None:
    with pytest.raises(TaskonomyError, match="expected"):
        Job("testtoy_base", params)


# -- resumption -------------------------------------------------------------------------
def test_rerun_skips_finished_jobs_and_accepts_new_ones(tmp_path: Path) -> None:
    jobs = toy.make_graph(n_bases=3, size=16, iters=2)
    bases = [j for j in jobs if j.kind == "testtoy_base"]
    first = run_jobs(bases, tmp_path, stage="train")
    assert (first.n_executed, first.n_skipped) == (3, 0)
    second = run_jobs(jobs, tmp_path, stage="transfer")  # stages added incrementally
    assert (second.n_executed, second.n_skipped) == (len(jobs) - 3, 3)
    third = run_jobs(jobs, tmp_path)
    assert (third.n_executed, third.n_skipped) == (0, len(jobs))
    assert sorted(_counts(tmp_path).values()) == [1] * len(jobs)
    assert RunDir(tmp_path).finished_keys("testtoy_base") == sorted(b.key for b in bases)
    record = RunDir(tmp_path).read_record("testtoy_base", bases[0].key)
    assert record["status"] == "done" and record["params"] == bases[0].params
    assert record["result"]["checksum"] >= 0
    # Deps given only implicitly are run too.
    fresh = tmp_path / "fresh"
    assert run_jobs([jobs[-1]], fresh).n_executed == len(jobs)


def test_failing_job_leaves_no_partial_folder_and_keeps_finished_ones(tmp_path: Path) -> None:
    base = Job("testtoy_base", {"task": "t0", "size": 8, "iters": 1}, name="base t0")
    bad = Job("testtoy_fail", {"why": "on purpose"}, deps=(base,), name="the bad one")
    after = Job("testtoy_pair", {"iters": 1}, deps=(bad,), name="never runs")
    with pytest.raises(TaskonomyError) as info:
        run_jobs([after], tmp_path)
    msg = str(info.value)
    log = RunDir(tmp_path).log_path("testtoy_fail", bad.key)
    assert "the bad one" in msg and "toy failure on purpose" in msg and str(log) in msg
    assert "toy failure on purpose" in log.read_text() and "Traceback" in log.read_text()
    rd = RunDir(tmp_path)
    assert rd.is_finished("testtoy_base", base.key)
    assert not rd.job_dir("testtoy_fail", bad.key).exists()
    assert not rd.job_dir("testtoy_pair", after.key).exists()
    assert _temp_dirs(tmp_path) == []
    # The dependent job never started; the base is not redone on a retry.
    assert _counts(tmp_path) == {f"testtoy_base-{base.key}": 1, f"testtoy_fail-{bad.key}": 1}
    with pytest.raises(TaskonomyError):
        run_jobs([after], tmp_path)
    assert _counts(tmp_path)[f"testtoy_base-{base.key}"] == 1


def test_sigkill_during_transfer_stage_then_rerun_completes(tmp_path: Path) -> None:
    iters = 40  # ~50-100 ms of integer matmuls per job on this machine
    jobs = toy.make_graph(n_bases=4, size=96, iters=iters)
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    script = (
        "import sys, _toy_jobs as toy\n"
        "from taskonomy.pipeline import run_jobs\n"
        f"jobs = toy.make_graph(n_bases=4, size=96, iters={iters})\n"
        "run_jobs([j for j in jobs if j.kind == 'testtoy_base'], sys.argv[1], stage='train')\n"
        "run_jobs(jobs, sys.argv[1], stage='transfer')\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(killed)], env=_env())
    try:
        # Wait (bounded) until >= 5 jobs, at least one transfer (pair), are final.
        for _ in range(3000):
            finals = _final_dirs(killed) if (killed / "jobs").is_dir() else []
            if len(finals) >= 5 and any(p.parent.name == "testtoy_pair" for p in finals):
                break
            try:
                proc.wait(timeout=0.02)
            except subprocess.TimeoutExpired:
                continue
            pytest.fail(f"the run ended (rc={proc.returncode}) before it could be killed")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = {p: (p / "job.json").stat() for p in _final_dirs(killed)}
    assert 5 <= len(before) < len(jobs), "the kill must land mid-run"
    print(f"killed after {len(before)} of {len(jobs)} jobs")

    report = run_jobs(jobs, killed, stage="transfer")
    assert report.n_skipped == len(before)
    assert report.n_executed == len(jobs) - len(before)
    counts = _counts(killed)
    for folder, st in before.items():
        now = (folder / "job.json").stat()
        assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns)
        assert counts[f"{folder.parent.name}-{folder.name}"] == 1  # never retrained
    assert len(_final_dirs(killed)) == len(jobs)
    assert _temp_dirs(killed) == []  # stale temp folder of the killed job is gone

    run_jobs(jobs, clean)
    assert _artifacts(killed) == _artifacts(clean)
    table = RunDir(clean).job_dir("testtoy_table", jobs[-1].key) / "table.json"
    assert len(json.loads(table.read_text())) == 12


def test_stale_temp_folder_of_dead_process_is_removed(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    job = Job("testtoy_base", {"task": "t0", "size": 8, "iters": 1})
    tmp = rd.new_temp_dir(job.kind, job.key)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = tmp.with_name(tmp.name.replace(f"-{os.getpid()}-", f"-{dead.stdout.strip()}-"))
    tmp.rename(stale)
    live = rd.new_temp_dir(job.kind, job.key)  # ours, still being written: kept
    assert rd.remove_stale_temps() == [stale]
    assert not stale.exists() and live.exists()


# -- executors --------------------------------------------------------------------------
def test_process_pool_gives_byte_identical_artifacts(tmp_path: Path) -> None:
    jobs = toy.make_graph(n_bases=3, size=48, iters=10)
    run_jobs(jobs, tmp_path / "inproc", executor=InProcessExecutor())
    with ProcessPoolExecutor(workers=2) as pool:
        report = run_jobs(jobs, tmp_path / "pool", executor=pool)
    assert report.n_executed == len(jobs)
    a, b = _artifacts(tmp_path / "inproc"), _artifacts(tmp_path / "pool")
    assert a == b and len(a) == len(jobs)
    records = [RunDir(tmp_path / "pool").read_record(j.kind, j.key) for j in jobs]
    assert os.getpid() not in {r["pid"] for r in records}  # really ran in the workers
    assert {r["threads"] for r in records} == {max(1, cpu_count() // 2)}


def test_ray_executor_gives_byte_identical_artifacts(tmp_path: Path, ray_local: Any) -> None:
    jobs = toy.make_graph(n_bases=3, size=48, iters=10)
    run_jobs(jobs, tmp_path / "inproc", executor=InProcessExecutor())
    ex = RayExecutor()
    assert ex.max_parallel == 2 and ex.threads == 1
    report = run_jobs(jobs, tmp_path / "ray", executor=ex)
    assert report.n_executed == len(jobs)
    a, b = _artifacts(tmp_path / "inproc"), _artifacts(tmp_path / "ray")
    assert a == b and len(a) == len(jobs)
    records = [RunDir(tmp_path / "ray").read_record(j.kind, j.key) for j in jobs]
    assert os.getpid() not in {r["pid"] for r in records}  # ran in Ray's workers
    assert {r["threads"] for r in records} == {1}


def test_ray_executor_without_ray_explains_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    with pytest.raises(TaskonomyError, match=r"taskonomy\[ray\]"):
        RayExecutor()


def test_make_executor_by_name() -> None:
    assert isinstance(make_executor("inprocess"), InProcessExecutor)
    pool = make_executor("pool", workers=3)
    assert isinstance(pool, ProcessPoolExecutor) and pool.max_parallel == 3
    with pytest.raises(TaskonomyError, match="inprocess, pool, ray"):
        make_executor("dask")


def test_bad_pool_settings_are_refused() -> None:
    with pytest.raises(TaskonomyError, match="workers"):
        ProcessPoolExecutor(workers=0)
    with pytest.raises(TaskonomyError, match="fork"):
        ProcessPoolExecutor(start_method="fork")


# -- graph errors -----------------------------------------------------------------------
def test_cycle_is_reported(tmp_path: Path) -> None:
    a = Job("testtoy_base", {"task": "a", "size": 8, "iters": 1}, name="job a")
    b = Job("testtoy_pair", {"iters": 1}, deps=(a,), name="job b")
    # Keys make cycles unbuildable through the constructor; force one to test the guard.
    object.__setattr__(a, "deps", (b,))
    with pytest.raises(TaskonomyError, match=r"cycle.*job a, job b"):
        topological_order([b])
    with pytest.raises(TaskonomyError, match="cycle"):
        run_jobs([a], tmp_path)
    assert not (tmp_path / "jobs" / "testtoy_base").exists()


def test_unknown_kind_lists_valid_kinds_before_running_anything(tmp_path: Path) -> None:
    ok = Job("testtoy_base", {"task": "t0", "size": 8, "iters": 1})
    with pytest.raises(TaskonomyError, match=r"testtoy_nope.*testtoy_base.*testtoy_pair"):
        run_jobs([ok, Job("testtoy_nope", {})], tmp_path)
    assert not RunDir(tmp_path).is_finished(ok.kind, ok.key)


def test_topological_order_puts_deps_first() -> None:
    jobs = toy.make_graph(n_bases=3, size=8, iters=1)
    order = topological_order(reversed(jobs))
    pos = {j.key: i for i, j in enumerate(order)}
    assert len(order) == len(jobs)
    assert all(pos[d.key] < pos[j.key] for j in jobs for d in j.deps)


def test_dep_dir_refuses_jobs_that_are_not_deps(tmp_path: Path) -> None:
    a = Job("testtoy_base", {"task": "a", "size": 8, "iters": 1})
    b = Job("testtoy_pair", {"iters": 1}, deps=(a,))
    import logging

    ctx = JobContext(b, RunDir(tmp_path), tmp_path, logging.getLogger("t"), 1)
    assert ctx.dep_dir(a) == tmp_path / "jobs" / "testtoy_base" / a.key
    with pytest.raises(TaskonomyError, match="dependency"):
        ctx.dep_dir(b)


# -- progress ---------------------------------------------------------------------------
def test_progress_reports_stage_and_counts(tmp_path: Path) -> None:
    jobs = toy.make_graph(n_bases=2, size=8, iters=1)
    plain = io.StringIO()
    run_jobs(jobs[:2], tmp_path, progress=LogProgress(plain), stage="train")
    run_jobs(jobs, tmp_path, progress=LogProgress(plain), stage="transfer")
    lines = plain.getvalue().splitlines()
    assert "[train] 2 jobs, 0 already finished, 2 to run" in lines
    assert "[transfer] 5 jobs, 2 already finished, 3 to run" in lines
    assert any(line.startswith("[transfer] 5/5 done: table") for line in lines)
    fancy = io.StringIO()
    bigger = toy.make_graph(n_bases=3, size=8, iters=1)  # 2 of its 3 bases already done
    run_jobs(bigger, tmp_path, progress=RichProgress(fancy), stage="more")
    assert "more" in fancy.getvalue() and f"{len(bigger)}/{len(bigger)}" in fancy.getvalue()


def test_heaviest_ready_jobs_start_first_and_cost_is_not_in_the_key(tmp_path: Path) -> None:
    costs = [1.0, 5.0, 3.0, 5.0, 2.0]
    jobs = [
        Job("testtoy_base", {"size": 4, "iters": 1, "task": f"t{i}"}, cost=c)
        for i, c in enumerate(costs)
    ]
    assert Job("testtoy_base", dict(jobs[0].params), cost=99.0).key == jobs[0].key
    report = run_jobs(jobs, tmp_path)  # in-process: one at a time, in start order
    started = [run.job.cost for run in report.executed]
    assert started == sorted(costs, reverse=True)
    # equal costs keep the topological (key) order
    fives = [run.job.key for run in report.executed if run.job.cost == 5.0]
    assert fives == sorted(fives)
