"""The pipeline's honest-baseline steps: the constant-guess rule, effects and diagnostics.

Called from :mod:`taskonomy.pipeline.run`; the science lives in
:mod:`taskonomy.affinity.noise` and :mod:`taskonomy.evaluate.diagnostics`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from taskonomy.affinity.noise import EFFECT_COLUMNS, effect_rows, guard_losses
from taskonomy.affinity.table import Transfer, TransferTable
from taskonomy.evaluate.diagnostics import summarize, target_diagnostics
from taskonomy.io import atomic_write_text
from taskonomy.pipeline.artifacts import RunDir

PerTarget = Mapping[str, tuple[Sequence[Transfer], np.ndarray]]


def guess_losses(rd: RunDir, train_key: str) -> np.ndarray:
    """Per-image test losses (N_test,) of a task's loss-optimal constant (its train job)."""
    return np.load(rd.job_dir("train", train_key) / "guess_losses.npy")


def best_step(rd: RunDir, train_key: str) -> int | None:
    """The step a finished train job kept (0: its initialization, the guess)."""
    result = rd.read_record("train", train_key).get("result") or {}
    step = result.get("best_step")
    return int(step) if step is not None else None


def guarded(per_target: PerTarget, guesses: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Each target's losses under the constant-guess rule (:func:`guard_losses`)."""
    return {t: (trs, guard_losses(arr, guesses[t])[0]) for t, (trs, arr) in per_target.items()}


def write_effects(rd: RunDir, per_target: PerTarget, guesses: Mapping[str, np.ndarray]) -> None:
    """``tables/effects.csv``: effect sizes vs self and vs the guess, every transfer."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(EFFECT_COLUMNS)
    for target, (trs, arr) in per_target.items():
        self_row = arr[list(trs).index(Transfer(("self",), target))]
        w.writerows(effect_rows(trs, arr, self_row, guesses[target]))
    atomic_write_text(rd.effects_csv, buf.getvalue())


def write_diagnostics(
    rd: RunDir,
    per_target: PerTarget,
    guesses: Mapping[str, np.ndarray],
    sanity: Sequence[Mapping[str, Any]],
    consistency: Mapping[str, float],
    affinities: TransferTable,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Compute and write ``tables/diagnostics.json``; returns the record."""
    from taskonomy.report.diagnostics import family_scores

    targets = [
        target_diagnostics(t, trs, arr, guesses[t], consistency.get(t))
        for t, (trs, arr) in per_target.items()
    ]
    diag = summarize(sanity, targets, family_scores(affinities))
    diag.update(extra or {})
    atomic_write_text(rd.diagnostics_json, json.dumps(diag, indent=1, default=_plain) + "\n")
    return diag


def _plain(x: object) -> object:
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"not JSON: {type(x).__name__}")
