"""The solver page with a run that has per-image losses: objective, intervals, edge opacity."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskonomy.report import server as S
from test_solver_page_browser import _serve, browser, page, settled  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def run_server(tiny_run: tuple[Path, Any]) -> Iterator[S.SolverServer]:
    yield from _serve(S.load_solver_data(run_dir=tiny_run[0]))


def test_page_shows_stability_and_switches_objective(
    page: Any,  # noqa: F811
    run_server: S.SolverServer,
) -> None:
    page.goto(run_server.url, wait_until="networkidle")
    assert settled(page) == "solved"
    assert page.locator("#objective-field").is_visible()
    with page.expect_response("**/api/solve") as answer:
        page.select_option("#objective-kind", "lcb")
    body = answer.value.json()
    assert settled(page) == "solved" and body["objective_kind"] == "lcb"
    stab = body["uncertainty"]["stability"]
    shown = float(page.locator("#optimum").get_attribute("data-value"))
    assert shown == stab["optimum_probability"] and page.locator("#optimum-stat").is_visible()
    for t, c in body["policy"].items():
        freq = stab["edge_frequency"][t]["frequency"]
        if c["kind"] == "transfer":
            sel = "path.edge" if len(c["sources"]) == 1 else "g.hyperedge"
            el = page.locator(f'#graph {sel}[data-target="{t}"]').first
            assert float(el.get_attribute("opacity")) == pytest.approx(0.15 + 0.85 * freq)
        iv = body["uncertainty"]["intervals"].get(t)
        title = page.locator(f'#policy-table tr[data-target="{t}"] td[data-col=affinity]')
        if iv:
            assert f"[{iv['lower']:.4f}, {iv['upper']:.4f}]" in title.get_attribute("title")
    assert "--objective lcb" in (page.locator("#cli").text_content() or "")
