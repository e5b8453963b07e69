"""The constant-guess rule of affinity/noise.py and the effect sizes beside win rates."""

from __future__ import annotations

import numpy as np
import pytest

from taskonomy.affinity.ahp import AHP, tournament
from taskonomy.affinity.noise import guard_losses, loses_to_guess, relative_effect


def _noisy_case() -> tuple[np.ndarray, np.ndarray]:
    """Rows: 0 noisy (1 % under the guess on 90 % of images, far above on 10 %),
    1 clean (beats the guess on average, but only on 60 % of images), 2 self."""
    rng = np.random.default_rng(0)
    m = 200
    guess = 0.10 + 0.01 * rng.random(m)
    noisy = guess * 0.99
    noisy[: m // 10] = 0.6  # loses to the constant on average
    clean = guess * 1.02
    clean[: int(0.4 * m)] *= 0.7
    self_ = guess * 0.5
    return np.stack([noisy, clean, self_]), guess


def test_noisy_transfer_can_no_longer_be_top_non_self_source() -> None:
    losses, guess = _noisy_case()
    assert loses_to_guess(losses, guess).tolist() == [True, False, False]
    before = AHP().fit(losses).affinity_
    assert before[0] > before[1]  # the bug: noise beats the clean transfer
    guarded, flagged = guard_losses(losses, guess)
    after = AHP().fit(guarded).affinity_
    assert flagged.tolist() == [True, False, False]
    assert after[1] > after[0]
    # the flagged row beats neither the guess nor a clean row on any image
    assert (guarded[0] > guess).all()
    assert tournament(guarded)[0, 1] == 0.0  # it loses to the clean row on every image


def test_clean_rows_are_unchanged() -> None:
    losses, guess = _noisy_case()
    clean_only = losses[1:]
    guarded, flagged = guard_losses(clean_only, guess)
    assert not flagged.any()
    np.testing.assert_array_equal(guarded, clean_only)
    np.testing.assert_allclose(AHP().fit(guarded).affinity_, AHP().fit(clean_only).affinity_)
    # with a flagged row present, the comparisons among clean rows stay the same
    full, _ = guard_losses(losses, guess)
    np.testing.assert_array_equal(tournament(full)[1:, 1:], tournament(losses)[1:, 1:])


def test_relative_effect_by_hand() -> None:
    ref = np.array([1.0, 1.0, 1.0, 1.0])
    a = np.array([0.9, 1.1, 0.8, 0.8])  # differences -0.1, 0.1, -0.2, -0.2: mean -0.1
    eff = relative_effect(a, ref)
    assert eff.rel == pytest.approx(-0.1)
    # t interval: sd of the differences = 0.1414, sem = 0.0707, t(0.975, 3) = 3.182
    assert eff.low == pytest.approx(-0.1 - 3.1824 * 0.070711, abs=1e-3)
    assert eff.high == pytest.approx(-0.1 + 3.1824 * 0.070711, abs=1e-3)
    const = relative_effect(ref * 2, ref)
    assert (const.rel, const.low, const.high) == (1.0, 1.0, 1.0)


def test_a_tie_with_the_guess_up_to_rounding_is_not_flagged() -> None:
    guess = np.array([0.1, 0.2, 0.3], dtype=np.float32).astype(np.float64)
    same = guess * (1 + 1e-9)  # the network that kept the guess, scored with rounding
    assert loses_to_guess(np.stack([same, guess * 1.01]), guess).tolist() == [False, True]
