"""Transfer tables: one number per transfer ``sources → target`` (affinity or win rate).

The project's own text format (``*.csv``), written by the learning pipeline and read by
``taskonomy solve``::

    # taskonomy-table v1
    # kind: affinity
    target,sources,value
    depth_zbuffer,normal,0.0123
    depth_zbuffer,normal+reshading,0.0210
    depth_zbuffer,self,0.0300

* Lines starting with ``#`` are comments; ``# kind: K`` names the table kind
  (``affinity``, ``wins_vs_self``, ``wins_vs_pixels``, ``mean_test_loss``: the mean
  per-image test loss of each transfer, which a run also writes, or
  ``estimated_affinity``: affinities *estimated* without training transfers by
  ``taskonomy estimate``, on the affinity scale, which ``solve``, ``report`` and ``serve``
  plan from while saying so; never read where measured affinities are asked for).
* ``target``: canonical task name. ``sources``: canonical names joined by ``+``
  (order-insensitive; written sorted); ``self``, ``pixels`` and ``random`` are allowed.
* ``value``: a finite float. For ``affinity`` every value must lie in [0, 1] (refused
  otherwise) and each target's values (every order, plus ``self`` and ``random``) sum to 1
  when produced by AHP (:func:`normalization_warnings` names targets that do not); win
  rates are in [0, 1].
* Files are UTF-8 (a byte-order mark is accepted); errors name the file's line number.
* 2018 task names are accepted on read and written back as canonical names.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import numpy as np

from taskonomy.affinity.published import kind_of_published, published_entries, resolve_table_path
from taskonomy.errors import TaskonomyError, input_error
from taskonomy.io import atomic_write_text
from taskonomy.tasks import canonical_name

TableKind = Literal[
    "affinity", "wins_vs_self", "wins_vs_pixels", "mean_test_loss", "estimated_affinity"
]
TABLE_KINDS: tuple[TableKind, ...] = (
    "affinity",
    "wins_vs_self",
    "wins_vs_pixels",
    "mean_test_loss",
    "estimated_affinity",
)
#: Kinds the taxonomy BIP plans from: measured affinities, or estimated ones (flagged).
PLANNABLE_KINDS: tuple[TableKind, ...] = ("affinity", "estimated_affinity")
#: What every consumer prints when it plans from an estimated table.
ESTIMATED_NOTE = (
    "planning from ESTIMATED affinities (taskonomy estimate: no transfer was trained for "
    "them), not measured ones"
)


def is_estimated(table: TransferTable) -> bool:
    """Whether ``table`` holds estimated (not measured) affinities."""
    return table.kind == "estimated_affinity"


def check_plannable(table: TransferTable, where: str = "table kind") -> None:
    """Refuse a table the BIP cannot plan from (win rates, losses), in one line."""
    if table.kind not in PLANNABLE_KINDS:
        raise input_error(
            where,
            table.kind,
            " or ".join(repr(k) for k in PLANNABLE_KINDS),
            "The BIP maximizes affinities; read all_affinities*.pkl or an affinity CSV.",
        )


HEADER = "# taskonomy-table v1"


@dataclass(frozen=True, order=True)
class Transfer:
    """A transfer: frozen encoders of ``sources`` read out into ``target``.

    ``sources`` is kept sorted so that the same set of sources is the same transfer.
    The full-supervision edge is ``Transfer(("self",), t)``.
    """

    sources: tuple[str, ...]
    target: str

    @staticmethod
    def of(sources: Iterable[str], target: str) -> Transfer:
        srcs = tuple(sorted({canonical_name(s) for s in sources}))
        if not srcs:
            raise TaskonomyError(f"a transfer into {target!r} needs at least one source.")
        return Transfer(srcs, canonical_name(target))

    @property
    def order(self) -> int:
        return len(self.sources)

    @property
    def is_self(self) -> bool:
        return self.sources == ("self",)

    def __str__(self) -> str:
        return f"{'+'.join(self.sources)}->{self.target}"


class TransferTable(Mapping[Transfer, float]):
    """An immutable mapping ``Transfer → value`` with a kind and convenience views."""

    def __init__(self, values: Mapping[Transfer, float], kind: TableKind = "affinity") -> None:
        if kind not in TABLE_KINDS:
            raise input_error("table kind", kind, f"one of {TABLE_KINDS}")
        for tr, v in values.items():
            if not math.isfinite(float(v)):
                raise input_error(f"value of transfer {tr}", v, "a finite number")
        self.kind: TableKind = kind
        self._values = {tr: float(v) for tr, v in values.items()}

    # Mapping protocol
    def __getitem__(self, key: Transfer) -> float:
        return self._values[key]

    def __iter__(self) -> Iterator[Transfer]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        n_targets = len(self.targets())
        return f"TransferTable(kind={self.kind!r}, transfers={len(self)}, targets={n_targets})"

    def value(self, sources: Iterable[str], target: str) -> float | None:
        """Value of a transfer given any source order and canonical or 2018 names."""
        return self._values.get(Transfer.of(sources, target))

    def targets(self) -> list[str]:
        """Targets in first-seen order."""
        return list(dict.fromkeys(tr.target for tr in self._values))

    def sources(self) -> list[str]:
        """Every task used as a source (baselines ``self``/``pixels`` excluded)."""
        seen = dict.fromkeys(s for tr in self._values for s in tr.sources)
        return [s for s in seen if s not in ("self", "pixels")]

    def for_target(self, target: str) -> dict[Transfer, float]:
        t = canonical_name(target)
        return {tr: v for tr, v in self._values.items() if tr.target == t}

    def max_order(self) -> int:
        return max((tr.order for tr in self._values), default=0)

    def first_order_matrix(
        self, targets: list[str] | None = None, sources: list[str] | None = None
    ) -> tuple[np.ndarray, list[str], list[str]]:
        """``(M, targets, sources)`` with ``M[i, j]`` = value of ``sources[j] → targets[i]``.

        Missing transfers are NaN. ``sources`` defaults to every first-order source.
        """
        tg = [canonical_name(t) for t in (targets or self.targets())]
        if sources is None:
            src = list(dict.fromkeys(tr.sources[0] for tr in self._values if tr.order == 1))
        else:
            src = [canonical_name(s) for s in sources]
        m = np.full((len(tg), len(src)), np.nan)
        for i, t in enumerate(tg):
            for j, s in enumerate(src):
                v = self._values.get(Transfer((s,), t))
                if v is not None:
                    m[i, j] = v
        return m, tg, src

    def restrict(self, targets: Iterable[str]) -> TransferTable:
        keep = {canonical_name(t) for t in targets}
        return TransferTable(
            {tr: v for tr, v in self._values.items() if tr.target in keep}, self.kind
        )

    # ---- text format -------------------------------------------------------------
    def to_csv_text(self) -> str:
        buf = io.StringIO()
        buf.write(f"{HEADER}\n# kind: {self.kind}\n")
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["target", "sources", "value"])
        for tr in sorted(self._values):
            w.writerow([tr.target, "+".join(tr.sources), repr(self._values[tr])])
        return buf.getvalue()

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        """Write the table atomically in the project's text format."""
        atomic_write_text(path, self.to_csv_text())

    @classmethod
    def from_csv_text(cls, text: str, origin: str = "<text>") -> TransferTable:
        kind: str = "affinity"
        lines: list[tuple[int, str]] = []  # (the file's own 1-based line number, text)
        for lineno, line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
            stripped = line.strip()
            if stripped.startswith("#"):
                body = stripped[1:].strip()
                if body.startswith("kind:"):
                    kind = body.split(":", 1)[1].strip()
                continue
            if stripped:
                lines.append((lineno, line))
        if kind not in TABLE_KINDS:
            raise input_error(f"{origin}: table kind", kind, f"one of {TABLE_KINDS}")
        rows = [(n, row) for n, line in lines for row in csv.reader([line])]
        header = rows[0][1] if rows else None
        if header != ["target", "sources", "value"]:
            raise input_error(
                f"{origin}: CSV header",
                header,
                "'target,sources,value'",
                "See `taskonomy.affinity.table` for the format.",
            )
        values: dict[Transfer, float] = {}
        for lineno, row in rows[1:]:
            where = f"{origin}: line {lineno}"
            if len(row) != 3:
                raise input_error(where, row, "3 fields: target,sources,value")
            target, sources, raw = row
            try:
                val = float(raw)
            except ValueError:
                raise input_error(f"{where} value", raw, "a number") from None
            if not math.isfinite(val):
                raise input_error(f"{where} value", raw, "a finite number")
            if kind in PLANNABLE_KINDS and not 0.0 <= val <= 1.0:
                # AHP affinities are shares of a target's total; one value of 8 would
                # outweigh every other target in the BIP's objective.
                raise input_error(f"{where} affinity", raw, "a number in [0, 1]")
            tr = Transfer.of(sources.split("+"), target)
            if tr in values:
                raise input_error(where, str(tr), "each transfer once")
            values[tr] = val
        return cls(values, cast(TableKind, kind))


