"""Is the taxonomy better than chance? Significance tests in the spirit of the paper (Sec. 5.1).

1. :class:`PolicySignificance`: the taxonomy's mean Gain and Quality against random
   *feasible* policies of the same budget and max order. The sampler, per draw:

   * the scratch set: the trainable tasks (default: every task the table uses as a source
     plus every target with a ``self`` entry; ``random`` is free and never counted) in a
     uniformly random order, each added while its label cost still fits the budget. With
     unit costs this is a uniformly random subset of size ``min(⌊budget⌋, #tasks)``; the
     random policy always spends its budget (a policy that leaves budget unused is never
     better), which makes the comparison conservative;
   * each target: one transfer drawn uniformly among the table's transfers into it that the
     scratch set allows (every source trained or ``random``; order ≤ max order; ``self``
     when the target is trained; ``pixels`` never);
   * a draw leaving a target with no allowed transfer is rejected and redrawn, so samples
     are uniform over the feasible draws.

   Gain and Quality of a draw are computed exactly as for the taxonomy
   (:func:`~taskonomy.evaluate.gain_quality.gain_quality_of`, means over the targets that
   have a value). ``percentile`` = 100 · (share of random policies below the taxonomy +
   half the share equal to it); ``p_value`` = (1 + #random ≥ taxonomy) / (1 + n), the
   one-sided Monte-Carlo p-value of "the taxonomy is no better than a random policy".

2. :func:`best_vs_baselines`: per target, is the best transfer (highest AHP affinity among
   the real transfers, or one you name) better than ``random`` and than ``pixels`` on the
   per-image test losses? A paired one-sided Wilcoxon signed-rank test on the per-image
   differences ``baseline − best`` (losses averaged over seeds first: the image is the
   paired unit), significant when ``p < 1 − level``. Effect sizes: the win rate of the best
   transfer against the baseline (ties half), the median per-image difference and the
   matched-pairs rank-biserial correlation (+1: better on every image). No correction for
   testing many targets is applied; compare p-values with ``(1 − level)/n_targets`` for a
   Bonferroni bound.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self

import numpy as np
from scipy import stats

from taskonomy.affinity.ahp import AHP, Ties, win_rate
from taskonomy.affinity.bootstrap import LossInput, parse_losses
from taskonomy.affinity.table import Transfer, TransferTable
from taskonomy.errors import TaskonomyError, input_error
from taskonomy.evaluate.gain_quality import (
    attach_gain_quality,
    gain_quality_of,
    mean_gain_quality,
)
from taskonomy.tasks import canonical_name, is_free_source
from taskonomy.taxonomy.policy import Choice, ChoiceKind, Policy

_BASELINES = ("self", "pixels", "random")


@dataclass(frozen=True)
class RandomPolicyTest:
    """One metric of the taxonomy against random feasible policies."""

    metric: str  # "gain" or "quality"
    value: float  # the taxonomy's mean
    random_mean: float
    percentile: float  # 0..100
    p_value: float
    n_samples: int


def _compare(metric: str, value: float, sample: np.ndarray) -> RandomPolicyTest:
    below = float(np.mean(sample < value))
    equal = float(np.mean(sample == value))
    ge = int(np.sum(sample >= value))
    return RandomPolicyTest(
        metric=metric,
        value=value,
        random_mean=float(np.mean(sample)),
        percentile=100.0 * (below + 0.5 * equal),
        p_value=(1 + ge) / (1 + len(sample)),
        n_samples=len(sample),
    )


class PolicySignificance:
    """Gain and Quality of a policy against random feasible policies (module docstring).

    Results of ``fit``: ``gain_`` and ``quality_`` (:class:`RandomPolicyTest`),
    ``random_gain_``/``random_quality_`` ((n_samples,) means of the random policies),
    ``random_scratch_`` (the sampled scratch sets) and ``n_rejected_`` (redrawn samples).
    """

    def __init__(
        self,
        n_samples: int = 1000,
        seed: int = 0,
        sources: list[str] | None = None,
        label_cost: Mapping[str, float] | None = None,
        max_draws: int = 100,
    ) -> None:
        self.n_samples = n_samples
        self.seed = seed
        self.sources = sources
        self.label_cost = label_cost
        self.max_draws = max_draws

    def fit(
        self,
        policy: Policy,
        table: TransferTable,
        wins_vs_pixels: TransferTable,
        wins_vs_self: TransferTable,
    ) -> Self:
        """Sample random policies of ``policy``'s budget and max order over ``table``."""
        n = self.n_samples
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise input_error("n_samples", n, "an integer ≥ 1 (e.g. 1000)")
        if not isinstance(policy, Policy):
            raise input_error("policy", type(policy).__name__, "a taskonomy Policy")
        scored = attach_gain_quality(policy, wins_vs_pixels, wins_vs_self)  # checks kinds
        gain, quality = mean_gain_quality(scored)
        if gain is None or quality is None:
            raise TaskonomyError(
                "the policy has no Gain or Quality: its transfers are missing from the "
                "win-rate tables; pass the tables measured with the affinities."
            )
        targets = list(policy.choices)
        sources = self.sources
        if sources is None:
            sources = table.sources() + [tr.target for tr in table if tr.is_self]
        tasks = sorted(
            {canonical_name(s) for s in sources}
            - set(_BASELINES)
            - {s for s in sources if is_free_source(s)}
        )
        index = {t: i for i, t in enumerate(tasks)}
        cost = np.array([float((self.label_cost or {}).get(t, 1.0)) for t in tasks])

        # Candidates of every target: the tasks each needs (M, U) and its Gain/Quality.
        need_rows, gains, quals, target_of = [], [], [], []
        for k, t in enumerate(targets):
            for tr in table.for_target(t):
                if "pixels" in tr.sources or (tr.order > 1 and "self" in tr.sources):
                    continue
                mo = policy.max_order
                if not tr.is_self and mo is not None and tr.order > mo:
                    continue
                req = [t] if tr.is_self else [s for s in tr.sources if not is_free_source(s)]
                if any(s not in index for s in req):
                    continue  # needs a task without a network
                row = np.zeros(len(tasks), dtype=bool)
                row[[index[s] for s in req]] = True
                kind: ChoiceKind = "scratch" if tr.is_self else "transfer"
                srcs = (t,) if tr.is_self else tr.sources
                g, q = gain_quality_of(Choice(t, srcs, kind, 0.0), wins_vs_pixels, wins_vs_self)
                need_rows.append(row)
                gains.append(math.nan if g is None else g)
                quals.append(math.nan if q is None else q)
                target_of.append(k)
        tgt = np.array(target_of, dtype=np.int64)
        if set(tgt.tolist()) != set(range(len(targets))):
            missing = [t for k, t in enumerate(targets) if k not in set(tgt.tolist())]
            raise input_error(
                "targets without a candidate transfer",
                missing,
                "none",
                "Add their sources (or the targets themselves) to `sources`.",
            )
        need = np.array(need_rows).astype(np.float64)  # (M, U)
        g_arr, q_arr = np.array(gains), np.array(quals)

        rng = np.random.default_rng(self.seed)
        picks: list[np.ndarray] = []
        scratch: list[tuple[str, ...]] = []
        self.n_rejected_ = 0
        while len(picks) < n:
            if self.n_rejected_ > self.max_draws * n:
                raise TaskonomyError(
                    f"only {len(picks)} of {n} random policies were feasible after "
                    f"{self.n_rejected_} rejected draws: most scratch sets within budget "
                    f"{policy.budget:g} leave a target without a transfer."
                )
            trained = np.zeros(len(tasks), dtype=bool)
            spent = 0.0
            for u in rng.permutation(len(tasks)):
                if spent + cost[u] <= policy.budget + 1e-9:
                    trained[u] = True
                    spent += cost[u]
            avail = need @ (~trained) == 0  # (M,) every needed task trained
            keys = np.where(avail, rng.random(len(avail)), -1.0)
            chosen = np.array(
                [np.argmax(np.where(tgt == k, keys, -2.0)) for k in range(len(targets))]
            )
            if not avail[chosen].all():
                self.n_rejected_ += 1
                continue
            picks.append(chosen)
            scratch.append(tuple(tasks[u] for u in np.flatnonzero(trained)))
        chosen_all = np.stack(picks)  # (n, T)
        self.random_gain_ = np.nanmean(g_arr[chosen_all], axis=1)
        self.random_quality_ = np.nanmean(q_arr[chosen_all], axis=1)
        self.random_scratch_ = scratch
        self.gain_ = _compare("gain", gain, self.random_gain_)
        self.quality_ = _compare("quality", quality, self.random_quality_)
        return self


