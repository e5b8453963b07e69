"""Active transfer selection: which untrained transfers could still change the answers.

A run with ``transfer.selection: active`` trains every candidate transfer briefly (a
*probe*: a short schedule of the same recipe), fully trains a few, and then asks, round
after round, whether fully training any other one could change what the run reports:

* the **ranking** of each target's first-order sources, as far as it picks the higher-order
  source sets (:func:`~taskonomy.transfer.orders.higher_order_sources`);
* the **policies** of every configured budget × max order (:func:`policy_key`).

:class:`LearningCurveBounds` turns probes into loss bounds: from the transfers of a target
that have both a probe and full training, the ratios ``mean(full) / mean(probe)`` bound how
much full training can move an untrained transfer's per-image probe losses (widened by a
margin). :class:`ActiveCheck` then solves the same guard → AHP → BIP chain the run uses, on
the table with every untrained transfer at its probe losses (what the final tables report),
and on *completions* of it, one target at a time (AHP is per target): each untrained
transfer at its optimistic, then at its pessimistic bound, alone; and all of a target's at
once. An untrained transfer whose bound changes the ranking or a policy must be trained
(``flips_``); when no completion changes anything, the answers are settled.

The completions are not every corner of the box of bounds (2^n of them): changing one
transfer moves a target's affinities monotonically (it wins or loses images against every
other), so single moves plus the joint move are the cases that matter in practice; the
tests and the measured presets (docs/active.md) check the outcome against full training.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Self

import numpy as np

from taskonomy.affinity.ahp import AHP
from taskonomy.affinity.noise import guard_losses
from taskonomy.affinity.table import Transfer, TransferTable
from taskonomy.errors import TaskonomyError, input_error
from taskonomy.taxonomy.plan import plan as solve_plan
from taskonomy.taxonomy.stability import policy_key
from taskonomy.transfer.orders import higher_order_sources, rank_sources

Rows = tuple[list[Transfer], np.ndarray]  # transfers of one target, losses (n, N_test)


@dataclass(frozen=True)
class LossBounds:
    """Per-image losses an untrained transfer could end at after full training."""

    probe: np.ndarray  # (N,) measured after the short schedule
    optimistic: np.ndarray  # (N,) lowest plausible
    pessimistic: np.ndarray  # (N,) highest plausible


class LearningCurveBounds:
    """Bounds on full-training losses from probes and the target's observed learning curves.

    For every target, ``ratios_`` holds ``mean(full) / mean(probe)`` of its transfers that
    have both. With ``lo``/``hi`` the smallest/largest ratio of the target, an untrained
    transfer's bounds are its probe losses times ``1 - (1 - lo)·(1 + margin)`` (at least 0)
    and ``1 + max(hi - 1, 0)·(1 + margin)`` (at least 1: a probe is not assumed pessimistic
    when full training was ever seen to end worse).

    A target without any observed ratio gets the widest bounds (0 and ``unobserved``× the
    probe): every untrained transfer into it can flip anything, so it is trained.
    """

    def __init__(self, margin: float = 0.5, unobserved: float = 1e3) -> None:
        self.margin = margin
        self.unobserved = unobserved

    def fit(
        self, probes: Mapping[Transfer, np.ndarray], full: Mapping[Transfer, np.ndarray]
    ) -> Self:
        if not (np.isfinite(self.margin) and self.margin >= 0):
            raise input_error("margin", self.margin, "a number ≥ 0, e.g. 0.5")
        self.ratios_: dict[Transfer, float] = {}
        for tr, p in probes.items():
            if tr in full:
                denom = float(np.mean(p))
                self.ratios_[tr] = float(np.mean(full[tr])) / denom if denom > 0 else 1.0
        per_target: dict[str, list[float]] = {}
        for tr, r in self.ratios_.items():
            per_target.setdefault(tr.target, []).append(r)
        self.factors_: dict[str, tuple[float, float]] = {}
        for t, rs in per_target.items():
            lo, hi = min(rs), max(rs)
            opt = max(0.0, 1.0 - (1.0 - lo) * (1.0 + self.margin))
            pes = 1.0 + max(hi - 1.0, 0.0) * (1.0 + self.margin)
            self.factors_[t] = (min(opt, 1.0), pes)
        self.bounds_: dict[Transfer, LossBounds] = {}
        for tr, p in probes.items():
            if tr in full:
                continue
            opt, pes = self.factors_.get(tr.target, (0.0, self.unobserved))
            arr = np.asarray(p, dtype=np.float64)
            self.bounds_[tr] = LossBounds(arr, arr * opt, arr * pes)
        return self


def target_affinities(rows: Rows, guess: np.ndarray) -> dict[Transfer, float]:
    """One target's affinities exactly as the run computes them: guard, then AHP."""
    trs, losses = rows
    guarded = guard_losses(losses, guess)[0]
    return dict(zip(trs, AHP().fit(guarded).affinity_.tolist(), strict=True))


