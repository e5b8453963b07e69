"""Toy job kinds for tests/test_pipeline_engine.py (imported as ``_toy_jobs``).

They live in a module of their own, not in the test file, because spawned pool workers and
the kill test's ``python -c`` subprocess must import them by name (pytest puts tests/ on
sys.path; the subprocess gets it through PYTHONPATH). Each job does real, seeded integer
work (exact arithmetic: byte-identical under any thread count) and appends one line to
``<run>/counters/<kind>-<key>.txt`` when it starts, so tests can count executions.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping

import numpy as np

from taskonomy.io import atomic_write_bytes, atomic_write_text
from taskonomy.pipeline import Job, JobContext, job_kind

PRIME = 1_000_003


def _count(job: Job, ctx: JobContext) -> None:
    counters = ctx.run_dir.root / "counters"
    counters.mkdir(exist_ok=True)
    with open(counters / f"{job.kind}-{job.key}.txt", "a", encoding="utf-8") as fh:
        fh.write(f"{os.getpid()}\n")


def _work(x: np.ndarray, rng: np.random.Generator, iters: int) -> np.ndarray:
    w = rng.integers(0, PRIME, size=(x.shape[1], x.shape[1]), dtype=np.int64)  # (n, n)
    for _ in range(iters):
        # (n, n) @ (n, n) mod p; entries < p so products fit int64 after a split.
        x = ((x @ (w % 1000)) % PRIME + (x @ (w // 1000)) % PRIME * 1000) % PRIME
    return x


def _save(path: os.PathLike[str], arr: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, arr)
    atomic_write_bytes(path, buf.getvalue())


@job_kind("testtoy_base")
def run_base(job: Job, ctx: JobContext) -> Mapping[str, int]:
    _count(job, ctx)
    size, iters = int(job.params["size"]), int(job.params["iters"])  # type: ignore[arg-type]
    rng = ctx.rng()
    x = rng.integers(0, PRIME, size=(size, size), dtype=np.int64)  # (size, size)
    x = _work(x, rng, iters)
    _save(ctx.out_dir / "array.npy", x)
    ctx.logger.info("base %s done", job.params.get("task"))
    return {"checksum": int(x.sum() % PRIME)}


@job_kind("testtoy_pair")
def run_pair(job: Job, ctx: JobContext) -> None:
    _count(job, ctx)
    iters = int(job.params["iters"])  # type: ignore[arg-type]
    arrays = [np.load(ctx.dep_dir(d) / "array.npy") for d in ctx.deps_of_kind("testtoy_base")]
    x = sum(arrays[1:], arrays[0]) % PRIME  # (size, size)
    _save(ctx.out_dir / "array.npy", _work(x, ctx.rng(), iters))


@job_kind("testtoy_table")
def run_table(job: Job, ctx: JobContext) -> None:
    _count(job, ctx)
    table = {d.name: float(np.load(ctx.dep_dir(d) / "array.npy").mean() / PRIME) for d in job.deps}
    atomic_write_text(ctx.out_dir / "table.json", json.dumps(table, sort_keys=True))


@job_kind("testtoy_fail")
def run_fail(job: Job, ctx: JobContext) -> None:
    _count(job, ctx)
    (ctx.out_dir / "partial.txt").write_text("half-written")
    raise RuntimeError(f"toy failure {job.params.get('why', '')}")


def make_graph(n_bases: int = 4, size: int = 96, iters: int = 20) -> list[Job]:
    """``n_bases`` base jobs, one pair job per ordered pair, one table over all pairs."""
    bases = [
        Job("testtoy_base", {"task": f"t{i}", "size": size, "iters": iters}, name=f"base t{i}")
        for i in range(n_bases)
    ]
    pairs = [
        Job(
            "testtoy_pair",
            {"src": a.params["task"], "dst": b.params["task"], "iters": iters},
            deps=(a, b),
            name=f"pair {a.params['task']}->{b.params['task']}",
        )
        for a in bases
        for b in bases
        if a is not b
    ]
    table = Job("testtoy_table", {}, deps=tuple(pairs), name="table")
    return [*bases, *pairs, table]


@job_kind("testtoy_gpu")
def run_gpu(job: Job, ctx: JobContext) -> Mapping[str, str | None]:
    """Records the GPUs Ray assigned to this job (``CUDA_VISIBLE_DEVICES``) and the
    execution settings it was handed (tests/test_ray_cluster.py)."""
    from taskonomy.pipeline.execution import current

    out = run_base(job, ctx)
    return {
        **{k: str(v) for k, v in out.items()},
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "device": current().device,
    }


@job_kind("testtoy_die_once")
def run_die_once(job: Job, ctx: JobContext) -> Mapping[str, int]:
    """Kills its worker process on the first attempt (a marker file in the run directory
    tells attempts apart), after half-writing an artifact; computes normally on a retry."""
    marker = ctx.run_dir.root / f"died-{job.key}"
    (ctx.out_dir / "array.npy").write_bytes(b"half-written")
    if not marker.exists():
        marker.write_text("died once\n")
        os._exit(17)  # a worker death, not a Python exception: only a Ray retry helps
    return run_base(job, ctx)


def probe_elsewhere(root: str, token: str, node: str) -> str:
    """The run-directory probe of a node that does not have the run's filesystem mounted."""
    from taskonomy.pipeline.executors import _probe_node

    return _probe_node(root + "-not-mounted-here", token, node)