SUM_TOLERANCE = 1e-3


def normalization_warnings(table: TransferTable, tol: float = SUM_TOLERANCE) -> list[str]:
    """One line per target whose affinities do not sum to 1 (within ``tol``).

    AHP affinities of one target sum to 1, which puts every target on the same scale in the
    BIP's objective. A table that is not normalized still plans (the user may have written
    it by hand on purpose) but its targets weigh differently: the caller shows these lines.
    """
    if table.kind not in PLANNABLE_KINDS:
        return []
    sums: dict[str, float] = {}
    for tr, v in table.items():
        sums[tr.target] = sums.get(tr.target, 0.0) + v
    return [
        f"affinities of target {t!r} sum to {total:.4g}, not 1: it weighs {total:.3g}× as "
        "much as a normalized target in the plan's objective (use --importance to weigh "
        "targets on purpose)."
        for t, total in sums.items()
        if abs(total - 1.0) > tol
    ]


def read_published(path: str | os.PathLike[str], kind: TableKind | None = None) -> TransferTable:
    """Read one published 2018 pickle (a user's own copy) into a table with canonical names."""
    p = Path(path)
    values: dict[Transfer, float] = {}
    for key, (srcs, target, val) in published_entries(p).items():
        try:
            values[Transfer.of(srcs, target)] = val
        except (TypeError, ValueError) as exc:
            raise TaskonomyError(f"{p}: entry {key!r}: {exc}") from None
    return TransferTable(values, kind or cast(TableKind, kind_of_published(p)))


def read_table(path: str | os.PathLike[str], kind: TableKind | None = None) -> TransferTable:
    """Read a table: the project's CSV, a 2018 pickle, or a packaged name (``taskonomy-2018``).

    For a packaged name, ``kind`` picks the file (affinities by default).
    """
    p = resolve_table_path(path, kind or "affinity")
    if p.suffix == ".pkl":
        return read_published(p, kind)
    if p.suffix == ".csv":
        try:
            text = p.read_text(encoding="utf-8-sig")  # -sig: a BOM (Excel's UTF-8) is fine
        except UnicodeDecodeError as exc:
            raise input_error(
                f"table file {p}",
                f"byte {exc.object[exc.start]:#04x} at offset {exc.start}",
                "UTF-8 text",
                "Save the table as UTF-8.",
            ) from None
        table = TransferTable.from_csv_text(text, origin=str(p))
        if kind is not None and table.kind != kind:
            raise input_error(f"{p}: table kind", table.kind, repr(kind))
        return table
    raise input_error(
        "table file type", p.suffix or p.name, "'.csv' (project format) or '.pkl' (2018 results)"
    )
