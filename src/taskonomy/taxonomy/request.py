"""One validated planning request for `taskonomy solve` and the solver page.

Both build a :class:`PlanRequest` from what the user typed (CLI strings) or sent (JSON
values): the same checks and the same one-line messages either way. Accepted forms:

* ``budget``: a number ≥ 0 (or its text); ``max_order``: an integer ≥ 1, or
  ``unlimited``/``all``/``none``/``inf``/``None`` for no limit;
* ``targets``/``sources``: a list of task names or the CLI's ``"a,b,c"`` (empty → default);
* ``importance``/``label_cost``: ``{task: number ≥ 0}`` or the CLI's ``"t=w,u=v"``;
* ``objective``: ``mean`` (default: the affinities as given) or ``lcb`` (their bootstrap
  lower bounds; the caller passes that table, see ``evaluate/uncertainty.py``).

Task names may be canonical or 2018 names; the request holds canonical ones.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from taskonomy.affinity.table import TransferTable
from taskonomy.errors import TaskonomyError, input_error, one_of
from taskonomy.tasks import canonical_name

FIELDS = ("budget", "max_order", "targets", "sources", "importance", "label_cost", "objective")
OBJECTIVES = ("mean", "lcb")
REQUIRED = ("budget", "max_order")
_UNLIMITED = ("unlimited", "all", "none", "inf")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_float(value: object) -> float:
    """A JSON/CLI number as a float; NaN for anything else (bools, text, ints past 1e308)."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return math.nan
    if not _is_number(value):
        return math.nan
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:  # a 400-digit integer
        return math.nan


def _short(value: object) -> object:
    """A value for an error message: long numbers (a 400-digit integer) cut short."""
    text = value if isinstance(value, str) else repr(value)
    return value if len(text) <= 40 else f"{text[:20]}…({len(text)} characters)"


def parse_names(value: object, what: str = "targets") -> list[str] | None:
    """``"a,b,c"`` or ``["a", "b"]`` → canonical names; ``None``/empty text → ``None``."""
    if value is None:
        return None
    if isinstance(value, str):
        names = [n.strip() for n in value.split(",") if n.strip()]
        return [canonical_name(n) for n in names] or None
    if isinstance(value, list | tuple):
        out = []
        for item in value:
            if not isinstance(item, str):
                raise input_error(f"{what} entry", item, "a task name (string)")
            out.append(canonical_name(item.strip()))
        return out
    raise input_error(what, value, "a list of task names, a comma-separated string, or null")


def parse_assignments(value: object, what: str) -> dict[str, float] | None:
    """``"t=w,u=v"`` or ``{t: w}`` → ``{canonical(t): w}`` (numbers finite and ≥ 0)."""
    if value is None:
        return None
    pairs: list[tuple[str, object]] = []
    if isinstance(value, str):
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            name, sep, text = item.partition("=")
            if not sep:
                raise input_error(
                    what, item, "TASK=NUMBER pairs separated by commas, e.g. normal=2"
                )
            number = _as_float(text)
            if math.isnan(number) and text.strip().lower() != "nan":
                raise input_error(f"{what} for {name.strip()!r}", text, "a number")
            pairs.append((name, number))
    elif isinstance(value, dict):
        pairs = [(str(k), v) for k, v in value.items()]
    else:
        raise input_error(what, value, "an object {task: number}, a 't=w,u=v' string, or null")
    out: dict[str, float] = {}
    flag = "--" + what.replace("_", "-")
    for name, raw in pairs:
        number = _as_float(raw)
        if not math.isfinite(number) or number < 0:
            raise input_error(f"{what} for {name.strip()!r}", _short(raw), "a finite number ≥ 0")
        key = canonical_name(name.strip())
        if key in out:
            # "normal=1,normal=5": which one did the user mean? Refuse instead of guessing.
            raise input_error(f"{what} ({flag})", f"{key} twice", "each task at most once")
        out[key] = number
    return out or None