@dataclass(frozen=True)
class PairedTest:
    """The best transfer into a target against one baseline, on per-image losses."""

    target: str
    best: Transfer
    baseline: Transfer
    n_images: int
    win_rate: float  # share of images where best's loss is lower (ties half)
    median_difference: float  # median of baseline − best per image (> 0: best is better)
    rank_biserial: float  # matched-pairs rank-biserial correlation in [-1, 1]
    statistic: float  # Wilcoxon signed-rank statistic (sum of ranks of positive differences)
    p_value: float  # one-sided: best has lower losses
    significant: bool  # p_value < 1 − level


def best_vs_baselines(
    losses: LossInput,
    level: float = 0.95,
    best: Mapping[str, Transfer | str] | None = None,
    ties: Ties = "half",
) -> list[PairedTest]:
    """Paired tests of each target's best transfer against ``random`` and ``pixels``.

    ``losses``: as for :class:`~taskonomy.affinity.bootstrap.AffinityBootstrap`. ``best``
    names the transfer to test per target (e.g. the taxonomy's choice); by default it is
    the highest-affinity transfer that is not a baseline (``self``/``random``/``pixels``).
    Baselines missing from a target's rows are skipped.
    """
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0 < level < 1:
        raise input_error("level", level, "a number strictly between 0 and 1, e.g. 0.95")
    out: list[PairedTest] = []
    for target, tr in parse_losses(losses).items():
        per_image = tr.losses.mean(axis=1)  # (n_all, N): the image is the paired unit
        rows = {t: per_image[i] for i, t in enumerate(tr.rows)}
        if best is not None and target in best:
            b = best[target]
            pick = b if isinstance(b, Transfer) else Transfer.of(b.split("+"), target)
            if pick not in rows:
                raise input_error(f"best transfer into {target!r}", str(pick), "one of its rows")
        else:
            real = [t for t in tr.transfers if not set(t.sources) & set(_BASELINES)]
            if not real:
                continue
            n_ahp = len(tr.transfers)
            flat = tr.losses[:n_ahp].reshape(n_ahp, -1)
            aff = dict(zip(tr.transfers, AHP(ties=ties).fit(flat).affinity_, strict=True))
            pick = max(real, key=lambda t: (aff[t], t))
        for ref in ("random", "pixels"):
            base = Transfer((ref,), target)
            if base in rows and base != pick:
                out.append(_paired(target, pick, base, rows[pick], rows[base], level, ties))
    return out


def _paired(
    target: str,
    best: Transfer,
    base: Transfer,
    best_losses: np.ndarray,
    base_losses: np.ndarray,
    level: float,
    ties: Ties,
) -> PairedTest:
    d = base_losses - best_losses  # (N,) > 0 where best is better
    nz = d[d != 0]
    if len(nz):
        ranks = stats.rankdata(np.abs(nz))
        pos = float(ranks[nz > 0].sum())
        rbc = (pos - float(ranks[nz < 0].sum())) / float(ranks.sum())
        p = float(stats.wilcoxon(nz, alternative="greater").pvalue)
    else:  # identical losses on every image: no evidence either way
        pos, rbc, p = 0.0, 0.0, 1.0
    return PairedTest(
        target=target,
        best=best,
        baseline=base,
        n_images=len(d),
        win_rate=win_rate(best_losses, base_losses, ties),
        median_difference=float(np.median(d)),
        rank_biserial=rbc,
        statistic=pos,
        p_value=p,
        significant=p < 1.0 - level,
    )
