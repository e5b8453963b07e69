"""Cheap affinity estimators: hand-checkable oracles for each one (transfer/estimate.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import ortho_group

from taskonomy.errors import TaskonomyError
from taskonomy.transfer.estimate import (
    CKA,
    DDS,
    RSA,
    LogME,
    LogMEProbe,
    Ridge,
    estimator_names,
    get_estimator,
    label_matrix,
)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _split(x: np.ndarray) -> dict[str, np.ndarray]:
    return {"small": x, "test": x}


def test_registry_lists_the_valid_names_on_a_bad_one() -> None:
    assert set(estimator_names()) == {"cka", "rsa", "dds", "ridge", "logme", "logme_probe"}
    assert get_estimator("cka") is CKA
    with pytest.raises(TaskonomyError, match="cka") as info:
        get_estimator("ckaa")
    assert "\n" not in str(info.value)


def test_cka_of_a_rotated_and_scaled_copy_is_one_and_of_independent_noise_is_small() -> None:
    x = _rng().normal(size=(200, 6))
    q = ortho_group.rvs(6, random_state=1)
    assert CKA().fit(_split(x), _split(3.0 * x @ q + 5.0)).score_ == pytest.approx(1.0)
    noise = _rng(2).normal(size=(200, 6))
    assert CKA().fit(_split(x), _split(noise)).score_ < 0.2


def test_cka_equals_its_definition_on_a_small_case() -> None:
    x = _rng(3).normal(size=(7, 3))
    y = _rng(4).normal(size=(7, 2))
    h = np.eye(7) - 1 / 7  # centering matrix
    kx, ky = h @ x @ x.T @ h, h @ y @ y.T @ h
    want = np.sum(kx * ky) / np.sqrt(np.sum(kx * kx) * np.sum(ky * ky))
    assert CKA().fit(_split(x), _split(y)).score_ == pytest.approx(want)


def test_rsa_of_identical_dissimilarities_is_one_and_flips_with_reversed_ones() -> None:
    x = _rng(5).normal(size=(40, 5))
    # scaling and shifting every feature alike keeps every row-pair correlation exactly
    assert RSA().fit(_split(x), _split(2.0 * x + 1.0)).score_ == pytest.approx(1.0)
    assert RSA().fit(_split(x), _split(_rng(6).normal(size=(40, 5)))).score_ < 0.3


def test_rsa_subsamples_with_a_seed() -> None:
    x = _rng(7).normal(size=(60, 4))
    y = x + _rng(8).normal(size=(60, 4))
    a = RSA(max_images=20, seed=1).fit(_split(x), _split(y)).score_
    assert a == RSA(max_images=20, seed=1).fit(_split(x), _split(y)).score_
    assert a != RSA(max_images=20, seed=2).fit(_split(x), _split(y)).score_


def test_dds_of_a_rescaled_copy_is_one() -> None:
    x = _rng(9).normal(size=(50, 4))
    # z-scoring removes per-feature scale and shift
    assert DDS().fit(_split(x), _split(x * [1, 2, 3, 4] - 7)).score_ == pytest.approx(1.0)
    assert DDS().fit(_split(x), _split(_rng(10).normal(size=(50, 4)))).score_ < 0.3


def test_ridge_with_no_penalty_is_least_squares() -> None:
    rng = _rng(11)
    xs, xt = rng.normal(size=(80, 5)), rng.normal(size=(30, 5))
    w = rng.normal(size=(5, 2))
    ys, yt = xs @ w + 0.3 * rng.normal(size=(80, 2)), xt @ w + 0.3 * rng.normal(size=(30, 2))
    est = Ridge(alphas=(0.0,)).fit({"small": xs, "test": xt}, {"small": ys, "test": yt})
    design = np.hstack([xs, np.ones((80, 1))])
    coef, *_ = np.linalg.lstsq(design, ys, rcond=None)
    pred = np.hstack([xt, np.ones((30, 1))]) @ coef
    r2 = 1 - ((yt - pred) ** 2).sum() / ((yt - yt.mean(0)) ** 2).sum()
    assert est.score_ == pytest.approx(r2)
    assert est.losses_ == pytest.approx(((yt - pred) ** 2).sum(1))
    assert est.flops_ > 0


def test_ridge_picks_its_penalty_on_held_out_rows() -> None:
    rng = _rng(15)
    # few samples, many noisy features: a large penalty predicts held-out rows better
    x = rng.normal(size=(60, 40))
    y = x[:, :1] + 2.0 * rng.normal(size=(60, 1))
    reps, labels = {"small": x[:40], "test": x[40:]}, {"small": y[:40], "test": y[40:]}
    est = Ridge(alphas=(1e-6, 10.0)).fit(reps, labels)
    xs, ys, n = x[:40], y[:40], 34  # the last 15% (6 rows) of the small split held out
    errs = []
    for a in (1e-6, 10.0):
        mu, sd = xs[:n].mean(0), xs[:n].std(0)
        z = (xs[:n] - mu) / sd
        lam = a * np.trace(z.T @ z) / 40
        w = np.linalg.solve(z.T @ z + lam * np.eye(40), z.T @ (ys[:n] - ys[:n].mean(0)))
        errs.append((((xs[n:] - mu) / sd @ w + ys[:n].mean(0) - ys[n:]) ** 2).sum())
    assert est.alpha_ == (1e-6, 10.0)[int(np.argmin(errs))] == 10.0


def test_ridge_ranks_an_informative_representation_above_noise() -> None:
    rng = _rng(12)
    x = rng.normal(size=(120, 6))
    y = x[:, :2] @ [[1.0], [-2.0]]
    reps_good = {"small": x[:80], "test": x[80:]}
    reps_bad = {"small": rng.normal(size=(80, 6)), "test": rng.normal(size=(40, 6))}
    labels = {"small": y[:80], "test": y[80:]}
    assert Ridge().fit(reps_good, labels).score_ > 0.9 > Ridge().fit(reps_bad, labels).score_


def _log_evidence(f: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """log N(y; 0, FFᵀ/α + I/β): the Bayesian linear model's evidence, directly."""
    n = f.shape[0]
    cov = f @ f.T / alpha + np.eye(n) / beta
    _, logdet = np.linalg.slogdet(cov)
    return float(-0.5 * (y @ np.linalg.solve(cov, y) + logdet + n * np.log(2 * np.pi)))


