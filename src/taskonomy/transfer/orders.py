"""Higher-order transfer selection, exactly as the paper (and its released code) did it.

Given a target's first-order sources ranked best first:

* order 2 and 3: every combination of the 5 best sources (C(5,2)=10, C(5,3)=10);
* order 4: every combination of the 6 best (C(6,4)=15);
* order k ≥ 5: the top-k prefix of the ranking (one transfer per order).

Orders that need more sources than exist are skipped (a prefix longer than the ranking
is impossible; combinations draw from what is there).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

from taskonomy.errors import input_error

# order → how many of the best first-order sources the combinations draw from
COMBINATION_POOL = {2: 5, 3: 5, 4: 6}


def higher_order_sources(ranked: Sequence[str], max_order: int) -> list[tuple[str, ...]]:
    """Source sets of order 2..max_order for one target, given its ranked sources.

    >>> higher_order_sources(["a", "b", "c"], 2)
    [('a', 'b'), ('a', 'c'), ('b', 'c')]
    """
    if max_order < 1:
        raise input_error("max order", max_order, "an integer ≥ 1")
    if len(set(ranked)) != len(ranked):
        raise input_error("ranked sources", list(ranked), "distinct task names")
    out: list[tuple[str, ...]] = []
    for k in range(2, max_order + 1):
        pool = COMBINATION_POOL.get(k)
        if pool is not None:
            out.extend(combinations(ranked[:pool], k))
        elif k <= len(ranked):
            out.append(tuple(ranked[:k]))
    return out


def rank_sources(scores: dict[str, float]) -> list[str]:
    """Sources sorted best first by first-order affinity (ties by name, for determinism)."""
    return sorted(scores, key=lambda s: (-scores[s], s))
