from __future__ import annotations

import numpy as np
import pytest

from taskonomy.affinity.ahp import AHP, affinity_table, random_index, tournament, win_rate
from taskonomy.affinity.table import Transfer
from taskonomy.errors import TaskonomyError


def test_hand_checked_three_transfers() -> None:
    # A beats B and C on 2 of 3 images; B and C tie everywhere (half a win each).
    losses = np.array([[0.0, 0.0, 2.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    ahp = AHP().fit(losses)
    np.testing.assert_allclose(
        ahp.wins_, [[0.5, 2 / 3, 2 / 3], [1 / 3, 0.5, 0.5], [1 / 3, 0.5, 0.5]]
    )
    # W' = [[1,2,2],[.5,1,1],[.5,1,1]] is perfectly consistent with weights (2, 1, 1).
    np.testing.assert_allclose(ahp.ratio_, [[1, 2, 2], [0.5, 1, 1], [0.5, 1, 1]])
    np.testing.assert_allclose(ahp.affinity_, [0.5, 0.25, 0.25])
    assert ahp.eigenvalue_ == pytest.approx(3.0)
    assert ahp.consistency_ratio_ == pytest.approx(0.0, abs=1e-12)


def test_clipping_keeps_ratios_finite_and_dominance_ordered() -> None:
    # A strictly dominates B which strictly dominates C on every image.
    losses = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    ahp = AHP(clip=(0.001, 0.999)).fit(losses)
    assert np.isfinite(ahp.ratio_).all()
    assert ahp.ratio_[0, 1] == pytest.approx(0.999 / 0.001)
    assert ahp.affinity_[0] > ahp.affinity_[1] > ahp.affinity_[2]
    assert ahp.affinity_.sum() == pytest.approx(1.0)
    # A gentler clip shrinks the spread between best and worst.
    soft = AHP(clip=(0.1, 0.9)).fit(losses)
    assert soft.affinity_[0] / soft.affinity_[2] < ahp.affinity_[0] / ahp.affinity_[2]


def test_affinity_is_perron_vector_by_power_iteration() -> None:
    rng = np.random.default_rng(0)
    losses = rng.gamma(2.0, size=(6, 50)) * rng.uniform(0.5, 2, size=(6, 1))
    ahp = AHP().fit(losses)
    v = np.ones(6) / 6
    for _ in range(500):
        v = ahp.ratio_ @ v
        v /= v.sum()
    np.testing.assert_allclose(ahp.affinity_, v, rtol=1e-8)
    assert ahp.eigenvalue_ >= 6 - 1e-9  # λ_max ≥ n for a reciprocal positive matrix


def test_invariant_under_strictly_increasing_transform() -> None:
    rng = np.random.default_rng(1)
    losses = rng.exponential(size=(5, 40))
    losses[1, :10] = losses[2, :10]  # some ties, which must survive the transform
    base = AHP().fit(losses)
    for f in (np.log1p, lambda x: x**3 + 7, lambda x: np.exp(3 * x)):
        np.testing.assert_allclose(AHP().fit(f(losses)).affinity_, base.affinity_, rtol=1e-10)
    # A decreasing transform reverses who wins: not invariant.
    assert not np.allclose(AHP().fit(-losses).affinity_, base.affinity_)


def test_permutation_equivariance() -> None:
    rng = np.random.default_rng(2)
    losses = rng.normal(size=(7, 30))
    perm = rng.permutation(7)
    a = AHP().fit(losses).affinity_
    b = AHP().fit(losses[perm]).affinity_
    np.testing.assert_allclose(b, a[perm], rtol=1e-10)


def test_tie_rules() -> None:
    losses = np.array([[1.0, 2.0], [1.0, 3.0]])
    assert tournament(losses, "half")[0, 1] == pytest.approx(0.75)
    assert tournament(losses, "loss")[0, 1] == pytest.approx(0.5)
    w = tournament(np.random.default_rng(3).integers(0, 3, size=(4, 20)).astype(float))
    np.testing.assert_allclose(w + w.T, 1.0)
    assert win_rate(np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 1.0])) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("losses", "match"),
    [
        (np.array([[1.0, np.nan], [0.0, 1.0]]), r"losses\[0, 1\].*finite"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), "finite"),
        (np.array([1.0, 2.0]), "2-D"),
        (np.zeros((2, 0)), "at least 1"),
    ],
)
def test_bad_losses_raise_clear_errors(losses: np.ndarray, match: str) -> None:
    with pytest.raises(TaskonomyError, match=match):
        AHP().fit(losses)


def test_bad_parameters_and_names() -> None:
    with pytest.raises(TaskonomyError, match="clip"):
        AHP(clip=(0.6, 0.9)).fit(np.zeros((2, 2)))
    with pytest.raises(TaskonomyError, match="number of names"):
        AHP().fit(np.zeros((2, 2)), names=["a"])
    with pytest.raises(TaskonomyError, match="ties"):
        tournament(np.zeros((2, 2)), "bogus")  # type: ignore[arg-type]
    with pytest.raises(TaskonomyError, match="shapes"):
        win_rate(np.zeros(3), np.zeros(4))


def test_random_index_table_and_extension() -> None:
    assert random_index(3) == pytest.approx(0.58)
    assert random_index(15) == pytest.approx(1.59)
    assert 1.5 < random_index(30) < 2.0  # the fit continues the table smoothly


def test_affinity_table_per_target_sums_to_one() -> None:
    rng = np.random.default_rng(4)
    trs = [
        Transfer.of(["normal"], "depth_zbuffer"),
        Transfer.of(["self"], "depth_zbuffer"),
        Transfer.of(["random"], "depth_zbuffer"),
    ]
    trs2 = [Transfer.of(["rgb2depth"], "normal"), Transfer.of(["self"], "normal")]
    table, cr = affinity_table(
        {"depth_zbuffer": (trs, rng.random((3, 20))), "normal": (trs2, rng.random((2, 20)))}
    )
    assert len(table) == 5
    for t in ("depth_zbuffer", "normal"):
        assert sum(table.for_target(t).values()) == pytest.approx(1.0)
    assert set(cr) == {"depth_zbuffer", "normal"}
    with pytest.raises(TaskonomyError, match="must all end in it"):
        affinity_table({"normal": (trs, rng.random((3, 5)))})