@pytest.mark.parametrize("d", [4, 45])  # primal (n > d) and dual (n ≤ d) forms
def test_logme_evidence_equals_the_marginal_likelihood_at_its_precisions(d: int) -> None:
    rng = _rng(13)
    f = rng.normal(size=(30, d))
    y = f[:, :4] @ rng.normal(size=(4, 2)) + 0.5 * rng.normal(size=(30, 2))
    est = LogME().fit(_split(f), _split(y))
    assert (est.coef_ is None) == (d >= 30)
    for j in range(2):
        want = _log_evidence(f, y[:, j], est.alpha_[j], est.beta_[j]) / 30
        assert est.evidence_[j] == pytest.approx(want, rel=1e-9)
    assert est.score_ == pytest.approx(est.evidence_.mean())


def test_logme_orders_features_by_how_well_they_explain_the_labels() -> None:
    rng = _rng(14)
    f = rng.normal(size=(200, 5))
    y = (f @ rng.normal(size=(5, 1))) + rng.normal(size=(200, 1))
    noisier = f + 2.0 * rng.normal(size=(200, 5))
    unrelated = rng.normal(size=(200, 5))
    scores = [LogME().fit(_split(r), _split(y)).score_ for r in (f, noisier, unrelated)]
    assert scores[0] > scores[1] > scores[2]


def test_label_matrix_one_hot_pools_maps_and_honours_masks() -> None:
    cls = torch.tensor([0, 2])
    assert label_matrix(cls, 3).tolist() == [[1, 0, 0], [0, 0, 1]]
    seg = torch.zeros(1, 8, 8, dtype=torch.int64)
    seg[0, :4, :] = 1  # top half class 1
    m = label_matrix(seg, 2, grid=2).reshape(2, 2, 2)  # (class, cell row, cell col)
    assert m[1].tolist() == [[1, 1], [0, 0]] and m[0].tolist() == [[0, 0], [1, 1]]
    depth = torch.arange(16.0).reshape(1, 1, 4, 4)
    mask = torch.ones(1, 1, 4, 4, dtype=torch.bool)
    mask[0, 0, 0, 0] = False  # value 0 left out of the first cell: mean of 1, 4, 5
    out = label_matrix(depth, mask=mask, grid=2)
    assert out[0, 0] == pytest.approx(10 / 3)
    assert out[0, 1] == pytest.approx((2 + 3 + 6 + 7) / 4)