def ranked_higher_sets(
    affinities: Mapping[Transfer, float], target: str, max_order: int
) -> tuple[tuple[str, ...], ...]:
    """The higher-order source sets the run derives from a target's first-order affinities
    (the ranking stage of ``taskonomy run``: the target itself, random and self left out)."""
    scores = {
        tr.sources[0]: a
        for tr, a in affinities.items()
        if tr.order == 1 and tr.sources[0] not in (target, "random", "self")
    }
    sets = higher_order_sources(rank_sources(scores), max_order)
    return tuple(sorted(tuple(sorted(s)) for s in sets))


class ActiveCheck:
    """Which untrained transfers could change the higher-order ranking or a policy.

    ``known[target]``: the fully trained transfers into it (with ``self``) and their per-image
    test losses; ``bounds``: the untrained candidates (:class:`LossBounds`), order 1 and any
    probed higher-order sets; ``guesses[target]``: the constant guess's per-image losses.
    Higher-order transfers count only when their set is in the target's ranking.

    Results: ``ranking_[target]`` (higher-order sets from the table at probe losses),
    ``missing_`` (ranked sets with neither full losses nor a probe: probe them and refit),
    ``policies_`` (name → policy key or error text), ``flips_`` (untrained transfer → why
    it must be trained) and ``completions_`` (how many tables were solved).
    """

    def __init__(
        self,
        budgets: Sequence[float],
        orders: Sequence[int | None],
        targets: Sequence[str],
        sources: Sequence[str],
        max_order: int,
    ) -> None:
        self.budgets = list(budgets)
        self.orders = list(orders)
        self.targets = list(targets)
        self.sources = list(sources)
        self.max_order = max_order

    def _policies(self, aff: Mapping[str, Mapping[Transfer, float]]) -> dict[str, Hashable]:
        table = TransferTable({tr: a for per in aff.values() for tr, a in per.items()})
        out: dict[str, Hashable] = {}
        for order in self.orders:
            for budget in self.budgets:
                name = f"budget{budget}_order{order if order is not None else 'all'}"
                try:
                    pol = solve_plan(table, budget=budget, max_order=order,
                                     targets=self.targets, sources=self.sources)  # fmt: skip
                    out[name] = policy_key(pol)
                except TaskonomyError as exc:
                    out[name] = f"error: {exc}"
        return out

    def fit(
        self,
        known: Mapping[str, Rows],
        bounds: Mapping[Transfer, LossBounds],
        guesses: Mapping[str, np.ndarray],
    ) -> Self:
        stray = sorted(str(tr) for tr in bounds if tr.target not in self.targets)
        if stray:
            raise input_error("untrained transfers", stray, f"targets among {self.targets}")
        missing_known = [t for t in self.targets if t not in known or t not in guesses]
        if missing_known:
            raise input_error("targets without known rows or guess", missing_known,
                              "every target with its self row and guess losses")  # fmt: skip

        ranked: dict[str, set[tuple[str, ...]]] = {}

        def rows(t: str, pick: Mapping[Transfer, np.ndarray], first_only: bool) -> Rows:
            """The target's table: known rows that count, then the untrained ``pick``."""
            trs, arr = known[t]
            keep = [i for i, tr in enumerate(trs) if tr.is_self or tr.order == 1 or
                    (not first_only and tr.sources in ranked[t])]  # fmt: skip
            extra = list(pick)
            out = [arr[i] for i in keep] + [pick[tr] for tr in extra]
            return [trs[i] for i in keep] + extra, np.vstack(out)

        def order1(t: str) -> dict[Transfer, LossBounds]:
            return {tr: b for tr, b in bounds.items() if tr.target == t and tr.order == 1}

        # The ranking first: it decides which higher-order transfers are candidates.
        base_rank = {
            t: ranked_higher_sets(target_affinities(
                rows(t, {tr: b.probe for tr, b in order1(t).items()}, True), guesses[t]),
                t, self.max_order)
            for t in self.targets
        }  # fmt: skip
        self.ranking_ = {t: list(base_rank[t]) for t in self.targets}
        ranked.update({t: set(base_rank[t]) for t in self.targets})
        have = {tr for t in self.targets for tr in known[t][0]} | set(bounds)
        self.missing_ = [
            Transfer.of(s, t) for t in self.targets for s in self.ranking_[t]
            if Transfer.of(s, t) not in have
        ]  # fmt: skip
        flips: dict[Transfer, str] = {}
        n = 0

        def completions(
            t: str, cands: Mapping[Transfer, LossBounds]
        ) -> list[tuple[list[Transfer], dict[Transfer, np.ndarray]]]:
            """(the untrained transfers moved, the target's untrained rows) per completion."""
            probe = {tr: b.probe for tr, b in cands.items()}
            out: list[tuple[list[Transfer], dict[Transfer, np.ndarray]]] = []
            for side in ("optimistic", "pessimistic"):
                moved_rows = {tr: getattr(b, side) for tr, b in cands.items()}
                # a bound equal to the probe moves nothing: no table to solve
                moves = [tr for tr in cands if not np.array_equal(moved_rows[tr], probe[tr])]
                out.extend(([tr], {**probe, tr: moved_rows[tr]}) for tr in moves)
                if len(moves) > 1:
                    out.append((moves, {**probe, **{tr: moved_rows[tr] for tr in moves}}))
            return out

        def blame(moved: list[Transfer], aff: Mapping[Transfer, float], why: str) -> None:
            fresh = [tr for tr in moved if tr not in flips]
            if len(moved) == 1:
                if fresh:
                    flips[moved[0]] = why
            elif fresh and not any(tr in flips for tr in moved):
                # A joint move flipped and no single one did: train the strongest first.
                best = max(fresh, key=lambda tr: (aff[tr], str(tr)))
                flips[best] = f"{why} (jointly)"

        for t in self.targets:
            for moved, pick in completions(t, order1(t)):
                n += 1
                aff = target_affinities(rows(t, pick, True), guesses[t])
                if ranked_higher_sets(aff, t, self.max_order) != base_rank[t]:
                    blame(moved, aff, "ranking")

        # Then the policies, on order 1 and the ranked higher-order sets.
        def candidate(tr: Transfer) -> bool:
            return tr.order == 1 or tr.sources in ranked[tr.target]

        cands = {t: {tr: b for tr, b in bounds.items() if tr.target == t and candidate(tr)}
                 for t in self.targets}  # fmt: skip
        base_aff = {
            t: target_affinities(
                rows(t, {tr: b.probe for tr, b in cands[t].items()}, False), guesses[t])
            for t in self.targets
        }  # fmt: skip
        base = self._policies(base_aff)
        self.policies_ = base
        for t in self.targets:
            for moved, pick in completions(t, cands[t]):
                n += 1
                aff = target_affinities(rows(t, pick, False), guesses[t])
                got = self._policies({**base_aff, t: aff})
                changed = sorted(k for k in base if got[k] != base[k])
                if changed:
                    blame(moved, aff, f"policy {changed[0]}")
        self.flips_ = flips
        self.completions_ = n
        return self
