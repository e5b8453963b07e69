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
import re
from collections.abc import Iterable
from functools import lru_cache

from taskonomy.errors import TaskonomyError
from taskonomy.registry import Registry
from taskonomy.tasks.spec import (
    FAMILY_COLORS,
    MASK_KEY,
    Dim,
    Family,
    LabelSpec,
    LayoutSpec,
    Role,
    TaskSpec,
)

TASKS: Registry[TaskSpec] = Registry("task")

# Baselines that appear in every affinity table as sources but are not tasks.
SELF = "self"  # the target's own fully supervised network
PIXELS = "pixels"  # small-data scratch network (Gain is measured against it)
BASELINES = (SELF, PIXELS)

# Outside encoders (a run config's ``sources``): frozen encoders from outside this project,
# source-only. Their names carry this prefix so that every table, plan and page tells them
# apart from tasks without knowing the run's config (``taskonomy solve`` on a copied table).
OUTSIDE_PREFIX = "ext:"
_OUTSIDE_NAME = re.compile(r"ext:[A-Za-z0-9][A-Za-z0-9_.-]*")


def is_outside(name: str) -> bool:
    """``name`` is a well-formed outside-encoder source name (``ext:<name>``)."""
    return _OUTSIDE_NAME.fullmatch(name) is not None


def is_free_source(name: str) -> bool:
    """A source that needs no labels (``random``, outside encoders): already available."""
    return name == "random" or is_outside(name)


@lru_cache(maxsize=256)
def outside_spec(name: str) -> TaskSpec:
    """The (source-only, unlabelled) spec an outside encoder's name stands for."""
    if not is_outside(name):
        raise TaskonomyError(
            f"outside source name: got {name!r}; expected '{OUTSIDE_PREFIX}' followed by "
            "letters, digits, '_', '.' or '-' (e.g. 'ext:resnet18'). Rename it."
        )
    return TaskSpec(
        name=name, name_2018=name, family="baseline", order=27, views=1,
        output="none: a frozen outside encoder", loss="–", role="source_only", label=None,
        notes="Outside encoder (run config `sources`): source-only, free in the BIP.",
    )  # fmt: skip


def register_task(spec: TaskSpec) -> TaskSpec:
    """Register a task under its canonical name, with its 2018 name as an alias."""
    aliases = (spec.name_2018,) if spec.name_2018 != spec.name else ()
    return TASKS.register(spec.name, spec, aliases=aliases)


def _load_all() -> None:
    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        if mod not in ("spec",) and not mod.startswith("_"):
            importlib.import_module(f"{__name__}.{mod}")


def get_task(name: str) -> TaskSpec:
    """Look a task up by canonical or 2018 name; unknown names list the valid ones.

    An outside encoder's name (``ext:...``) gives its source-only spec."""
    if isinstance(name, str) and is_outside(name):
        return outside_spec(name)
    return TASKS.get(name)


def canonical_name(name: str) -> str:
    """Canonical name of a task or baseline (``self``/``pixels`` map to themselves)."""
    if name in BASELINES or (isinstance(name, str) and is_outside(name)):
        return name
    return TASKS.canonical(name)


def name_2018(name: str) -> str:
    """The 2018 (published-results) name of a task or baseline."""
    if name in BASELINES or is_outside(name):
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


def labelled_tasks() -> list[str]:
    """Every registered task with a label (published-only ones have none), registry order."""
    return [n for n in TASKS if TASKS.get(n).label is not None]


def multiview_tasks() -> tuple[str, ...]:
    """Labelled tasks whose samples are tuples of views (pose, matching, egomotion)."""
    return tuple(n for n in labelled_tasks() if TASKS.get(n).multiview)


def rgb_label_tasks() -> dict[str, str]:
    """Tasks whose label is the clean rgb, mapped to the input image their network sees."""
    return {n: TASKS.get(n).input for n in labelled_tasks() if TASKS.get(n).rgb_label}


def class_count_names() -> tuple[str, ...]:
    """Per-data-set size symbols (``n_*_classes`` ...) that label shapes or heads use, sorted."""
    dims: set[Dim] = set()
    for n in TASKS:
        spec = TASKS.get(n)
        dims.update(spec.label.shape if spec.label is not None else ())
        dims.update((spec.head.channels,) if spec.head is not None else ())
    return tuple(sorted(d for d in dims if isinstance(d, str) and d not in ("H", "W")))


def families() -> dict[str, str]:
    """Task families in display order, each with its colour (figures, tables, the solver page)."""
    return dict(FAMILY_COLORS)


def family_rank(family: str) -> int:
    """Position of ``family`` in :func:`families` (unknown families sort last)."""
    return list(FAMILY_COLORS).index(family) if family in FAMILY_COLORS else len(FAMILY_COLORS)


def in_dictionary_order(names: Iterable[str]) -> list[str]:
    """Registered ``names`` by family, then by their place in the task dictionary."""
    specs = [get_task(n) for n in dict.fromkeys(names)]
    key = lambda s: (family_rank(s.family), s.order, s.name)  # noqa: E731  (outside: by name)
    return [s.name for s in sorted(specs, key=key)]


_load_all()

__all__ = [
    "BASELINES",
    "FAMILY_COLORS",
    "MASK_KEY",
    "OUTSIDE_PREFIX",
    "PIXELS",
    "SELF",
    "TASKS",
    "Dim",
    "Family",
    "LabelSpec",
    "LayoutSpec",
    "Role",
    "TaskSpec",
    "TaskonomyError",
    "canonical_name",
    "class_count_names",
    "families",
    "family_rank",
    "get_task",
    "in_dictionary_order",
    "is_free_source",
    "is_outside",
    "labelled_tasks",
    "list_tasks",
    "multiview_tasks",
    "name_2018",
    "outside_spec",
    "register_task",
    "rgb_label_tasks",
]