@pytest.mark.parametrize("d", [4, 70])  # primal (n > d) and dual (n ≤ d) forms
def test_logme_probe_is_ridge_at_the_evidence_optimal_penalty(d: int) -> None:
    rng = _rng(16)
    f, ft = rng.normal(size=(50, d)), rng.normal(size=(20, d))
    w = rng.normal(size=(d, 1)) * (np.arange(d) < 4)[:, None]
    y, yt = f @ w + 0.5 * rng.normal(size=(50, 1)), ft @ w + 0.5 * rng.normal(size=(20, 1))
    est = LogMEProbe().fit({"small": f, "test": ft}, {"small": y, "test": yt})
    lam = est.alpha_[0] / est.beta_[0]
    coef = np.linalg.solve(f.T @ f + lam * np.eye(d), f.T @ y)  # the posterior mean
    assert est.losses_ == pytest.approx(((yt - ft @ coef) ** 2).sum(1))
    assert est.score_ == pytest.approx(1 - est.losses_.sum() / ((yt - yt.mean()) ** 2).sum())


def test_segment_pairs_are_numbering_free_and_checkable_by_hand() -> None:
    from taskonomy.transfer.estimate import segment_pair_matrix

    # 4×4 map, 2×2 grid: cells (0,0)=7, (0,1)=7, (1,0)=2 (3 of 4 pixels), (1,1)=9.
    seg = torch.tensor([[7, 7, 7, 7], [7, 7, 7, 7], [2, 2, 9, 9], [2, 5, 9, 9]], dtype=torch.int64)[
        None
    ]
    # pairs in triu order: (0,1) (0,2) (0,3) (1,2) (1,3) (2,3)
    assert segment_pair_matrix(seg, grid=2).tolist() == [[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]]
    relabelled = torch.tensor([0, 0, 3, 0, 0, 1, 0, 4, 0, 2])[seg]  # 7→4, 2→3, 9→2, 5→1
    np.testing.assert_array_equal(
        segment_pair_matrix(relabelled, grid=2), segment_pair_matrix(seg, grid=2)
    )
    with pytest.raises(TaskonomyError, match="segment map size"):
        segment_pair_matrix(seg, grid=3)


@pytest.mark.parametrize("cls", [Ridge, LogME, LogMEProbe])
def test_a_shared_basis_gives_the_same_fit_for_every_target_and_is_counted_once(
    cls: type[Ridge] | type[LogME],
) -> None:
    rng = _rng(17)
    reps = {"small": rng.normal(size=(60, 8)), "test": rng.normal(size=(25, 8))}
    basis = cls().basis(reps)
    assert basis is not None and basis.flops > 0
    for seed in (1, 2):  # two targets of one representation
        w = _rng(seed).normal(size=(8, 3))
        labels = {s: x @ w + _rng(seed + 9).normal(size=(len(x), 3)) for s, x in reps.items()}
        alone, shared = cls().fit(reps, labels), cls().fit(reps, labels, basis)
        assert shared.score_ == pytest.approx(alone.score_, rel=1e-10)
        np.testing.assert_allclose(shared.coef_, alone.coef_, rtol=1e-8, atol=1e-12)
        if alone.losses_ is not None:
            np.testing.assert_allclose(shared.losses_, alone.losses_, rtol=1e-8)
        # the factorization is the basis's work: a fit given one does not count it again
        assert alone.flops_ == shared.flops_ + basis.flops
        assert shared.flops_ < basis.flops


def test_logme_and_its_probe_share_a_basis_and_ridge_refuses_it() -> None:
    rng = _rng(18)
    reps = {"small": rng.normal(size=(40, 5)), "test": rng.normal(size=(20, 5))}
    labels = {"small": rng.normal(size=(40, 1)), "test": rng.normal(size=(20, 1))}
    basis = LogME().basis(reps)
    assert LogMEProbe().basis_kind() == LogME().basis_kind() != Ridge().basis_kind()
    LogMEProbe().fit(reps, labels, basis)
    with pytest.raises(TaskonomyError, match="basis") as info:
        Ridge().fit(reps, labels, basis)
    assert "\n" not in str(info.value)
    other = {"small": rng.normal(size=(30, 5)), "test": rng.normal(size=(20, 5))}
    with pytest.raises(TaskonomyError, match="shape"):
        LogME().fit(other, {"small": labels["small"][:30], "test": labels["test"]}, basis)


def _wide(seed: int, n: int = 30, n_test: int = 12, p: int = 24) -> tuple[dict, dict]:
    rng = _rng(seed)
    reps = {"small": rng.normal(size=(n, p)) * rng.uniform(0.5, 3, p) + 2.0,
            "test": rng.normal(size=(n_test, p)) + 2.0}  # fmt: skip
    w = rng.normal(size=(p, 3))
    labels = {s: x @ w + 3.0 * rng.normal(size=(len(x), 3)) for s, x in reps.items()}
    return reps, labels


