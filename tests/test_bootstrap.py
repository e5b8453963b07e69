from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from taskonomy.affinity.ahp import AHP, win_rate_table
from taskonomy.affinity.bootstrap import (
    AffinityBootstrap,
    batched_ahp,
    objective_table,
    perron_vectors,
    read_ci_csv_text,
)
from taskonomy.affinity.table import Transfer
from taskonomy.errors import TaskonomyError


def _table(rng: np.random.Generator, n_img: int, shape: tuple[int, ...] = ()) -> dict:
    """Two targets, 4-5 transfers each, losses with a per-image difficulty."""
    out = {}
    for target, labels in (
        ("normal", ["self", "random", "reshading", "depth_zbuffer+reshading", "pixels"]),
        ("reshading", ["self", "random", "normal", "pixels"]),
    ):
        diff = rng.gamma(2.0, 0.5, size=n_img)
        out[target] = {
            lab: rng.uniform() + 0.5 * rng.standard_normal((*shape, n_img)) + diff for lab in labels
        }
    return out


def test_three_images_two_transfers_match_exact_enumeration() -> None:
    # Transfer a beats b on image 0, ties on image 1, loses on image 2: per-image scores
    # (1, 1/2, 0). A resample is one of 27 equally likely index triples; W[a, b] is the mean
    # score, and for 2 transfers the affinity of a is clip(W_ab) / (clip(W_ab) + clip(W_ba)).
    losses = {"normal": {"self": [1.0, 2.0, 3.0], "random": [2.0, 2.0, 1.0]}}
    scores = np.array([1.0, 0.5, 0.0])
    exact: Counter[float] = Counter()
    for idx in itertools.product(range(3), repeat=3):
        exact[round(float(scores[list(idx)].mean()), 9)] += 1
    assert sum(exact.values()) == 27 and exact[0.5] == 7  # hand count: 7 triples average ½

    boot = AffinityBootstrap(n_replicates=20000, seed=1).fit(losses)
    aff = boot.replicates_["normal"]  # (R, 2): self, random
    w = np.clip(aff[:, 0], 0.001, 0.999)  # affinity of `self` equals its clipped win share
    got = Counter(np.round(w, 9).tolist())
    for value, count in exact.items():
        expected = min(max(value, 0.001), 0.999)
        assert got[round(expected, 9)] / 20000 == pytest.approx(count / 27, abs=0.012)
    np.testing.assert_allclose(aff.sum(axis=1), 1.0)
    # Per replicate, by hand from its counts: W = counts · scores / 3.
    w_hand = boot.image_counts_[3] @ scores / 3  # (R,)
    np.testing.assert_allclose(aff[:, 0], np.clip(w_hand, 0.001, 0.999), atol=1e-12)
    wins = boot.win_replicates_["wins_vs_self"]["normal"]  # (R, 2) unclipped win shares
    np.testing.assert_allclose(wins[:, 0], 0.5)
    np.testing.assert_allclose(wins[:, 1], 1.0 - w_hand, atol=1e-12)


def test_replicates_equal_a_naive_loop_with_the_same_resamples() -> None:
    rng = np.random.default_rng(0)
    losses = _table(rng, 40)
    losses["normal"]["random"][:5] = losses["normal"]["self"][:5]  # some exact ties
    for ties in ("half", "loss"):
        boot = AffinityBootstrap(n_replicates=25, seed=3, ties=ties).fit(losses)
        counts = boot.image_counts_[40]  # (R, N)
        for target, rows in losses.items():
            labels = [lab for lab in rows if lab != "pixels"]
            full = np.stack([rows[lab] for lab in labels])  # (n, N)
            all_rows = np.stack(list(rows.values()))
            pix = list(rows).index("pixels")
            for r in range(25):
                idx = np.repeat(np.arange(40), counts[r])  # the replicate's images
                ahp = AHP(ties=ties).fit(full[:, idx])
                np.testing.assert_allclose(boot.replicates_[target][r], ahp.affinity_, atol=1e-10)
                ref = AHP(ties=ties).fit(all_rows[:, idx]).wins_[:, pix]
                got = boot.win_replicates_["wins_vs_pixels"][target][r]
                np.testing.assert_allclose(got, ref, atol=1e-12)


