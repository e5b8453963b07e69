"""Benchmark the affinity bootstrap: 1,000 replicates of a 25-target table.

    python benchmarks/bench_bootstrap.py            # 25 targets × 30–60 transfers, N = 1000
    python benchmarks/bench_bootstrap.py --quick    # 5 targets, 200 replicates

Synthetic per-image losses from a seeded generator: per target, each transfer has a quality
``q ~ U(0, 1)`` and losses ``q + 0.5 · noise + image difficulty`` (shared by all transfers of
the target, as real test images are), so tournaments are neither trivial nor random.
Goal: ``AffinityBootstrap(n_replicates=1000).fit`` in ≤ 60 s on 2 cores. Also prints the
time of one plain ``AHP().fit`` pass over the table, for scale.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from taskonomy.affinity.ahp import AHP
from taskonomy.affinity.bootstrap import AffinityBootstrap
from taskonomy.tasks import list_tasks


def synthetic_losses(
    n_targets: int, n_images: int, seed: int = 0, n_seeds: int = 1
) -> dict[str, dict[str, np.ndarray]]:
    """target → {label → (N,) or (S, N) losses}, with 30–60 transfers per target."""
    rng = np.random.default_rng(seed)
    tasks = list_tasks()
    targets = tasks[:n_targets]
    out: dict[str, dict[str, np.ndarray]] = {}
    for t in targets:
        others = [s for s in tasks if s != t]
        n = int(rng.integers(30, 61))
        labels = ["self", "random", "pixels"]
        while len(labels) < n:
            k = int(rng.integers(1, 4))
            label = "+".join(sorted(rng.choice(others, size=k, replace=False)))
            if label not in labels:
                labels.append(label)
        difficulty = rng.gamma(2.0, 0.5, size=n_images)  # (N,)
        shape = (n_images,) if n_seeds == 1 else (n_seeds, n_images)
        out[t] = {
            lab: rng.uniform() + 0.5 * rng.standard_normal(shape) + difficulty for lab in labels
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=1, help="training seeds per transfer (S)")
    args = ap.parse_args()
    n_targets, n_rep = (5, 200) if args.quick else (25, 1000)
    losses = synthetic_losses(n_targets, 1000, seed=0, n_seeds=args.seeds)
    n_tr = sum(len(v) - 1 for v in losses.values())  # pixels is not an AHP row
    t0 = time.perf_counter()
    for rows in losses.values():
        AHP().fit(
            np.stack([np.atleast_2d(v).reshape(-1) for k, v in rows.items() if k != "pixels"])
        )
    t_point = time.perf_counter() - t0
    t0 = time.perf_counter()
    boot = AffinityBootstrap(n_replicates=n_rep, seed=0).fit(losses)
    t_boot = time.perf_counter() - t0
    width = np.mean([boot.upper_[tr] - boot.lower_[tr] for tr in boot.lower_])
    print(
        f"{n_targets} targets, {n_tr} transfers, N=1000, S={args.seeds}, R={n_rep}: "
        f"bootstrap {t_boot:.2f} s (goal ≤ 60 s), one AHP pass {t_point:.3f} s, "
        f"mean 95% interval width {width:.4f}"
    )


if __name__ == "__main__":
    main()
