"""``transfer.selection: active`` in a run: probes, rounds of full training, the record.

The recipe (learning-curve bounds, the stopping rule) is :mod:`taskonomy.taxonomy.active`;
this adapter turns its answers into transfer jobs and writes ``tables/selection.json``.

Rounds: probe every first-order transfer (``probe_fraction`` of the steps); fully train
each target's ``initial`` best by probe affinity (its first learning curves); then, until
no untrained transfer can change the higher-order ranking or a policy, fully train those
that can. Higher-order sets come from the ranking at probe losses and are probed as soon
as they appear. ``groups: whole`` trains every candidate of a flagged (target, order)
together, exactly the job ``all`` runs (stacked groups of another size differ in float
rounding, which training amplifies to ~1 % in a transfer's loss). Untrained transfers
enter the final tables with their probe losses: the table the stopping rule checked, so the
run's policies are the checked ones.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from taskonomy.affinity.table import Transfer
from taskonomy.io import atomic_write_text
from taskonomy.pipeline.artifacts import RunDir
from taskonomy.pipeline.jobs import Job
from taskonomy.rundir import RunFiles
from taskonomy.taxonomy.active import ActiveCheck, LearningCurveBounds, target_affinities

if TYPE_CHECKING:
    from taskonomy.pipeline.run import JobLosses, Plan

Stage = Callable[[str, Sequence[Job]], None]
SKIPPED = "no completion of its loss bounds changes the ranking or a policy"


def select_transfers(
    plan: Plan,
    rd: RunDir,
    losses_of: JobLosses,
    stage: Stage,
    guesses: Mapping[str, np.ndarray],
) -> dict[Transfer, Job]:
    """Run the rounds; returns every candidate transfer with the job holding its losses
    (full training where trained, else its probe) and writes ``tables/selection.json``."""
    cfg = plan.cfg
    act = cfg.transfer.active
    full_steps = cfg.transfer.steps
    probe_steps = max(1, round(full_steps * act.probe_fraction))
    probes: dict[Transfer, Job] = {}
    full: dict[Transfer, Job] = {}
    reasons: dict[Transfer, str] = {}
    round_of: dict[Transfer, int] = {}
    rounds: list[dict[str, Any]] = []
    units: dict[str, float] = {}  # job key → transfer steps × per-step cost

    def jobs_for(trs: Iterable[Transfer], steps: int) -> dict[Transfer, Job]:
        """One stacked job per (target, order), as the full run groups them."""
        groups: dict[tuple[str, int], list[Transfer]] = {}
        for tr in trs:
            groups.setdefault((tr.target, tr.order), []).append(tr)
        out: dict[Transfer, Job] = {}
        for (target, _), group in groups.items():
            job = plan.transfers([tr.sources for tr in group], target, steps=steps)
            units[job.key] = plan.transfer_cost(target) * len(group) * steps
            out.update({tr: job for tr in group})
        return out

    def probe(trs: Sequence[Transfer], name: str) -> None:
        jobs = jobs_for(trs, probe_steps)
        probes.update(jobs)
        stage(name, list(dict.fromkeys(jobs.values())))

    ranking: dict[str, list[tuple[str, ...]]] = {}  # the latest check's higher-order sets

    def whole_groups(why: Mapping[Transfer, str]) -> dict[Transfer, str]:
        """``groups: whole``: every candidate of a flagged (target, order), as ``all``
        trains them together (the same job, hence the same numbers)."""
        out = dict(why)
        for tr, reason in why.items():
            sets = [(s,) for s in plan.sources] if tr.order == 1 else [
                s for s in ranking.get(tr.target, []) if len(s) == tr.order]  # fmt: skip
            for other in (Transfer.of(s, tr.target) for s in sets):
                out.setdefault(other, f"group of {tr} ({reason})")
        return out

    def train(why: Mapping[Transfer, str], r: int) -> None:
        if act.groups == "whole":
            why = whole_groups(why)
        why = {tr: w for tr, w in why.items() if tr not in full}
        jobs = jobs_for(why, full_steps)
        full.update(jobs)
        reasons.update(why)
        round_of.update(dict.fromkeys(why, r))
        stage(f"transfers (active round {r})", list(dict.fromkeys(jobs.values())))

    first = [Transfer.of([s], t) for t in plan.targets for s in plan.sources]
    probe(first, "transfers (probes, order 1)")
    self_rows = {t: losses_of(plan.train[t]) for t in plan.targets}
    initial: dict[Transfer, str] = {}
    for t in plan.targets:
        trs = [tr for tr in first if tr.target == t]
        rows = np.vstack([*(losses_of(probes[tr], tr) for tr in trs), self_rows[t]])
        aff = target_affinities(([*trs, Transfer(("self",), t)], rows), guesses[t])
        best = sorted(trs, key=lambda tr: (-aff[tr], str(tr)))[: act.initial]
        initial.update(dict.fromkeys(best, "initial: best by probe affinity"))
    r = 1
    train(initial, r)

    tax = cfg.taxonomy
    check = ActiveCheck(tax.budgets, tax.orders, plan.targets, plan.sources, cfg.transfer.max_order)
    while True:
        probe_losses = {tr: losses_of(job, tr) for tr, job in probes.items()}
        full_losses = {tr: losses_of(job, tr) for tr, job in full.items()}
        curves = LearningCurveBounds(act.margin).fit(probe_losses, full_losses)
        known = {}
        for t in plan.targets:
            trs = [tr for tr in full_losses if tr.target == t]
            rows = np.vstack([*(full_losses[tr] for tr in trs), self_rows[t]])
            known[t] = ([*trs, Transfer(("self",), t)], rows)
        t0 = time.perf_counter()
        check.fit(known, curves.bounds_, guesses)
        ranking.update(check.ranking_)
        check_seconds = time.perf_counter() - t0
        if check.missing_:  # new higher-order sets in the ranking: probe them, check again
            probe(check.missing_, f"transfers (probes, orders 2-{cfg.transfer.max_order})")
            continue
        rounds.append({"round": r, "trained": sum(v == r for v in round_of.values()),
                       "flips": len(check.flips_), "completions": check.completions_,
                       "check_seconds": round(check_seconds, 3)})  # fmt: skip
        if not check.flips_:
            break
        r += 1
        # While the ranking can still change, its higher-order sets may leave the tables:
        # train first-order transfers first (ranking flips are first-order).
        unsettled = any(why.startswith("ranking") for why in check.flips_.values())
        train({tr: why for tr, why in check.flips_.items() if tr.order == 1 or not unsettled}, r)

    candidates = [*first, *(Transfer.of(s, t) for t in plan.targets for s in check.ranking_[t])]
    chosen = {tr: full.get(tr) or probes[tr] for tr in candidates}
    _write_record(rd, plan, losses_of, chosen, probes, full, reasons, round_of, curves, rounds,
                  probe_steps, sum(units.values()))  # fmt: skip
    return chosen


def _job_seconds(rd: RunDir, job: Job) -> float:
    result = rd.read_record(job.kind, job.key).get("result") or {}
    return float(result.get("compute_seconds", 0.0))


def _write_record(
    rd: RunDir,
    plan: Plan,
    losses_of: JobLosses,
    chosen: Mapping[Transfer, Job],
    probes: Mapping[Transfer, Job],
    full: Mapping[Transfer, Job],
    reasons: Mapping[Transfer, str],
    round_of: Mapping[Transfer, int],
    curves: LearningCurveBounds,
    rounds: list[dict[str, Any]],
    probe_steps: int,
    units: float,
) -> None:
    """``tables/selection.json``: every transfer's status and why, and the compute used."""
    cfg = plan.cfg
    steps = cfg.transfer.steps

    def mean(a: np.ndarray) -> float:
        return float(np.mean(a, dtype=np.float64))

    rows = []
    for tr in sorted({*probes, *full}):
        p = probes.get(tr)
        probe_losses = losses_of(p, tr) if p is not None else None
        b = curves.bounds_.get(tr)
        rows.append({
            "transfer": str(tr), "target": tr.target, "sources": list(tr.sources),
            "status": "full" if tr in full else "probe",
            "in_tables": tr in chosen,
            "steps": steps if tr in full else probe_steps,
            "round": round_of.get(tr),
            "why": reasons.get(tr, SKIPPED if tr in chosen else "dropped from the ranking"),
            "probe_loss": mean(probe_losses) if probe_losses is not None else None,
            "full_loss": mean(losses_of(full[tr], tr)) if tr in full else None,
            "optimistic_loss": mean(b.optimistic) if b is not None else None,
            "pessimistic_loss": mean(b.pessimistic) if b is not None else None,
        })  # fmt: skip
    jobs = list(dict.fromkeys([*probes.values(), *full.values()]))
    all_units = sum(plan.transfer_cost(tr.target) * steps for tr in chosen)
    record = {
        "selection": "active",
        "probe_steps": probe_steps,
        "full_steps": steps,
        "margin": cfg.transfer.active.margin,
        "initial": cfg.transfer.active.initial,
        "factors": {t: list(f) for t, f in curves.factors_.items()},
        "rounds": rounds,
        "compute": {
            "units": units,  # transfer steps × per-step cost (Plan.transfer_cost)
            "units_if_all": all_units,  # every candidate fully trained
            "ratio": units / all_units if all_units else None,
            "seconds": sum(_job_seconds(rd, j) for j in jobs),
            "full": sum(tr in full for tr in chosen),
            "probe_only": sum(tr not in full for tr in chosen),
        },
        "transfers": rows,
    }
    atomic_write_text(RunFiles(rd.root).selection_json, json.dumps(record, indent=1) + "\n")
