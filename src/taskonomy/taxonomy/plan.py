"""Planning on an affinity table: a validated :class:`PlanRequest` → the BIP's policy.

Gain/Quality are not known here (they are ``evaluate``'s); the CLI and the solver page plan
through :func:`taskonomy.evaluate.plan.plan`, which calls this and attaches them.
"""

from __future__ import annotations

import os
from typing import Any

from taskonomy.affinity.table import TransferTable, check_plannable, read_table
from taskonomy.errors import input_error
from taskonomy.taxonomy.policy import Policy
from taskonomy.taxonomy.request import (
    PlanRequest,
    parse_assignments,
    parse_max_order,
    parse_names,
)

__all__ = ["PlanRequest", "parse_assignments", "parse_max_order", "parse_names", "plan"]


def plan(
    affinities: TransferTable | str | os.PathLike[str],
    request: PlanRequest | None = None,
    **fields: Any,
) -> Policy:
    """Solve the taxonomy BIP for ``request`` (or the same fields as keywords).

    ``affinities``: a table, a table file, or a packaged name such as ``taskonomy-2018``.
    """
    from taskonomy.taxonomy.bip import TaxonomyBIP

    if request is None:
        request = PlanRequest.build(fields)
    elif fields:
        raise input_error("plan()", sorted(fields), "a PlanRequest or keyword fields, not both")
    table = affinities if isinstance(affinities, TransferTable) else read_table(affinities)
    check_plannable(table, "table kind for planning")
    if request.importance:
        tg = set(request.targets or table.targets())
        stray = sorted(set(request.importance) - tg)
        if stray:
            raise input_error("importance", stray, f"targets only: {sorted(tg)}")
    return TaxonomyBIP(**request.plan_kwargs()).fit(table).policy_
