from __future__ import annotations

from math import comb
from pathlib import Path

import pytest

from taskonomy.affinity.table import read_table
from taskonomy.errors import TaskonomyError
from taskonomy.transfer.orders import higher_order_sources, rank_sources


def test_counts_follow_the_paper() -> None:
    ranked = [f"s{i}" for i in range(25)]
    sets = higher_order_sources(ranked, 25)
    by_order: dict[int, list[tuple[str, ...]]] = {}
    for s in sets:
        by_order.setdefault(len(s), []).append(s)
    assert len(by_order[2]) == comb(5, 2) == 10
    assert len(by_order[3]) == comb(5, 3) == 10
    assert len(by_order[4]) == comb(6, 4) == 15
    for k in range(5, 26):
        assert by_order[k] == [tuple(ranked[:k])]
    assert all(set(s) <= set(ranked[:5]) for s in by_order[2] + by_order[3])
    assert all(set(s) <= set(ranked[:6]) for s in by_order[4])


def test_short_rankings_and_errors() -> None:
    assert higher_order_sources(["a", "b"], 5) == [("a", "b")]
    assert higher_order_sources(["a"], 3) == []
    assert higher_order_sources(["a", "b", "c"], 1) == []
    with pytest.raises(TaskonomyError, match="max order"):
        higher_order_sources(["a"], 0)
    with pytest.raises(TaskonomyError, match="distinct"):
        higher_order_sources(["a", "a"], 2)


def test_rank_is_deterministic_on_ties() -> None:
    assert rank_sources({"b": 0.2, "a": 0.2, "c": 0.5}) == ["c", "a", "b"]


def test_matches_published_order_two_and_three(published_dir: Path) -> None:
    # The published 16k file holds, per target and order, every combination of a pool of
    # 5 (orders 2, 3) or 6 (order 4) sources. Irregularities of the released file
    # (pool size, number of sets), listed so that any other deviation fails:
    irregular = {
        ("segment_semantic", 3): (6, 16),
        ("segment_semantic", 4): (7, 25),
        ("nonfixated_pose", 2): (4, 6),
    }
    table = read_table(published_dir / "affinities" / "all_affinities_16k.pkl")
    for target in table.targets():
        trs = table.for_target(target)
        for order, pool_size in ((2, 5), (3, 5), (4, 6)):
            sets = [tr.sources for tr in trs if tr.order == order]
            pool = {s for srcs in sets for s in srcs}
            want_pool, want_sets = irregular.get(
                (target, order), (pool_size, comb(pool_size, order))
            )
            assert len(pool) == want_pool, (target, order, sorted(pool))
            assert len(sets) == want_sets
