"""The published Taskonomy 2018 results: the packaged tables and the safe pickle reader.

The paper's affinities and win rates (StanfordVL/taskonomy, folder ``results/``, MIT) ship
with the package as project-format tables (``published_2018/<name>/``, see
``published_2018/PROVENANCE.md``), reachable by a short name: ``taskonomy-2018``
(``all_affinities.pkl``), ``taskonomy-2018-16k`` and ``taskonomy-2018-1k``. Each folder holds
``affinities.csv``, ``wins_vs_pixels.csv`` and ``wins_vs_self.csv``, the layout of a run's
``tables/``, so win rates are found beside the affinities like for a run.

Users' own copies of the original pickles (``dict[str, numpy.float64]`` keyed
``"src1__…__srcK__target"``) are read with an allow-listing unpickler: only numpy's
dtype/scalar/array reconstruction may be referenced, so no code from the file ever runs.

This module knows nothing of :class:`~taskonomy.affinity.table.TransferTable` (table.py
builds tables from what it returns), so the two never import each other in a cycle.
"""

from __future__ import annotations

import io
import os
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np

from taskonomy.errors import TaskonomyError, input_error
from taskonomy.rundir import TABLE_FILES

PACKAGED_ROOT = Path(__file__).resolve().parent / "published_2018"
#: short name → folder under ``published_2018/`` (and the 2018 file it was converted from)
PACKAGED: dict[str, str] = {
    "taskonomy-2018": "all_affinities.pkl",
    "taskonomy-2018-16k": "all_affinities_16k.pkl",
    "taskonomy-2018-1k": "all_affinities_1k.pkl",
}
#: table kind → file name in a packaged folder (the same names as a run's ``tables/``)
PACKAGED_FILES: dict[str, str] = {
    k: TABLE_FILES[k] for k in ("affinity", "wins_vs_pixels", "wins_vs_self")
}


def packaged_dir(name: str) -> Path:
    """The folder of a packaged table set (``taskonomy-2018``, ``-16k``, ``-1k``)."""
    if name not in PACKAGED:
        raise input_error("packaged table name", name, ", ".join(PACKAGED))
    return PACKAGED_ROOT / name


def resolve_table_path(path_or_name: str | os.PathLike[str], kind: str = "affinity") -> Path:
    """An existing file as is, or a packaged short name → its ``kind`` table file.

    Anything else raises one line listing the valid names.
    """
    p = Path(path_or_name)
    if p.is_file():
        return p
    name = os.fspath(path_or_name)
    if name in PACKAGED and kind in PACKAGED_FILES:
        return PACKAGED_ROOT / name / PACKAGED_FILES[kind]
    raise input_error(
        "table",
        name,
        f"an existing .csv or .pkl file, or a packaged name: {', '.join(PACKAGED)}",
        "Check the path, or use e.g. `--affinities taskonomy-2018-16k`.",
    )


# ---- users' own 2018 pickles -------------------------------------------------------------
# (module, name) pairs a published file may reference, mapped to the objects to build.
_ALLOWED: dict[tuple[str, str], Any] = {}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_mod, "scalar")] = np._core.multiarray.scalar  # type: ignore[attr-defined]
    _ALLOWED[(_mod, "_reconstruct")] = np._core.multiarray._reconstruct  # type: ignore[attr-defined]
_ALLOWED[("numpy", "dtype")] = np.dtype
_ALLOWED[("numpy", "ndarray")] = np.ndarray


class _Refused(pickle.UnpicklingError):
    pass


class _AllowListUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"refused global {module}.{name}") from None


def safe_load_pickle(data: bytes, origin: str = "<bytes>") -> Any:
    """Unpickle ``data`` allowing only numpy scalar/array reconstruction."""
    try:
        return _AllowListUnpickler(io.BytesIO(data)).load()
    except _Refused as exc:
        raise TaskonomyError(
            f"{origin}: refused to load: {exc}; only numpy dtype/scalar/array objects are "
            "allowed in a results pickle. Use a file from StanfordVL/taskonomy `results/` "
            "or the project's CSV table format."
        ) from None
    except Exception as exc:  # truncated or not a pickle at all
        raise TaskonomyError(
            f"{origin}: not a readable results pickle ({type(exc).__name__}: {exc})."
        ) from None


def published_entries(path: str | os.PathLike[str]) -> dict[str, tuple[list[str], str, float]]:
    """``{key: (sources, target, value)}`` of a 2018 pickle, names as in the file."""
    p = Path(path)
    obj = safe_load_pickle(p.read_bytes(), origin=str(p))
    if not isinstance(obj, dict):
        raise input_error(f"{p}: top-level object", type(obj).__name__, "a dict")
    out: dict[str, tuple[list[str], str, float]] = {}
    for key, val in obj.items():
        if not isinstance(key, str) or "__" not in key:
            raise input_error(f"{p}: key", key, "'src1__…__srcK__target'")
        *srcs, target = key.split("__")
        try:
            out[key] = (srcs, target, float(np.asarray(val)))
        except (TypeError, ValueError) as exc:
            raise TaskonomyError(f"{p}: entry {key!r}: {exc}") from None
    return out


_KIND_BY_PREFIX: dict[str, str] = {
    "all_affinities": "affinity",
    "wins_vs_task": "wins_vs_self",
    "wins_vs_pixels": "wins_vs_pixels",
}


def kind_of_published(path: str | os.PathLike[str]) -> str:
    """The table kind a 2018 file name stands for."""
    stem = Path(path).stem
    for prefix, kind in _KIND_BY_PREFIX.items():
        if stem.startswith(prefix):
            return kind
    raise input_error(
        "published file name",
        Path(path).name,
        "all_affinities*.pkl, wins_vs_task*.pkl or wins_vs_pixels*.pkl",
        "Give a renamed file its 2018 name back (e.g. all_affinities_mine.pkl).",
    )


_SUFFIX = re.compile(r"^all_affinities(?P<suffix>.*)\.pkl$")


def published_suffix(path: str | os.PathLike[str]) -> str:
    """The split suffix of a 2018 affinity file (``"_16k"`` for ``all_affinities_16k.pkl``).

    The 2018 layout pairs it with ``wins_vs_*{suffix}.pkl``; any other file gives ``""``.
    """
    m = _SUFFIX.match(Path(path).name)
    return m.group("suffix") if m else ""


def find_published_winrates(
    affinity_path: str | os.PathLike[str],
) -> tuple[Path, Path] | None:
    """Locate ``(wins_vs_pixels, wins_vs_task)`` beside a 2018 affinity file.

    The 2018 layout is ``…/affinities/all_affinities{_16k}.pkl`` next to
    ``…/winrates/wins_vs_{pixels,task}{_16k}.pkl``.
    """
    p = Path(affinity_path)
    if not _SUFFIX.match(p.name):
        return None
    suffix = published_suffix(p)
    for folder in (p.parent.parent / "winrates", p.parent):
        pix = folder / f"wins_vs_pixels{suffix}.pkl"
        task = folder / f"wins_vs_task{suffix}.pkl"
        if pix.is_file() and task.is_file():
            return pix, task
    return None
