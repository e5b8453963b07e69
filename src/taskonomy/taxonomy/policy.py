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

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Policy:
        """Inverse of :meth:`to_json` (``taskonomy solve --json``, ``taxonomies/*.json``)."""
        from taskonomy.errors import input_error

        try:
            choices = {
                t: Choice(
                    target=t,
                    sources=tuple(c["sources"]),
                    kind=c["kind"],
                    affinity=float(c["affinity"]),
                    gain=None if c.get("gain") is None else float(c["gain"]),
                    quality=None if c.get("quality") is None else float(c["quality"]),
                )
                for t, c in record["policy"].items()
            }
            order = record["max_order"]
            return cls(
                objective=float(record["objective"]),
                budget=float(record["budget"]),
                max_order=None if order is None else int(order),
                scratch=tuple(record["scratch"]),
                choices=choices,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise input_error(
                "taxonomy JSON",
                f"missing or bad field ({exc})",
                "the object of `taskonomy solve --json`",
            ) from None

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
