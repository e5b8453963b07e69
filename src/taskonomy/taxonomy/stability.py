"""How stable is a solved taxonomy under the uncertainty of its affinities?

:class:`TaxonomyStability` takes the policy solved for one budget and max order (or solves
it), re-solves the same BIP on every bootstrap replicate of the affinity table
(:class:`~taskonomy.affinity.bootstrap.AffinityBootstrap`, or any list of tables), and
reports:

* ``scratch_frequency_``: for each task the policy trains from scratch, the share of
  replicate optima that train it too (``other_scratch_frequency_``: the tasks the policy
  does not train, by how often replicate optima do);
* ``edge_frequency_``: for each chosen edge (``self → t`` for a scratch target,
  ``sources → t`` otherwise), the share of replicate optima that serve ``t`` the same way;
* ``optimum_probability_``: the share of replicates in which the policy *is an* optimum:
  its choices, scored with the replicate's affinities, reach the replicate optimum's
  objective (up to :data:`TIE_TOL`), i.e. the bootstrap probability that the reported
  policy is the optimum. ``exact_optimum_probability_`` counts only replicates whose solved
  optimum is the policy itself (same scratch set, same choice for every target);
* ``policy_counts_``: how often each distinct replicate optimum occurred, and
  ``ties_reported_``: per replicate, whether the policy ties its optimum.

Why ties count: transfers that lose to the constant guess are all pushed to the same
per-image ceiling (:mod:`taskonomy.affinity.noise`), so within a target they often tie, and
AHP's eigenvector then gives them affinities equal up to float rounding (1e-19 apart). The
solver picks one by that rounding, differently per replicate; without ties a policy that
is optimal in every replicate could score a probability of 0. The same rule decides an
edge's frequency: a replicate that serves the target another way keeps the policy's edge
when that edge is available under the replicate's trained set and scores the same.

One BIP solve per replicate is much dearer than one AHP, so only the first ``n_replicates``
replicates are used (200 by default, not the bootstrap's 1,000): a share estimated from 200
replicates has a standard error of at most 0.035. With the bootstrap's shared resamples,
replicate tables keep the correlation between targets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Self

from taskonomy.affinity.bootstrap import AffinityBootstrap
from taskonomy.affinity.table import Transfer, TransferTable
from taskonomy.errors import input_error
from taskonomy.tasks import is_free_source
from taskonomy.taxonomy.bip import solve
from taskonomy.taxonomy.policy import Choice, Policy

PolicyKey = tuple[tuple[str, ...], tuple[tuple[str, str, tuple[str, ...]], ...]]
"""``(scratch, ((target, kind, sources), …))``: what makes two policies the same answer."""


def policy_key(policy: Policy) -> PolicyKey:
    """The identity of a policy's answer (objective values and timings ignored)."""
    choices = tuple(sorted((t, c.kind, c.sources) for t, c in policy.choices.items()))
    return tuple(sorted(policy.scratch)), choices


TIE_TOL = 1e-9
"""Two objectives (or two affinities) within ``TIE_TOL · max(1, |value|)`` tie: the BIP's own
absolute gap on an objective scaled to a largest coefficient of 1."""


def _ties(value: float, best: float) -> bool:
    return value >= best - TIE_TOL * max(1.0, abs(best))


def edge_of(choice: Choice) -> Transfer:
    """The table entry a choice uses: ``self → t`` for scratch, ``sources → t`` otherwise."""
    if choice.kind == "scratch":
        return Transfer(("self",), choice.target)
    return Transfer.of(choice.sources, choice.target)


