from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from taskonomy.affinity.table import Transfer, TransferTable
from taskonomy.errors import TaskonomyError
from taskonomy.evaluate.significance import PolicySignificance, best_vs_baselines
from taskonomy.taxonomy.bip import solve

S_N, R_N = Transfer(("self",), "normal"), Transfer(("random",), "normal")
S_R, N_R, R_R = (
    Transfer(("self",), "reshading"),
    Transfer(("normal",), "reshading"),
    Transfer(("random",), "reshading"),
)
TABLE = TransferTable({S_N: 0.6, R_N: 0.1, S_R: 0.5, N_R: 0.3, R_R: 0.2})
VS_SELF = TransferTable({R_N: 0.1, N_R: 0.4, R_R: 0.2}, "wins_vs_self")
VS_PIX = TransferTable({S_N: 0.9, R_N: 0.3, S_R: 0.8, N_R: 0.7, R_R: 0.4}, "wins_vs_pixels")


def test_random_feasible_policies_follow_the_hand_enumerated_distribution() -> None:
    # Budget 1: scratch {normal} or {reshading}, ½ each. With {normal}: normal ∈ {self,
    # random}, reshading ∈ {normal, random} (¼ each); with {reshading}: normal = random,
    # reshading ∈ {self, random} (½ each). Quality (scratch = 0.5) of each, by hand:
    #   {n}: (.5+.4)/2=.45, (.5+.2)/2=.35, (.1+.4)/2=.25, (.1+.2)/2=.15   (1/8 each)
    #   {r}: (.1+.5)/2=.30, (.1+.2)/2=.15                                  (1/4 each)
    exact_q = {0.45: 1 / 8, 0.35: 1 / 8, 0.25: 1 / 8, 0.15: 3 / 8, 0.3: 1 / 4}
    policy = solve(TABLE, 1)  # scratch normal, normal → reshading: Q .45, Gain (.9+.7)/2 = .8
    sig = PolicySignificance(n_samples=4000, seed=0).fit(policy, TABLE, VS_PIX, VS_SELF)
    got = Counter(np.round(sig.random_quality_, 9).tolist())
    assert set(got) == set(exact_q)
    for q, p in exact_q.items():
        assert got[q] / 4000 == pytest.approx(p, abs=0.025)
    assert Counter(sig.random_scratch_)[("normal",)] / 4000 == pytest.approx(0.5, abs=0.03)
    # Only the taxonomy itself reaches Q = .45 (and G = .8): percentile 100·(7/8 + 1/16).
    assert sig.quality_.value == pytest.approx(0.45)
    assert sig.quality_.percentile == pytest.approx(93.75, abs=1.5)
    assert sig.quality_.p_value == pytest.approx(1 / 8, abs=0.015)
    assert sig.gain_.value == pytest.approx(0.8)
    assert sig.gain_.p_value == pytest.approx(1 / 8, abs=0.015)
    assert sig.n_rejected_ == 0


def test_max_order_and_rejection() -> None:
    # reshading can only be served by normal+depth (order 2) or self; with max order 1
    # and budget 1 the only feasible draw trains reshading.
    two = Transfer(("depth_zbuffer", "normal"), "reshading")
    table = TransferTable(
        {S_N: 0.6, R_N: 0.4, S_R: 0.5, two: 0.5, Transfer(("self",), "depth_zbuffer"): 1.0}
    )
    vs_self = TransferTable({R_N: 0.2, two: 0.4}, "wins_vs_self")
    vs_pix = TransferTable({S_N: 0.9, R_N: 0.3, S_R: 0.8, two: 0.7}, "wins_vs_pixels")
    policy = solve(table, 1, 1, targets=["normal", "reshading"])
    sig = PolicySignificance(n_samples=50, seed=1).fit(policy, table, vs_pix, vs_self)
    assert set(sig.random_scratch_) == {("reshading",)}
    assert sig.n_rejected_ > 0  # {normal} and {depth_zbuffer} leave reshading unserved
    np.testing.assert_allclose(sig.random_quality_, (0.2 + 0.5) / 2)
    with pytest.raises(TaskonomyError, match="feasible"):
        PolicySignificance(n_samples=50, max_draws=0).fit(policy, table, vs_pix, vs_self)
    # With only normal trainable, reshading has no candidate at all.
    with pytest.raises(TaskonomyError, match="candidate"):
        PolicySignificance(sources=["normal"]).fit(policy, table, vs_pix, vs_self)


def test_paired_test_hand_checked() -> None:
    # best beats random on all 10 images: exact one-sided Wilcoxon p = 1/2^10,
    # rank-biserial 1, win rate 1. Against pixels it loses on every image.
    n = 10
    best = np.arange(n, dtype=float)
    losses = {
        "normal": {
            "self": best - 1.0,
            "reshading": best,
            "depth_zbuffer": best + 0.5,
            "random": best + np.arange(1, n + 1),
            "pixels": best - 0.5,
        }
    }
    res = {t.baseline.sources[0]: t for t in best_vs_baselines(losses)}
    rnd, pix = res["random"], res["pixels"]
    assert rnd.best == Transfer(("reshading",), "normal")
    assert rnd.p_value == pytest.approx(1 / 2**10)
    assert rnd.significant and rnd.win_rate == 1.0 and rnd.rank_biserial == 1.0
    assert rnd.median_difference == pytest.approx(5.5)
    assert rnd.statistic == 55.0
    assert not pix.significant and pix.rank_biserial == -1.0 and pix.win_rate == 0.0
    assert pix.p_value == pytest.approx(1.0)
    # the best can be named; with seeds, losses are averaged per image first
    seeded = {"normal": {k: np.stack([v, v]) for k, v in losses["normal"].items()}}
    named = best_vs_baselines(seeded, best={"normal": "depth_zbuffer"}, level=0.99)
    assert {t.best for t in named} == {Transfer(("depth_zbuffer",), "normal")}
    assert named[0].p_value == pytest.approx(1 / 2**10)


def test_paired_test_noise_is_not_significant() -> None:
    rng = np.random.default_rng(0)
    same = rng.random(200)
    losses = {"normal": {"self": same, "reshading": same + 0.001 * rng.standard_normal(200),
                         "random": same + 0.001 * rng.standard_normal(200)}}  # fmt: skip
    (t,) = best_vs_baselines(losses)
    assert t.p_value > 0.01 and abs(t.rank_biserial) < 0.3


def test_errors() -> None:
    policy = solve(TABLE, 1)
    with pytest.raises(TaskonomyError, match="n_samples"):
        PolicySignificance(n_samples=0).fit(policy, TABLE, VS_PIX, VS_SELF)
    with pytest.raises(TaskonomyError, match="kind"):
        PolicySignificance().fit(policy, TABLE, VS_SELF, VS_PIX)
    with pytest.raises(TaskonomyError, match="level"):
        best_vs_baselines({"normal": {"self": [1.0]}}, level=1.5)
    with pytest.raises(TaskonomyError, match="best transfer"):
        best_vs_baselines(
            {"normal": {"self": [1.0], "random": [2.0]}}, best={"normal": "reshading"}
        )
