"""Benchmark the taxonomy BIP: the Figure-8 grid, random instances, formulations side by side.

    python benchmarks/bench_bip.py            # full run (a few minutes)
    python benchmarks/bench_bip.py --quick    # fewer instances and formulations

(a) The whole Figure-8 grid on the published 16k affinities: 22 targets, budgets 1–26,
    max order 1, 2, 3, 4 and unlimited (130 solves). Goal: ≤ 2 s for the grid.
(b) Random instances of the published shape: 22 targets, 25 tasks + ``random`` as sources;
    per target ``self``, every first-order transfer, order 2 and 3 from every combination of
    its top-5 first-order sources, order 4 from the top 6, orders 5..25 the top-n prefixes
    (83 transfers per target, 1,826 in all, as in the published file); affinities a
    Dirichlet(α) vector per target with ``random`` at half the smallest value (in the
    published data ``random`` is near the bottom). Budgets 1–10, unlimited order.
    Goal: each solve proven optimal in ≤ 1 s.
(c) Every formulation (and HiGHS option variants) on (a) and (b).

Times are wall-clock seconds of ``TaxonomyBIP.fit`` (validation, reductions, model build and
HiGHS), measured in this one run. Each variant must agree with the default's objective.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from taskonomy.affinity import Transfer, TransferTable, read_table
from taskonomy.errors import TaskonomyError
from taskonomy.tasks import list_tasks
from taskonomy.taxonomy.bip import HIGHS_DEFAULTS, TaxonomyBIP

PUBLISHED = "taskonomy-2018-16k"  # the packaged 2018 table (all_affinities_16k)
SOURCE_ONLY = ("colorization", "inpainting", "jigsaw")
ORDERS: tuple[int | None, ...] = (1, 2, 3, 4, None)


def random_table(seed: int, alpha: float = 1.0) -> TransferTable:
    """A random affinity table with the published file's shape (see the module docstring)."""
    rng = np.random.default_rng(seed)
    tasks = [t for t in list_tasks() if t != "random"]  # 25 tasks
    targets = [t for t in tasks if t not in SOURCE_ONLY]  # 22 targets
    values: dict[Transfer, float] = {}
    for t in targets:
        ranked = [tasks[i] for i in np.argsort(-rng.random(len(tasks)))]
        top5, top6 = ranked[:5], ranked[:6]
        sets: list[tuple[str, ...]] = [("self",), *((s,) for s in tasks)]
        sets += [*itertools.combinations(top5, 2), *itertools.combinations(top5, 3)]
        sets += list(itertools.combinations(top6, 4))
        sets += [tuple(ranked[:n]) for n in range(5, len(ranked) + 1)]
        w = rng.dirichlet(np.full(len(sets), alpha))  # (82,)
        w = np.append(w, w.min() / 2)  # (83,) random is near the bottom
        w /= w.sum()
        for srcs, v in zip([*sets, ("random",)], w, strict=True):
            values[Transfer.of(srcs, t)] = float(v)
    return TransferTable(values)


@dataclass
class Variant:
    name: str
    formulation: str
    options: dict[str, Any] = field(default_factory=dict)


VARIANTS = [
    Variant("reduced (default)", "reduced"),
    Variant(" - presolve on", "reduced", {"presolve": "choose"}),
    Variant(
        " - RINS+RENS on",
        "reduced",
        {"mip_heuristic_run_rins": True, "mip_heuristic_run_rens": True},
    ),
    Variant(" - strong branching on", "reduced", {"mip_pscost_minreliable": 8}),
    Variant(" - parallel simplex on", "reduced", {"parallel": "choose"}),
    Variant(" - all HiGHS defaults", "reduced", HIGHS_DEFAULTS),
    Variant("reduced-mip (no LP-first)", "reduced-mip"),
    Variant("reduced-mip, HiGHS defaults", "reduced-mip", HIGHS_DEFAULTS),
    Variant("reduced-edge", "reduced-edge"),
    Variant("target (binary x, all transfers)", "target"),
    Variant("edge (binary x, all transfers)", "edge"),
    Variant("paper (aggregated rows)", "paper"),
]
QUICK_VARIANTS = (
    "reduced (default)",
    " - all HiGHS defaults",
    "reduced-mip, HiGHS defaults",
    "target (binary x, all transfers)",
)


@dataclass
class Run:
    times: list[float] = field(default_factory=list)
    objectives: list[float] = field(default_factory=list)
    lp_integral: int = 0
    timeouts: int = 0

    def cells(self) -> str:
        t = self.times
        return (
            f"{sum(t):8.2f} {statistics.median(t) * 1e3:9.1f} {max(t) * 1e3:8.1f} "
            f"{self.lp_integral:>4d} {self.timeouts:>3d}"
        )