def test_two_level_seed_bootstrap_equals_naive_loop() -> None:
    rng = np.random.default_rng(5)
    losses = _table(rng, 30, shape=(3,))  # 3 seeds × 30 images
    losses["reshading"]["pixels"] = losses["reshading"]["pixels"][0]  # (N,) reused per seed
    boot = AffinityBootstrap(n_replicates=15, seed=2).fit(losses)
    seeds, images = boot.seed_counts_[3], boot.image_counts_[30]
    for target, rows in losses.items():
        labels = [lab for lab in rows if lab != "pixels"]
        stacked = np.stack([np.broadcast_to(rows[lab], (3, 30)) for lab in labels])  # (n, S, N)
        for r in range(15):
            s_idx = np.repeat(np.arange(3), seeds[r].astype(int))
            i_idx = np.repeat(np.arange(30), images[r])
            # each drawn seed, each drawn image: the (seed, image) pairs of the replicate
            sub = stacked[:, s_idx][:, :, i_idx].reshape(len(labels), -1)
            ahp = AHP().fit(sub)
            np.testing.assert_allclose(boot.replicates_[target][r], ahp.affinity_, atol=1e-10)


def test_point_estimates_are_ahp_and_win_rate_tables_on_all_data() -> None:
    rng = np.random.default_rng(1)
    losses = _table(rng, 60)
    boot = AffinityBootstrap(n_replicates=10).fit(losses)
    per_target, with_pix = {}, {}
    for target, rows in losses.items():
        trs = [Transfer.of(lab.split("+"), target) for lab in rows]
        arr = np.stack(list(rows.values()))
        per_target[target] = (trs[:-1], arr[:-1])  # pixels is last: not an AHP row
        with_pix[target] = (trs, arr)
        ahp = AHP().fit(arr[:-1])
        assert [boot.affinity_[tr] for tr in trs[:-1]] == ahp.affinity_.tolist()
    assert dict(boot.wins_["wins_vs_self"]) == dict(
        win_rate_table(with_pix, "self", "wins_vs_self")
    )
    assert dict(boot.wins_["wins_vs_pixels"]) == dict(
        win_rate_table(with_pix, "pixels", "wins_vs_pixels")
    )
    # (S, N) point estimate = AHP on the (seed, image) pairs
    seeded = _table(rng, 20, shape=(2,))
    b2 = AffinityBootstrap(n_replicates=5).fit(seeded)
    rows = seeded["reshading"]
    flat = np.stack([rows[k].reshape(-1) for k in rows if k != "pixels"])
    got = [b2.affinity_[tr] for tr in b2.transfers_["reshading"]]
    assert got == AHP().fit(flat).affinity_.tolist()


def test_intervals_bracket_the_median_and_shrink_with_more_images() -> None:
    widths = []
    for n_img in (50, 800):
        rng = np.random.default_rng(7)
        boot = AffinityBootstrap(n_replicates=300, seed=0).fit(_table(rng, n_img))
        lo, med, hi = boot.lower_, boot.median_, boot.upper_
        assert all(lo[tr] <= med[tr] <= hi[tr] for tr in lo)
        widths.append(np.mean([hi[tr] - lo[tr] for tr in lo]))
        # a wider level gives wider intervals from the same replicates
        boot.level = 0.5
        lo50, _, hi50 = boot.intervals()
        assert all(hi50[tr] - lo50[tr] <= hi[tr] - lo[tr] + 1e-15 for tr in lo)
    # width ~ 1/sqrt(N): 16x the images, about a quarter of the width
    assert widths[1] < widths[0] / 2.5


def test_shared_resamples_and_reproducibility() -> None:
    rng = np.random.default_rng(2)
    losses = _table(rng, 30)
    a = AffinityBootstrap(n_replicates=20, seed=9).fit(losses)
    b = AffinityBootstrap(n_replicates=20, seed=9).fit(losses)
    c = AffinityBootstrap(n_replicates=20, seed=10).fit(losses)
    np.testing.assert_array_equal(a.replicates_["normal"], b.replicates_["normal"])
    assert not np.array_equal(a.replicates_["normal"], c.replicates_["normal"])
    assert list(a.image_counts_) == [30] and a.seed_counts_ == {}
    assert a.image_counts_[30].sum(axis=1).tolist() == [30] * 20
    table = a.replicate_table(3)
    assert table[Transfer(("self",), "reshading")] == a.replicates_["reshading"][3, 0]
    with pytest.raises(TaskonomyError, match="replicate"):
        a.replicate_table(20)