class TaxonomyStability:
    """Re-solve the BIP per bootstrap replicate; frequencies of the chosen tasks and edges.

    Parameters: ``budget`` and ``max_order`` of the BIP, ``n_replicates`` (how many
    replicates to re-solve, the first ones; default 200) and ``solver_kw`` (other
    :class:`~taskonomy.taxonomy.bip.TaxonomyBIP` parameters: targets, sources, importance…,
    used for every solve).
    """

    def __init__(
        self,
        budget: float,
        max_order: int | None = None,
        n_replicates: int = 200,
        solver_kw: Mapping[str, Any] | None = None,
    ) -> None:
        self.budget = budget
        self.max_order = max_order
        self.n_replicates = n_replicates
        self.solver_kw = solver_kw

    def fit(
        self,
        table: TransferTable,
        replicates: AffinityBootstrap | Sequence[TransferTable],
        policy: Policy | None = None,
    ) -> Self:
        """Solve ``table`` (unless ``policy`` is given) and re-solve each replicate table.

        ``policy`` lets the reported policy come from another objective (e.g. the ``lcb``
        table of :func:`~taskonomy.affinity.bootstrap.objective_table`); replicate optima
        always maximize the replicate affinities themselves.
        """
        n = self.n_replicates
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise input_error("n_replicates", n, "an integer ≥ 1 (e.g. 200)")
        kw = dict(self.solver_kw or {})
        if isinstance(replicates, AffinityBootstrap):
            available = replicates.n_replicates
            tables = [replicates.replicate_table(r) for r in range(min(n, available))]
        else:
            tables = list(replicates)[:n]
        if not tables or not all(isinstance(t, TransferTable) for t in tables):
            raise input_error(
                "replicates", type(replicates).__name__, "a fitted AffinityBootstrap or tables"
            )
        self.policy_ = policy or solve(table, self.budget, self.max_order, **kw)
        if not isinstance(self.policy_, Policy):
            raise input_error("policy", type(self.policy_).__name__, "a taskonomy Policy")
        self.replicate_policies_ = [solve(t, self.budget, self.max_order, **kw) for t in tables]
        self.n_replicates_ = len(tables)

        key = policy_key(self.policy_)
        keys = [policy_key(p) for p in self.replicate_policies_]
        self.policy_counts_ = Counter(keys)
        self.exact_optimum_probability_ = self.policy_counts_[key] / self.n_replicates_
        imp = dict(kw.get("importance") or {})
        chosen = {t: edge_of(c) for t, c in self.policy_.choices.items()}
        self.ties_reported_ = [
            k == key or _ties(self._score(chosen, t, imp), p.objective)
            for k, p, t in zip(keys, self.replicate_policies_, tables, strict=True)
        ]
        self.optimum_probability_ = sum(self.ties_reported_) / self.n_replicates_
        trained = Counter(s for p in self.replicate_policies_ for s in p.scratch)
        self.scratch_frequency_ = {s: trained[s] / self.n_replicates_ for s in self.policy_.scratch}
        self.other_scratch_frequency_ = {
            s: c / self.n_replicates_
            for s, c in sorted(trained.items())
            if s not in self.policy_.scratch
        }
        same = Counter(
            e
            for p, tab in zip(self.replicate_policies_, tables, strict=True)
            for e in chosen.values()
            if self._keeps_edge(e, p, tab)
        )
        self.edge_frequency_ = {e: same[e] / self.n_replicates_ for e in chosen.values()}
        return self

    @staticmethod
    def _score(
        chosen: Mapping[str, Transfer], table: TransferTable, importance: Mapping[str, float]
    ) -> float:
        """The objective of ``chosen`` edges under ``table`` (-inf when one is absent)."""
        total = 0.0
        for t, e in chosen.items():
            if e not in table:
                return float("-inf")
            total += importance.get(t, 1.0) * table[e]
        return total

    @staticmethod
    def _keeps_edge(edge: Transfer, replicate: Policy, table: TransferTable) -> bool:
        """Does the replicate optimum serve ``edge.target`` by ``edge``, or equally well by
        another edge while ``edge`` is available under its trained set?"""
        choice = replicate.choices.get(edge.target)
        if choice is None:
            return False
        served = edge_of(choice)
        if served == edge:
            return True
        needs = (edge.target,) if edge.is_self else edge.sources
        available = all(s in replicate.scratch or is_free_source(s) for s in needs)
        return available and edge in table and served in table and _ties(table[edge], table[served])
