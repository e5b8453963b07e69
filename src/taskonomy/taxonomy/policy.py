"""A transfer policy: the BIP's answer (which tasks to train, which transfer serves each target)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ChoiceKind = Literal["scratch", "transfer"]


@dataclass(frozen=True)
class Choice:
    """How one target is served.

    ``kind == "scratch"``: the target is trained with full supervision (the ``self`` edge);
    ``sources == (target,)``. Otherwise the frozen encoders of ``sources`` are read out.
    ``gain``/``quality`` are win rates vs ``pixels``/``self`` when win rates are known.
    """

    target: str
    sources: tuple[str, ...]
    kind: ChoiceKind
    affinity: float
    gain: float | None = None
    quality: float | None = None


@dataclass(frozen=True)
class Policy:
    """A solved taxonomy: scratch-trained tasks and one incoming choice per target."""

    objective: float
    budget: float
    max_order: int | None  # None = unlimited
    scratch: tuple[str, ...]
    choices: dict[str, Choice]
    status: str = "optimal"
    solve_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def cost(self) -> int:
        return len(self.scratch)

    def to_json(self) -> dict[str, Any]:
        """The ``taskonomy solve --json`` object (CLI contract)."""
        return {
            "objective": self.objective,
            "budget": self.budget,
            "max_order": self.max_order,
            "scratch": list(self.scratch),
            "policy": {
                t: {
                    "sources": list(c.sources),
                    "kind": c.kind,
                    "affinity": c.affinity,
                    "gain": c.gain,
                    "quality": c.quality,
                }
                for t, c in self.choices.items()
            },
        }
