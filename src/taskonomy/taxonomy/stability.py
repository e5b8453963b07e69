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
* ``optimum_probability_``: the share of replicates whose optimum *is* the policy (same
  scratch set and the same choice for every target), i.e. the bootstrap probability that
  the reported policy is the optimum;
* ``policy_counts_``: how often each distinct replicate optimum occurred.

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
from taskonomy.taxonomy.bip import solve
from taskonomy.taxonomy.policy import Choice, Policy

PolicyKey = tuple[tuple[str, ...], tuple[tuple[str, str, tuple[str, ...]], ...]]
"""``(scratch, ((target, kind, sources), …))``: what makes two policies the same answer."""


def policy_key(policy: Policy) -> PolicyKey:
    """The identity of a policy's answer (objective values and timings ignored)."""
    choices = tuple(sorted((t, c.kind, c.sources) for t, c in policy.choices.items()))
    return tuple(sorted(policy.scratch)), choices


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
        self.optimum_probability_ = self.policy_counts_[key] / self.n_replicates_
        trained = Counter(s for p in self.replicate_policies_ for s in p.scratch)
        self.scratch_frequency_ = {s: trained[s] / self.n_replicates_ for s in self.policy_.scratch}
        self.other_scratch_frequency_ = {
            s: c / self.n_replicates_
            for s, c in sorted(trained.items())
            if s not in self.policy_.scratch
        }
        edges = Counter(edge_of(c) for p in self.replicate_policies_ for c in p.choices.values())
        chosen = [edge_of(c) for c in self.policy_.choices.values()]
        self.edge_frequency_ = {e: edges[e] / self.n_replicates_ for e in chosen}
        return self
