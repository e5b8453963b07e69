"""Engine overhead per job: trivial jobs through run_jobs, and the cost of skipping.

Usage: python benchmarks/bench_engine_overhead.py [N_JOBS]

Prints, measured in this one run: seconds per executed trivial job (in-process and a 2-worker
process pool, pool start-up included), seconds per skipped (already finished) job on rerun,
and the ratio of a real job's cost to that overhead. The job kind is defined here, in
``__main__``: spawned workers re-import this script, which registers it there too.
"""

from __future__ import annotations

import sys
import tempfile
import time

from taskonomy.io import atomic_write_bytes
from taskonomy.pipeline import InProcessExecutor, Job, JobContext, ProcessPoolExecutor, run_jobs
from taskonomy.pipeline.jobs import job_kind


@job_kind("bench_trivial")
def run_trivial(job: Job, ctx: JobContext) -> None:
    atomic_write_bytes(ctx.out_dir / "x.bin", ctx.rng().bytes(64))


@job_kind("bench_matmul")
def run_matmul(job: Job, ctx: JobContext) -> None:
    a = ctx.rng().standard_normal((256, 256))  # (256, 256)
    atomic_write_bytes(ctx.out_dir / "x.bin", (a @ a).tobytes())


def main(n: int) -> None:
    trivial = [Job("bench_trivial", {"i": i}) for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_jobs(trivial, f"{tmp}/a", executor=InProcessExecutor())
        per_inproc = (time.perf_counter() - t0) / n
        t0 = time.perf_counter()
        report = run_jobs(trivial, f"{tmp}/a")
        per_skip = (time.perf_counter() - t0) / n
        assert report.n_skipped == n
        with ProcessPoolExecutor(workers=2) as pool:
            t0 = time.perf_counter()
            run_jobs(trivial, f"{tmp}/b", executor=pool)
            per_pool = (time.perf_counter() - t0) / n
        work = [Job("bench_matmul", {"i": i}) for i in range(20)]
        t0 = time.perf_counter()
        run_jobs(work, f"{tmp}/c")
        per_work = (time.perf_counter() - t0) / len(work)
    print(f"jobs: {n} trivial (shared 2-core CPU: timings are pessimistic)")
    print(f"in-process executed : {per_inproc * 1e3:8.2f} ms/job")
    print(f"skipped on rerun    : {per_skip * 1e3:8.2f} ms/job")
    print(f"process pool (2)    : {per_pool * 1e3:8.2f} ms/job (incl. worker start-up)")
    print(f"256² matmul job     : {per_work * 1e3:8.2f} ms/job in-process")
    print(f"engine overhead / matmul job: {per_inproc / per_work:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
