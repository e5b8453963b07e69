"""Where the quick preset's wall time goes: training/evaluation compute vs everything else.

Runs ``taskonomy run --preset quick`` from scratch into a temporary directory (data
generation included) and reads every job's record. "Compute" is the time jobs spend in
the training loop and in per-image evaluation; everything else (data generation, loading
labels and caches, writing artifacts, AHP, BIP, scheduling, idle workers at stage ends)
is overhead. Printed: wall time, compute summed over jobs, the overhead share
1 − Σ compute / (workers × wall), and a per-stage table.

    python benchmarks/bench_pipeline.py [--workers 2] [--preset quick]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from taskonomy.pipeline.config import load_config
from taskonomy.pipeline.executors import InProcessExecutor, ProcessPoolExecutor
from taskonomy.pipeline.run import run_pipeline


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    cfg = load_config(preset=args.preset)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        t0 = time.perf_counter()
        ex = ProcessPoolExecutor(args.workers) if args.workers > 1 else InProcessExecutor()
        with ex:
            result = run_pipeline(cfg, out, executor=ex)
        wall = time.perf_counter() - t0
        compute: dict[str, float] = defaultdict(float)
        job_wall: dict[str, float] = defaultdict(float)
        for record in (out / "jobs").glob("*/*/job.json"):
            rec = json.loads(record.read_text())
            res = rec.get("result") or {}
            compute[rec["kind"]] += float(res.get("compute_seconds", 0.0))
            job_wall[rec["kind"]] += float(rec.get("wall_s", 0.0))
    total_compute = sum(compute.values())
    print(f"preset {args.preset}, {args.workers} worker(s): wall {wall:.1f} s")
    print(f"{'job kind':10s} {'job wall (Σ)':>13s} {'compute (Σ)':>12s}")
    for kind in sorted(job_wall):
        print(f"{kind:10s} {job_wall[kind]:12.1f}s {compute[kind]:11.1f}s")
    print("stages: " + ", ".join(f"{k} {v:.1f}s" for k, v in result.seconds.items()))
    share = 1 - total_compute / (args.workers * wall)
    print(f"training/evaluation compute: {total_compute:.1f} s over {args.workers} worker(s)")
    print(f"overhead share of wall time (goal ≤ 15%): {share:.1%}")


if __name__ == "__main__":
    main()
