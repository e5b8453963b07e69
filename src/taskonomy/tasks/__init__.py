"""The task dictionary: one file per task, registered by canonical name with its 2018 alias.

>>> from taskonomy.tasks import get_task, canonical_name
>>> canonical_name("rgb2depth")
'depth_zbuffer'
>>> get_task("normal").name_2018
'rgb2sfnorm'
"""

from __future__ import annotations

import importlib
import pkgutil

from taskonomy.errors import TaskonomyError
from taskonomy.registry import Registry
from taskonomy.tasks.spec import Dim, Family, LabelSpec, Role, TaskSpec

TASKS: Registry[TaskSpec] = Registry("task")

# Baselines that appear in every affinity table as sources but are not tasks.
SELF = "self"  # the target's own fully supervised network
PIXELS = "pixels"  # small-data scratch network (Gain is measured against it)
BASELINES = (SELF, PIXELS)


def register_task(spec: TaskSpec) -> TaskSpec:
    """Register a task under its canonical name, with its 2018 name as an alias."""
    aliases = (spec.name_2018,) if spec.name_2018 != spec.name else ()
    return TASKS.register(spec.name, spec, aliases=aliases)


def _load_all() -> None:
    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        if mod not in ("spec",) and not mod.startswith("_"):
            importlib.import_module(f"{__name__}.{mod}")


def get_task(name: str) -> TaskSpec:
    """Look a task up by canonical or 2018 name; unknown names list the valid ones."""
    return TASKS.get(name)


def canonical_name(name: str) -> str:
    """Canonical name of a task or baseline (``self``/``pixels`` map to themselves)."""
    if name in BASELINES:
        return name
    return TASKS.canonical(name)


def name_2018(name: str) -> str:
    """The 2018 (published-results) name of a task or baseline."""
    if name in BASELINES:
        return name
    return TASKS.get(name).name_2018


def list_tasks(family: Family | None = None, *, include_published_only: bool = False) -> list[str]:
    """Canonical task names in dictionary order (optionally one family)."""
    out = []
    for n in TASKS:
        spec = TASKS.get(n)
        if spec.role == "published_only" and not include_published_only:
            continue
        if family is None or spec.family == family:
            out.append(n)
    return out


_load_all()

__all__ = [
    "BASELINES",
    "PIXELS",
    "SELF",
    "TASKS",
    "Dim",
    "Family",
    "LabelSpec",
    "Role",
    "TaskSpec",
    "TaskonomyError",
    "canonical_name",
    "get_task",
    "list_tasks",
    "name_2018",
    "register_task",
]