def run_all(
    variants: list[Variant],
    cases: Sequence[tuple[TransferTable, float, int | None]],
    time_limit: float,
) -> dict[str, Run]:
    """Solve every case with every variant, interleaved so that load changes hit all alike."""
    out = {v.name: Run() for v in variants}
    for table, budget, order in cases:
        for v in variants:
            r = out[v.name]
            t0 = time.perf_counter()
            try:
                m = TaxonomyBIP(
                    budget,
                    order,
                    formulation=v.formulation,
                    highs_options=v.options,
                    time_limit=time_limit,
                ).fit(table)
            except TaskonomyError as exc:
                if "time limit" not in str(exc):
                    raise
                r.timeouts += 1
                r.objectives.append(float("nan"))
            else:
                r.objectives.append(m.objective_)
                r.lp_integral += bool(m.lp_integral_)
            r.times.append(time.perf_counter() - t0)
    ref = out[variants[0].name].objectives
    for v in variants[1:]:
        for got, want in zip(out[v.name].objectives, ref, strict=True):
            if not (np.isnan(got) or abs(got - want) <= 1e-9 * max(1.0, abs(want))):
                raise SystemExit(f"{v.name}: objective {got} differs from the default's {want}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer instances and formulations")
    ap.add_argument(
        "--seeds", type=int, default=None, help="random tables per alpha (default 5, quick 2)"
    )
    ap.add_argument("--alphas", type=float, nargs="+", default=None, help="Dirichlet α values")
    ap.add_argument("--time-limit", type=float, default=30.0, help="per solve, slow variants")
    args = ap.parse_args(argv)
    seeds = args.seeds if args.seeds is not None else (2 if args.quick else 5)
    alphas = args.alphas or ([1.0] if args.quick else [0.3, 1.0, 4.0])
    variants = [v for v in VARIANTS if not args.quick or v.name in QUICK_VARIANTS]

    published = read_table(PUBLISHED)
    grid = [(published, float(b), o) for o in ORDERS for b in range(1, 27)]
    randoms = [
        (random_table(seed, alpha), float(b), None)
        for alpha in alphas
        for seed in range(seeds)
        for b in range(1, 11)
    ]
    # warm up: HiGHS library load, table indexing (cached per table, as in a budget sweep)
    TaxonomyBIP(3).fit(published)
    for tab, _, _ in randoms[::10]:
        TaxonomyBIP(1).fit(tab)

    print("Taxonomy BIP benchmark (wall-clock of TaxonomyBIP.fit, this run)")
    print(f"python {sys.version.split()[0]}; CPU shared with other jobs: timings are pessimistic")
    print(f"(a) published 16k grid: {len(grid)} solves (budgets 1-26 x max order 1,2,3,4,None)")
    print(
        f"(b) random published-shape tables: {len(randoms)} solves "
        f"({seeds} seeds x alpha {alphas} x budgets 1-10, unlimited order, "
        f"{len(randoms[0][0])} transfers each)"
    )
    print()

    res_a = run_all(variants, grid, args.time_limit)
    res_b = run_all(variants, randoms, args.time_limit)
    width = max(len(v.name) for v in variants)
    head = f"{'total s':>8} {'median ms':>9} {'max ms':>8} {'LP=':>4} {'TL':>3}"
    print(f"{'':{width}}   {'(a) published grid':<{len(head)}}   (b) random tables")
    print(f"{'variant':{width}}   {head}   {head}")
    for v in variants:
        print(f"{v.name:{width}}   {res_a[v.name].cells()}   {res_b[v.name].cells()}")
    print("LP= solves closed by an integral LP relaxation; TL= solves that hit the time limit")
    print(f"({args.time_limit:g} s, counted at that time). Every variant agreed with the default.")

    default_a, default_b = res_a[variants[0].name], res_b[variants[0].name]
    print()
    print("Default formulation:")
    print(
        f"  (a) whole grid {sum(default_a.times):.3f} s (goal <= 2 s): "
        f"{'MET' if sum(default_a.times) <= 2 else 'NOT MET'}"
    )
    worst = max(default_b.times)
    verdict = "MET" if worst <= 1 else "NOT MET"
    print(f"  (b) slowest random solve {worst:.3f} s (goal <= 1 s): {verdict}")
    print("  (b) per-solve seconds, one row per table (budgets 1..10):")
    for i in range(0, len(randoms), 10):
        alpha = alphas[i // (10 * seeds)]
        seed = (i // 10) % seeds
        row = " ".join(f"{t:.3f}" for t in default_b.times[i : i + 10])
        print(f"      alpha {alpha:<4g} seed {seed:<2d} {row}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