def test_ridge_in_its_dual_form_is_the_primal_solution() -> None:
    reps, labels = _wide(20, n=30, p=48)  # fewer rows than features: the dual form
    assert Ridge().dual(30, 48) and not Ridge().dual(49, 48) and Ridge(solver="dual").dual(49, 48)
    dual = Ridge().fit(reps, labels)
    assert dual.coef_ is None  # no weights formed
    primal = Ridge(solver="primal").fit(reps, labels)
    assert primal.coef_ is not None
    assert dual.alpha_ == primal.alpha_
    np.testing.assert_allclose(dual.losses_, primal.losses_, rtol=1e-8)
    assert dual.score_ == pytest.approx(primal.score_, rel=1e-10)
    # by hand at the picked penalty: standardized with the small split, intercept its mean
    xs, ys = reps["small"], labels["small"]
    mu, sd = xs.mean(0), xs.std(0)
    z = (xs - mu) / sd
    lam = dual.alpha_ * np.trace(z.T @ z) / 48
    w = np.linalg.solve(z.T @ z + lam * np.eye(48), z.T @ (ys - ys.mean(0)))
    pred = (reps["test"] - mu) / sd @ w + ys.mean(0)
    np.testing.assert_allclose(dual.losses_, ((labels["test"] - pred) ** 2).sum(1), rtol=1e-8)


def test_ridge_builds_a_source_sets_dual_basis_from_its_sources_parts() -> None:
    a, labels = _wide(21, n=30, p=20)
    b, _ = _wide(22, n=30, p=16)
    both = {s: np.hstack([a[s], b[s]]) for s in a}
    est = Ridge()
    assert est.combines(30, 36) and not est.combines(30, 20)
    whole, combined = est.basis(both), est.combine([est.part(a), est.part(b)])
    assert combined.shapes == whole.shapes and combined.arrays.keys() == whole.arrays.keys()
    for key, arr in whole.arrays.items():
        np.testing.assert_allclose(combined.arrays[key], arr, rtol=1e-10, atol=1e-10)
    assert combined.flops < whole.flops / 10  # a sum of kernels, not a product of features
    np.testing.assert_allclose(Ridge().fit(both, labels, combined).losses_,
                               Ridge().fit(both, labels).losses_, rtol=1e-8)  # fmt: skip
    # parts of other rows, or of another estimator's kind, are refused
    other, _ = _wide(23, n=28, p=16)
    with pytest.raises(TaskonomyError, match="same rows") as info:
        est.combine([est.part(a), est.part(other)])
    assert "\n" not in str(info.value)
    with pytest.raises(TaskonomyError, match="ridge parts"):
        Ridge(val_fraction=0.3).combine([est.part(a)])
    with pytest.raises(TaskonomyError, match=r"auto \| primal \| dual"):
        Ridge(solver="qr").fit(a, labels)
    # an all-constant representation predicts the mean, in either form
    flat = {s: np.ones_like(x) for s, x in a.items()}
    for f in (flat, {s: np.ones((len(x), 40)) for s, x in a.items()}):
        got = Ridge().fit(f, labels)
        want = ((labels["test"] - labels["small"].mean(0)) ** 2).sum(1)
        np.testing.assert_allclose(got.losses_, want)


def test_logme_builds_a_source_sets_dual_basis_from_its_sources_parts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, labels = _wide(24, n=30, p=20)
    b, _ = _wide(25, n=30, p=16)
    both = {s: np.hstack([a[s], b[s]]) for s in a}
    est = LogMEProbe()
    assert est.combines(30, 36) and not est.combines(30, 20)
    combined = est.combine([est.part(a), est.part(b)])
    assert combined.kind == LogME().basis_kind() and combined.shapes["small"] == (30, 36)
    got = LogMEProbe().fit(both, labels, combined)
    alone = LogMEProbe().fit(both, labels)
    monkeypatch.setattr(LogME, "combines", lambda self, n, p: False)  # the primal form
    primal = LogMEProbe().fit(both, labels)
    assert primal.coef_ is not None and got.coef_ is None
    for other in (alone, primal):
        np.testing.assert_allclose(got.evidence_, other.evidence_, rtol=1e-7)
        np.testing.assert_allclose(got.losses_, other.losses_, rtol=1e-7)
    with pytest.raises(TaskonomyError, match="logme parts"):
        est.combine([est.part(a), Ridge().part(b)])