def parse_max_order(value: object) -> int | None:
    """An integer ≥ 1 (or its text), or ``unlimited``/``all``/``none``/``inf``/``None``."""
    if value is None or (isinstance(value, str) and value.strip().lower() in _UNLIMITED):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise input_error("max order", value, "an integer ≥ 1 or 'unlimited'") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise input_error("max order", _short(value), "an integer ≥ 1 or 'unlimited'")
    return value


def parse_budget(value: object) -> float:
    """A finite number ≥ 0 (or its text): the total label cost of the trained tasks."""
    number = _as_float(value)
    if not math.isfinite(number) or number < 0:
        raise input_error("budget", _short(value), "a finite number ≥ 0 (total label cost)")
    return number


class PlanRequest(BaseModel):
    """What to plan: the BIP's choices, validated once for every front end."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    budget: float
    max_order: int | None
    targets: list[str] | None = None
    sources: list[str] | None = None
    importance: dict[str, float] | None = None
    label_cost: dict[str, float] | None = None
    # Which table the BIP maximizes; not a BIP parameter (the table is chosen by the caller).
    objective: Literal["mean", "lcb"] = "mean"

    # Every field is parsed by the helpers above (before pydantic's own coercion), so a
    # CLI string and a JSON value give the same result and the same message.
    @field_validator("budget", mode="before")
    @classmethod
    def _budget(cls, v: object) -> float:
        return parse_budget(v)

    @field_validator("max_order", mode="before")
    @classmethod
    def _max_order(cls, v: object) -> int | None:
        return parse_max_order(v)

    @field_validator("targets", "sources", mode="before")
    @classmethod
    def _names(cls, v: object, info: Any) -> list[str] | None:
        return parse_names(v, info.field_name)

    @field_validator("importance", "label_cost", mode="before")
    @classmethod
    def _weights(cls, v: object, info: Any) -> dict[str, float] | None:
        return parse_assignments(v, info.field_name)

    @field_validator("objective", mode="before")
    @classmethod
    def _objective(cls, v: object) -> str:
        if v is None:
            return "mean"
        if not isinstance(v, str) or v.strip().lower() not in OBJECTIVES:
            raise input_error("objective", v, one_of(OBJECTIVES))
        return v.strip().lower()

    @classmethod
    def build(cls, fields: object) -> PlanRequest:
        """Validate a mapping of fields (``-`` or ``_`` in names); one-line errors."""
        if not isinstance(fields, dict):
            raise input_error("request body", type(fields).__name__, "a JSON object")
        given = {str(k).replace("-", "_"): v for k, v in fields.items()}
        unknown = sorted(set(given) - set(FIELDS))
        if unknown:
            raise input_error("request field", unknown[0], one_of(FIELDS))
        for name in REQUIRED:
            if name not in given:
                flag = "--" + name.replace("_", "-")
                raise TaskonomyError(
                    f"request field {name!r} is missing; it is required, as {flag} is for "
                    "`taskonomy solve`."
                )
        try:
            return cls.model_validate(given)
        except ValidationError as exc:
            first = exc.errors()[0]
            cause = (first.get("ctx") or {}).get("error")
            if isinstance(cause, TaskonomyError):
                raise TaskonomyError(str(cause)) from None
            field = ".".join(str(p) for p in first["loc"])  # pragma: no cover - parsed above
            raise input_error(field, first.get("input"), first["msg"]) from None  # pragma: no cover

    def check_against(self, table: TransferTable) -> None:
        """Refuse sources the table cannot use: a name it never has as a source (and that
        has no ``self`` entry to be trained from) would be dropped from the plan silently."""
        if not self.sources:
            return
        known = {*table.sources(), *(tr.target for tr in table if tr.is_self)}
        missing = [s for s in self.sources if s not in known]
        if missing:
            raise input_error(
                "sources (--sources)",
                missing[0],
                f"a task the table has as a source or with a self entry, {one_of(known)}",
                "Drop it from --sources, or use a table that measured it.",
            )

    def plan_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`taskonomy.taxonomy.plan.plan`."""
        return self.model_dump(exclude={"objective"})
