"""Evaluate a transfer policy: Gain (win rate vs ``pixels``) and Quality (vs ``self``)."""

from taskonomy.evaluate.gain_quality import (
    SCRATCH_QUALITY,
    attach_gain_quality,
    budget_sweep,
    gain_quality_of,
    group_by_order,
    load_winrates,
    mean_gain_quality,
)

__all__ = [
    "SCRATCH_QUALITY",
    "attach_gain_quality",
    "budget_sweep",
    "gain_quality_of",
    "group_by_order",
    "load_winrates",
    "mean_gain_quality",
]
