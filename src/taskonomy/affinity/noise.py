"""Keeping AHP from turning noise into signal: the constant-guess rule and effect sizes.

AHP only counts wins, so a transfer whose loss sits a near-constant 0.5–3 % below another's
on most images wins ~100 % of that comparison, however small the gap and even when it is
worse on average than predicting the loss-optimal constant (the ``guess``, see
:mod:`taskonomy.train.constant`). Such a transfer has learned nothing useful about the
target, yet it can carry the target's largest non-self affinity.

**The rule** (:func:`guard_losses`): a transfer whose mean test loss is above the guess's
mean test loss (it *loses to the constant on average*) is **flagged**, and on every image
its loss enters the tournament as just above the largest of its own loss, the guess's and
every clean transfer's loss there. Rationale: "beats the constant" is a statement about the
expected loss, and a transfer worse than the constant in expectation has learned nothing
usable about the target, so it must rank below every transfer that is not, whatever its
per-image wins (a near-constant small offset wins nearly every image, and ``max(own,
guess)`` alone would still let it beat a clean transfer that is noisy per image). So a
flagged transfer loses every comparison with a clean one, and can never be a target's top
non-self source while any clean transfer exists (when none does, the diagnostics say the
target's affinities are noise). Flagged rows still order among themselves where their own
losses exceed that ceiling. Clean rows keep their losses: the comparisons among clean
transfers, and with nothing flagged the whole table, are unchanged. The guess itself is
not added as a tournament row (it is no source a taxonomy could choose); the rule applies
it to every row instead, ``self`` and ``random`` included.

**Effect sizes** (:func:`effect_rows`, ``tables/effects.csv``): per transfer, the mean
per-image loss difference relative to the reference's mean loss, against ``self`` and
against the guess, with a paired 95 % t confidence interval; negative = better.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from taskonomy.affinity.table import Transfer
from taskonomy.errors import input_error

_RTOL, _ATOL = 1e-6, 1e-12


def loses_to_guess(losses: np.ndarray, guess: np.ndarray) -> np.ndarray:
    """(n,) bool: rows of ``losses`` (n, m) whose mean is above the mean of ``guess`` (m,)."""
    arr = np.asarray(losses, dtype=np.float64)
    g = np.asarray(guess, dtype=np.float64)
    if arr.ndim != 2 or g.shape != (arr.shape[1],):
        raise input_error("losses / guess shapes", (arr.shape, g.shape), "(n, m) and (m,)")
    # A relative tolerance keeps float noise (a network that kept the guess itself scores
    # its losses up to rounding) from flagging a tie.
    return arr.mean(axis=1) > g.mean() * (1 + _RTOL) + _ATOL


def guard_losses(losses: np.ndarray, guess: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The tournament's losses under the constant-guess rule, and which rows were flagged.

    losses: (n, m) per-image losses of one target's transfers; guess: (m,) the
    loss-optimal constant's per-image losses. Flagged rows become, per image, the next float
    above ``max(own, guess, every clean row)``: they lose every comparison with a clean row.
    """
    flagged = loses_to_guess(losses, guess)
    out = np.asarray(losses, dtype=np.float64).copy()
    if flagged.any():
        ceiling = np.vstack([np.asarray(guess, dtype=np.float64)[None], out[~flagged]]).max(0)
        out[flagged] = np.maximum(out[flagged], np.nextafter(ceiling, np.inf))  # (k, m)
    return out, flagged


@dataclass(frozen=True)
class Effect:
    """Mean relative loss difference of a transfer against a reference, with a paired CI."""

    rel: float  # mean(losses − ref) / mean(ref); negative: the transfer is better
    low: float  # 95 % paired t interval of the same quantity
    high: float


def relative_effect(losses: np.ndarray, ref: np.ndarray, level: float = 0.95) -> Effect:
    """Paired effect of ``losses`` (m,) against ``ref`` (m,), relative to ``mean(ref)``."""
    a = np.asarray(losses, dtype=np.float64)
    b = np.asarray(ref, dtype=np.float64)
    d = a - b  # (m,)
    scale = float(b.mean()) if b.mean() != 0 else 1.0
    mean = float(d.mean())
    if d.size < 2 or float(d.std()) == 0.0:
        return Effect(mean / scale, mean / scale, mean / scale)
    lo, hi = stats.t.interval(level, d.size - 1, loc=mean, scale=stats.sem(d))
    return Effect(mean / scale, float(lo) / scale, float(hi) / scale)


EFFECT_COLUMNS = [
    "target", "sources", "order", "mean_loss", "rel_vs_self", "rel_vs_self_low",
    "rel_vs_self_high", "rel_vs_guess", "rel_vs_guess_low", "rel_vs_guess_high",
    "loses_to_guess",
]  # fmt: skip


def effect_rows(
    transfers: Sequence[Transfer], losses: np.ndarray, self_losses: np.ndarray, guess: np.ndarray
) -> list[list[object]]:
    """Rows of ``tables/effects.csv`` (:data:`EFFECT_COLUMNS`) for one target's transfers."""
    flagged = loses_to_guess(losses, guess)
    rows: list[list[object]] = []
    for tr, row, flag in zip(transfers, np.asarray(losses), flagged, strict=True):
        vs_self, vs_guess = relative_effect(row, self_losses), relative_effect(row, guess)
        rows.append([
            tr.target, "+".join(tr.sources), tr.order, float(row.mean()),
            vs_self.rel, vs_self.low, vs_self.high, vs_guess.rel, vs_guess.low, vs_guess.high,
            bool(flag),
        ])  # fmt: skip
    return rows
