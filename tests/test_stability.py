from __future__ import annotations

import numpy as np
import pytest

from taskonomy.affinity.bootstrap import AffinityBootstrap, objective_table
from taskonomy.affinity.table import Transfer, TransferTable
from taskonomy.errors import TaskonomyError
from taskonomy.taxonomy.bip import solve
from taskonomy.taxonomy.stability import TaxonomyStability, edge_of, policy_key


def _t(self_n: float, self_r: float, n_to_r: float, rnd_r: float) -> TransferTable:
    return TransferTable(
        {
            Transfer(("self",), "normal"): self_n,
            Transfer(("random",), "normal"): 0.1,
            Transfer(("self",), "reshading"): self_r,
            Transfer(("normal",), "reshading"): n_to_r,
            Transfer(("random",), "reshading"): rnd_r,
        }
    )


# Budget 1 (one task trained), by hand:
# T1: train normal → 0.6 + 0.3 (normal→reshading) = 0.9; train reshading → 0.1 + 0.5 = 0.6.
# T2: train normal → 0.6 + 0.2 = 0.8;  train reshading → 0.1 + 0.9 = 1.0  (other scratch set).
# T3: train normal → 0.6 + 0.2 (random→reshading beats normal's 0.1) = 0.8; reshading 0.6.
T1 = _t(0.6, 0.5, 0.3, 0.2)
T2 = _t(0.6, 0.9, 0.1, 0.2)
T3 = _t(0.6, 0.5, 0.1, 0.2)


def test_hand_built_replicates_give_known_frequencies() -> None:
    st = TaxonomyStability(budget=1).fit(T1, [T1, T1, T2, T3, T1])
    assert st.policy_.scratch == ("normal",)
    assert st.n_replicates_ == 5
    assert st.scratch_frequency_ == {"normal": pytest.approx(4 / 5)}
    assert st.other_scratch_frequency_ == {"reshading": pytest.approx(1 / 5)}
    assert st.edge_frequency_ == {
        Transfer(("self",), "normal"): pytest.approx(4 / 5),
        Transfer(("normal",), "reshading"): pytest.approx(3 / 5),
    }
    assert st.optimum_probability_ == pytest.approx(3 / 5)
    assert sorted(st.policy_counts_.values()) == [1, 1, 3]
    # only the first n_replicates are re-solved
    few = TaxonomyStability(budget=1, n_replicates=4).fit(T1, [T1, T1, T2, T3, T1])
    assert few.n_replicates_ == 4
    assert few.optimum_probability_ == pytest.approx(2 / 4)
    assert few.edge_frequency_[Transfer(("normal",), "reshading")] == pytest.approx(2 / 4)


def test_given_policy_is_the_reference() -> None:
    other = solve(T2, 1)
    st = TaxonomyStability(budget=1).fit(T1, [T1, T2, T2], policy=other)
    assert st.policy_ is other
    assert st.optimum_probability_ == pytest.approx(2 / 3)
    assert st.scratch_frequency_ == {"reshading": pytest.approx(2 / 3)}
    assert policy_key(solve(T1, 1)) != policy_key(other)
    assert edge_of(other.choices["reshading"]) == Transfer(("self",), "reshading")


def test_bootstrap_replicates_clear_and_unclear_choices() -> None:
    rng = np.random.default_rng(0)
    n = 200
    # normal: self far better than random. reshading: normal-transfer vs random is a
    # coin flip, so whether it is served by normal or random is unstable; training
    # normal is always right (self beats random by far for normal, reshading's self is
    # no better than the transfers).
    losses = {
        "normal": {"self": rng.random(n), "random": rng.random(n) + 2.0},
        "reshading": {
            "self": rng.random(n) + 1.0,
            "normal": rng.random(n),
            "random": rng.random(n),
        },
    }
    boot = AffinityBootstrap(n_replicates=60, seed=0).fit(losses)
    st = TaxonomyStability(budget=1, n_replicates=40).fit(boot.affinity_, boot)
    assert st.n_replicates_ == 40
    assert st.scratch_frequency_ == {"normal": 1.0}
    assert st.edge_frequency_[Transfer(("self",), "normal")] == 1.0
    chosen = edge_of(st.policy_.choices["reshading"])
    assert 0.1 < st.edge_frequency_[chosen] < 0.95
    assert st.optimum_probability_ == st.edge_frequency_[chosen]
    # the lcb table solves like any affinity table
    assert solve(objective_table(boot, "lcb"), 1).scratch == ("normal",)


def test_errors() -> None:
    with pytest.raises(TaskonomyError, match="n_replicates"):
        TaxonomyStability(budget=1, n_replicates=0).fit(T1, [T1])
    with pytest.raises(TaskonomyError, match="replicates"):
        TaxonomyStability(budget=1).fit(T1, [])


def test_ties_count_as_the_optimum() -> None:
    # reshading's two transfers tie up to float rounding (as flagged rows do after AHP):
    # the point table prefers normal by 1e-15, every replicate prefers random by 1e-15.
    # Both need nothing beyond normal's training, so the policy is optimal in every replicate.
    point = _t(0.6, 0.1, 0.2 + 1e-15, 0.2)
    rep = _t(0.6, 0.1, 0.2, 0.2 + 1e-15)
    st = TaxonomyStability(budget=1).fit(point, [rep, rep, rep])
    assert st.policy_.choices["reshading"].sources == ("normal",)
    assert all(p.choices["reshading"].sources == ("random",) for p in st.replicate_policies_)
    assert st.exact_optimum_probability_ == 0.0
    assert st.optimum_probability_ == 1.0 and st.ties_reported_ == [True] * 3
    assert st.edge_frequency_[Transfer(("normal",), "reshading")] == 1.0
    # a real difference (1e-3) is no tie
    worse = _t(0.6, 0.1, 0.199, 0.2)
    st = TaxonomyStability(budget=1).fit(point, [worse, rep])
    assert st.optimum_probability_ == pytest.approx(1 / 2)
    assert st.edge_frequency_[Transfer(("normal",), "reshading")] == pytest.approx(1 / 2)


def test_a_tied_edge_that_needs_an_untrained_task_is_not_kept() -> None:
    # Policy serves reshading by normal; the replicate trains reshading instead (better),
    # so normal→reshading is not available there even if its affinity ties the choice.
    pol = solve(T1, 1)
    rep = _t(0.1, 0.9, 0.3, 0.2)
    st = TaxonomyStability(budget=1).fit(T1, [rep], policy=pol)
    assert st.replicate_policies_[0].scratch == ("reshading",)
    assert st.optimum_probability_ == 0.0
    assert st.edge_frequency_[Transfer(("normal",), "reshading")] == 0.0