def test_perron_vectors_match_eig_on_inconsistent_matrices() -> None:
    rng = np.random.default_rng(0)
    w = rng.uniform(0.001, 0.999, size=(50, 7, 7))
    w = np.triu(w, 1) + np.tril(1 - np.swapaxes(w, 1, 2), -1)
    w[:, np.arange(7), np.arange(7)] = 0.5
    got = batched_ahp(w)
    for b in range(50):
        # AHP.fit's recipe: eig, largest real eigenvalue, |vector| normalized
        vals, vecs = np.linalg.eig(np.clip(w[b], 0.001, 0.999) / np.clip(w[b], 0.001, 0.999).T)
        vec = np.abs(vecs[:, np.argmax(vals.real)].real)
        np.testing.assert_allclose(got[b], vec / vec.sum(), atol=1e-12)
    # a batch shape is kept
    assert perron_vectors(np.ones((2, 3, 4, 4))).shape == (2, 3, 4)


def test_ci_csv_roundtrip_and_objective_tables(tmp_path: Path) -> None:
    boot = AffinityBootstrap(n_replicates=50).fit(_table(np.random.default_rng(4), 40))
    path = tmp_path / "tables" / "affinities_ci.csv"
    path.parent.mkdir()
    boot.write_ci_csv(path)
    text = path.read_text()
    assert text.startswith("# taskonomy-ci v1\n# kind: affinity\n# level: 0.95\n")
    back = read_ci_csv_text(text)
    assert dict(back["value"]) == dict(boot.affinity_)
    assert dict(back["lower"]) == dict(boot.lower_)
    assert dict(back["upper"]) == dict(boot.upper_)
    wins = read_ci_csv_text(boot.ci_csv_text("wins_vs_pixels"))
    assert wins["median"].kind == "wins_vs_pixels"
    assert Transfer(("pixels",), "normal") in wins["value"]
    assert objective_table(boot, "mean") is boot.affinity_
    assert objective_table(boot, "lcb") is boot.lower_
    with pytest.raises(TaskonomyError, match="objective"):
        objective_table(boot, "max")  # type: ignore[arg-type]
    with pytest.raises(TaskonomyError, match="header"):
        read_ci_csv_text("target,sources,value\n")


def test_user_errors_are_one_line() -> None:
    good = {"normal": {"self": [1.0, 2.0], "random": [2.0, 1.0]}}
    bad_inputs = [
        ({"normal": {"self": [1.0, np.nan], "random": [2.0, 1.0]}}, "NaN"),
        ({"normal": {"self": [1.0, 2.0], "random": [2.0, 1.0, 3.0]}}, "shapes"),
        ({"normal": {"self": np.ones((2, 2)), "random": np.ones((3, 2))}}, "shapes"),
        ({"normal": {"pixels": [1.0, 2.0]}}, "AHP row"),
        ({"normal": {Transfer(("self",), "reshading"): [1.0]}}, "transfer into"),
        ({}, "non-empty"),
    ]
    for given, match in bad_inputs:
        with pytest.raises(TaskonomyError, match=match) as err:
            AffinityBootstrap(n_replicates=5).fit(given)
        assert "\n" not in str(err.value)
    for kw in ({"n_replicates": 0}, {"level": 1.0}, {"ties": "draw"}):
        with pytest.raises(TaskonomyError):
            AffinityBootstrap(**kw).fit(good)  # type: ignore[arg-type]
    boot = AffinityBootstrap(n_replicates=5).fit(good)
    with pytest.raises(TaskonomyError, match="pixels"):
        boot.intervals("wins_vs_pixels")
    with pytest.raises(TaskonomyError, match="not fitted"):
        AffinityBootstrap().intervals()
