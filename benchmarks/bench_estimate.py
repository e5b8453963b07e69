"""Cost of the target-aware estimators with and without a shared basis: every source's
representation probed for every target, each factorized per (source, target) pair or once
per source (``Estimator.basis``, as ``taskonomy estimate`` does). Rounds interleave the two
so that a loaded machine slows both alike; prints seconds and counted FLOPs side by side
and their ratios, and checks that both give the same scores (docs/estimate.md).

Then ridge on the order-2 sets (every pair of sources, for every target), three ways: the
primal form on each concatenation (p = 2 × 512 features, the pre-dual estimator), the dual
form on each concatenation (n × n kernels, as the small split has fewer rows than that),
and the dual form from the sources' kernels summed (``Ridge.part`` once per source,
``Ridge.combine`` per pair, as ``taskonomy estimate`` does).

    python benchmarks/bench_estimate.py                 # laptop-preset shapes (p = 512)
    python benchmarks/bench_estimate.py --sources 4 --targets 4 --rounds 1
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from taskonomy.transfer.estimate import Estimator, Ridge, get_estimator


def _problem(
    sources: int, targets: int, n: int, n_test: int, p: int, k: int, seed: int
) -> tuple[list[dict[str, np.ndarray]], list[dict[str, np.ndarray]]]:
    rng = np.random.default_rng(seed)
    reps = [{"small": rng.normal(size=(n, p)), "test": rng.normal(size=(n_test, p))}
            for _ in range(sources)]  # fmt: skip
    labels = []
    for _ in range(targets):
        w = rng.normal(size=(p, k)) / np.sqrt(p)
        src = reps[int(rng.integers(sources))]
        labels.append({s: x @ w + rng.normal(size=(len(x), k)) for s, x in src.items()})
    return reps, labels


def _run(
    name: str,
    reps: list[dict[str, np.ndarray]],
    labels: list[dict[str, np.ndarray]],
    shared: bool,
) -> tuple[float, float, list[float]]:
    est_cls = get_estimator(name)
    t0 = time.perf_counter()
    flops, scores = 0.0, []
    for x in reps:
        basis = est_cls().basis(x) if shared else None
        flops += basis.flops if basis is not None else 0
        for y in labels:
            est: Estimator = est_cls().fit(x, y, basis)
            flops += est.flops_
            scores.append(est.score_)
    return time.perf_counter() - t0, flops, scores


def _pairs(
    how: str, reps: list[dict[str, np.ndarray]], labels: list[dict[str, np.ndarray]]
) -> tuple[float, float, list[float]]:
    t0 = time.perf_counter()
    flops, scores = 0.0, []
    est = Ridge(solver="primal" if how == "primal" else "auto")
    parts = [est.part(x) for x in reps] if how == "parts" else []
    flops += sum(b.flops for b in parts)
    for i, j in itertools.combinations(range(len(reps)), 2):
        x = {s: np.hstack([reps[i][s], reps[j][s]]) for s in reps[i]}
        basis = est.combine([parts[i], parts[j]]) if parts else est.basis(x)
        flops += basis.flops
        for y in labels:
            fitted = Ridge(solver=est.solver).fit(x, y, basis)
            flops += fitted.flops_
            scores.append(fitted.score_)
    return time.perf_counter() - t0, flops, scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sources", type=int, default=8)
    ap.add_argument("--targets", type=int, default=8)
    ap.add_argument("--n", type=int, default=720, help="small-split rows")
    ap.add_argument("--n-test", type=int, default=720)
    ap.add_argument("--p", type=int, default=512, help="features: 32 channels × 4 × 4")
    ap.add_argument("--k", type=int, default=48, help="label columns: 3 channels × 4 × 4")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    reps, labels = _problem(args.sources, args.targets, args.n, args.n_test, args.p, args.k, 0)
    print(f"{args.sources} sources × {args.targets} targets, n={args.n}, test={args.n_test}, "
          f"p={args.p}, k={args.k}; best of {args.rounds} interleaved rounds")  # fmt: skip
    print(f"{'estimator':<12} {'alone s':>8} {'shared s':>9} {'ratio':>6} "
          f"{'alone GFLOP':>12} {'shared GFLOP':>13} {'ratio':>6}")  # fmt: skip
    for name in ("ridge", "logme", "logme_probe"):
        best: dict[bool, tuple[float, float, list[float]]] = {}
        for _ in range(args.rounds):
            for shared in (False, True):
                got = _run(name, reps, labels, shared)
                if shared not in best or got[0] < best[shared][0]:
                    best[shared] = got
        (sa, fa, ra), (ss, fs, rs) = best[False], best[True]
        np.testing.assert_allclose(rs, ra, rtol=1e-8)  # same estimates
        print(f"{name:<12} {sa:8.2f} {ss:9.2f} {sa / ss:6.1f} "
              f"{fa / 1e9:12.1f} {fs / 1e9:13.1f} {fa / fs:6.1f}")  # fmt: skip
    print(f"\nridge on the {len(reps) * (len(reps) - 1) // 2} source pairs × {len(labels)} targets "
          f"(p = {2 * args.p} ≥ n = {args.n}: dual)")  # fmt: skip
    print(f"{'form':<24} {'s':>8} {'GFLOP':>8} {'s ratio':>8} {'FLOP ratio':>11}  (primal / this)")
    got: dict[str, tuple[float, float, list[float]]] = {}
    for _ in range(args.rounds):
        for how in ("primal", "dual", "parts"):
            one = _pairs(how, reps, labels)
            if how not in got or one[0] < got[how][0]:
                got[how] = one
    names = {"primal": "primal per pair", "dual": "dual per pair", "parts": "dual, summed kernels"}
    for how, (sec, fl, sc) in got.items():
        np.testing.assert_allclose(sc, got["primal"][2], rtol=1e-6)  # same estimates
        print(f"{names[how]:<24} {sec:8.2f} {fl / 1e9:8.1f} {got['primal'][0] / sec:8.1f} "
              f"{got['primal'][1] / fl:11.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
