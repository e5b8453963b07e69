"""Results do not depend on how a run executes: every executor runs a job on the same fixed
thread count (``threads_per_job``, part of the job key)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from taskonomy.pipeline.artifacts import RunDir
from taskonomy.pipeline.config import load_config
from taskonomy.pipeline.executors import ProcessPoolExecutor
from taskonomy.pipeline.jobs import Job, WorkItem, execute_job
from taskonomy.pipeline.run import Plan, run_pipeline


def _files(run: Path, pattern: str) -> dict[str, bytes]:
    return {p.relative_to(run).as_posix(): p.read_bytes() for p in sorted(run.glob(pattern))}


def test_threads_enter_the_key_and_the_plan_fixes_them(tiny_config: dict[str, Any]) -> None:
    a = Job("testtoy_base", {"size": 2}, threads=1)
    assert a.key != Job("testtoy_base", {"size": 2}, threads=2).key
    assert Job("testtoy_base", {"size": 2}).key != a.key  # None: the executor's choice
    one = Plan(load_config(overrides=tiny_config))
    two = Plan(load_config(overrides={**tiny_config, "threads_per_job": 2}))
    assert one.cfg.threads_per_job == 1  # the default
    assert one.data.key == two.data.key  # the bank does not depend on it
    for t in one.train:
        assert one.train[t].threads == 1 and two.train[t].threads == 2
        assert one.train[t].key != two.train[t].key
    assert {j.threads for j in one.first_order().values()} == {1}
    # workers and the executor are not part of any key
    assert Plan(load_config(overrides={**tiny_config, "workers": 2})).train == one.train


def test_the_job_thread_count_wins_over_the_executors(tmp_path: Path) -> None:
    import _toy_jobs  # noqa: F401  (registers the toy kinds)

    job = Job("testtoy_base", {"task": "a", "size": 4, "iters": 1}, threads=1)
    outcome = execute_job(WorkItem(job, str(tmp_path), "_toy_jobs", 2))
    assert outcome.ok
    assert RunDir(tmp_path).read_record(job.kind, job.key)["threads"] == 1


def test_inprocess_and_pool_of_two_give_identical_bytes(
    tmp_path: Path, tiny_run: tuple[Path, Any], tiny_config: dict[str, Any]
) -> None:
    reference, _ = tiny_run  # in-process
    cfg = load_config(overrides={k: v for k, v in tiny_config.items() if k != "workers"})
    assert cfg.workers == 2
    out = tmp_path / "pool2"
    with ProcessPoolExecutor(workers=2) as pool:
        run_pipeline(cfg, out, executor=pool)
    for pattern in ("tables/*", "taxonomies/*", "jobs/*/*/test_losses.npy",
                    "jobs/*/*/*.safetensors"):  # fmt: skip
        mine, theirs = _files(out, pattern), _files(reference, pattern)
        assert mine, pattern
        assert mine.keys() == theirs.keys(), pattern
        differ = [name for name in mine if mine[name] != theirs[name]]
        assert differ == [], f"{len(differ)} files differ, e.g. {differ[:3]}"


@pytest.mark.parametrize("threads", [1, 2])
def test_pool_workers_apply_the_job_thread_count(tmp_path: Path, threads: int) -> None:
    import _toy_jobs  # noqa: F401

    job = Job("testtoy_base", {"task": "b", "size": 4, "iters": 1}, threads=threads)
    with ProcessPoolExecutor(workers=2) as pool:
        outcome = pool.submit(execute_job, WorkItem(job, str(tmp_path), "_toy_jobs", 1)).result()
    assert outcome.ok
    assert RunDir(tmp_path).read_record(job.kind, job.key)["threads"] == threads


def test_an_inprocess_job_leaves_the_callers_threads_alone(tmp_path: Path) -> None:
    import os

    import torch

    import _toy_jobs  # noqa: F401

    before, env = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    torch.set_num_threads(2)
    try:
        job = Job("testtoy_base", {"task": "c", "size": 4, "iters": 1}, threads=1)
        assert execute_job(WorkItem(job, str(tmp_path), "_toy_jobs", None)).ok
        assert RunDir(tmp_path).read_record(job.kind, job.key)["threads"] == 1
        assert torch.get_num_threads() == 2
        assert os.environ.get("OMP_NUM_THREADS") == env
    finally:
        torch.set_num_threads(before)
