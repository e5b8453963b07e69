"""Threads per job vs workers: which ``threads_per_job`` default is sane on a small CPU box.

Runs one micro config (the test suite's tiny run: 4 targets + random at 32², orders 1-2)
side by side, in one process, under every combination of executor (in-process; a pool of 2
workers) and ``threads_per_job`` (1, 2). The bank is generated once and copied into every
variant's run directory (the data job's key does not depend on threads), so the timed part
is task networks + encoders + transfers + measure. Variants run round-robin ``--repeat``
times so a background load spreads over all of them; printed: the median wall time of each
and its ratio to the fastest.

    python benchmarks/bench_threads.py [--repeat 1]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from taskonomy.pipeline.artifacts import RunDir
from taskonomy.pipeline.config import load_config
from taskonomy.pipeline.executors import Executor, InProcessExecutor, ProcessPoolExecutor
from taskonomy.pipeline.jobs import run_jobs
from taskonomy.pipeline.run import Plan, run_pipeline

MICRO: dict[str, Any] = {
    "seed": 3,
    "tasks": ["depth_zbuffer", "normal", "reshading", "class_scene", "random"],
    "data": {"scenes": 12, "views": 3, "size": 32},
    "model": {"width": 8, "bottleneck_channels": 16},
    "train": {"steps": 30, "batch_size": 16},
    "pixels": {"steps": 10, "batch_size": 16},
    "transfer": {"max_order": 2, "steps": 10, "batch_size": 16},
    "taxonomy": {"budgets": [1, 2, 4], "orders": [1, 2]},
    "sanity": "warn",
}

VARIANTS = [("inprocess", 1), ("inprocess", 2), ("pool2", 1), ("pool2", 2)]


def _executor(name: str) -> Executor:
    return InProcessExecutor() if name == "inprocess" else ProcessPoolExecutor(workers=2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    walls: dict[tuple[str, int], list[float]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        bank_run = RunDir(Path(tmp) / "bank")
        data = Plan(load_config(overrides=MICRO)).data
        run_jobs([data], bank_run)
        for rep in range(args.repeat):
            for name, threads in VARIANTS:
                cfg = load_config(overrides={**MICRO, "threads_per_job": threads})
                out = RunDir(Path(tmp) / f"{name}-{threads}-{rep}")
                shutil.copytree(bank_run.job_dir("data", data.key), out.job_dir("data", data.key))
                t0 = time.perf_counter()
                with _executor(name) as ex:
                    run_pipeline(cfg, out.root, executor=ex)
                walls[(name, threads)].append(time.perf_counter() - t0)
                print(f"{name:9s} threads_per_job={threads}: {walls[(name, threads)][-1]:7.1f} s")
    medians = {v: statistics.median(w) for v, w in walls.items()}
    best = min(medians.values())
    print("\nvariant                     median wall   ratio to fastest")
    for (name, threads), m in medians.items():
        print(f"{name:9s} threads_per_job={threads}   {m:8.1f} s   {m / best:6.2f}x")


if __name__ == "__main__":
    main()
