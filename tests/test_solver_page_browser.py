"""The solver page as a person uses it, in headless Chromium (Debian's `chromium`).

Playwright's Python API drives /usr/bin/chromium (no browser download); `.ci/test-deps.sh`
installs both. Every wait is on page state (`body[data-state]`), never on time. The last
screenshot is written to test-artifacts/ in the repository root.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from taskonomy.affinity.table import read_table
from taskonomy.cli.serve import register as register_serve
from taskonomy.cli.solve import register as register_solve
from taskonomy.evaluate import plan as P
from taskonomy.io import atomic_write_bytes
from taskonomy.report import server as S
from taskonomy.taxonomy.policy import Policy

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
# TASKONOMY_CHROMIUM, else the no-root install of .ci/test-deps.sh in this venv, else Debian's.
_LOCAL = Path(sys.prefix) / "chromium" / "chromium"
CHROMIUM = os.environ.get(
    "TASKONOMY_CHROMIUM", str(_LOCAL) if _LOCAL.is_file() else "/usr/bin/chromium"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
TIMEOUT_MS = 20_000

# Same shape as tests/test_server.py's table: no `random`, so choices can be infeasible.
AFFINITY_CSV = """# kind: affinity
target,sources,value
normal,self,0.6
normal,depth_zbuffer,0.2
normal,jigsaw,0.15
depth_zbuffer,self,0.5
depth_zbuffer,normal,0.3
depth_zbuffer,reshading,0.1
depth_zbuffer,normal+reshading,0.1
reshading,self,0.5
reshading,normal,0.35
reshading,jigsaw,0.15
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "the Python package `playwright` is missing: run `bash .ci/test-deps.sh VENV` "
            "(it installs Debian's chromium and playwright; no browser download)."
        )
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: run `bash .ci/test-deps.sh VENV` "
            "(apt-get, or unpacked into the venv without root), or set TASKONOMY_CHROMIUM "
            "to a Chromium binary."
        )
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _serve(data: S.SolverData) -> Iterator[S.SolverServer]:
    server = S.make_server(data, port=0)
    S.serve_in_thread(server)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def published_aff(published_dir: Path) -> Path:
    return published_dir / "affinities" / "all_affinities_16k.pkl"


@pytest.fixture(scope="module")
def published_server(published_aff: Path) -> Iterator[S.SolverServer]:
    yield from _serve(S.load_solver_data(affinities=published_aff))


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S.SolverServer]:
    path = tmp_path_factory.mktemp("run") / "affinities.csv"
    path.write_text(AFFINITY_CSV)
    yield from _serve(S.load_solver_data(affinities=path))


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    pg.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    pg.on("requestfailed", lambda req: problems.append(f"request failed: {req.url}"))
    yield pg
    context.close()
    assert not problems, problems


def settled(pg: Any) -> str:
    """Wait until the answer to the latest change is shown; return 'solved' or 'error'.

    The page marks itself 'pending' synchronously on every change and drops answers to
    older requests, so this cannot see a stale answer.
    """
    pg.wait_for_function(
        "() => ['solved', 'error'].includes(document.body.dataset.state)", timeout=TIMEOUT_MS
    )
    return str(pg.get_attribute("body", "data-state"))


def open_page(pg: Any, server: S.SolverServer) -> None:
    pg.goto(server.url, wait_until="networkidle")
    assert settled(pg) == "solved"


def assert_page_shows(pg: Any, policy: Policy) -> None:
    """The graph, the table and the summary show exactly ``policy``."""
    # Graph: filled nodes are the trained tasks; hollow ones the targets served by transfer.
    scratch = pg.eval_on_selector_all(
        "#graph g.node.scratch", "els => els.map(e => e.dataset.task)"
    )
    assert sorted(scratch) == sorted(policy.scratch)
    served_self = pg.eval_on_selector_all(
        "#graph g.node.serves-self", "els => els.map(e => e.dataset.task)"
    )
    assert sorted(served_self) == sorted(
        t for t, c in policy.choices.items() if c.kind == "scratch"
    )
    transfers = {t: c for t, c in policy.choices.items() if c.kind == "transfer"}
    drawn = pg.eval_on_selector_all("#graph g.node.target", "els => els.map(e => e.dataset.task)")
    assert sorted(drawn) == sorted(transfers)
    for t, c in transfers.items():
        if len(c.sources) == 1:
            edge = pg.locator(f'#graph path.edge[data-target="{t}"]')
            assert edge.get_attribute("data-sources") == c.sources[0]
        else:  # a hyperedge: one leg per source into a junction
            hyper = pg.locator(f'#graph g.hyperedge[data-target="{t}"]')
            assert hyper.get_attribute("data-sources") == "+".join(c.sources)
            legs = hyper.locator("path.edge[data-source]")
            assert sorted(legs.evaluate_all("els => els.map(e => e.dataset.source)")) == sorted(
                c.sources
            )
            assert hyper.locator("circle.junction").count() == 1
    # Table: one row per target, in the policy's order.
    rows = pg.locator("#policy-table tbody tr")
    assert rows.evaluate_all("els => els.map(e => e.dataset.target)") == list(policy.choices)
    for t, c in policy.choices.items():
        row = pg.locator(f'#policy-table tr[data-target="{t}"]')
        assert row.get_attribute("data-kind") == c.kind
        assert row.locator("td[data-col=sources]").inner_text() == " + ".join(c.sources)
        assert row.locator("td[data-col=affinity]").inner_text() == f"{c.affinity:.4f}"
        for col in ("affinity", "gain", "quality"):
            want = getattr(c, col)
            got = row.locator(f"td[data-col={col}]").get_attribute("data-value")
            assert (None if got is None else float(got)) == want, (t, col)
    objective = pg.locator("#objective")
    assert float(objective.get_attribute("data-value")) == policy.objective
    assert objective.inner_text() == f"{policy.objective:.4f}"
    assert pg.locator("#message").is_hidden()


def test_page_follows_budget_and_target_changes(
    page: Any, published_server: S.SolverServer, published_aff: Path
) -> None:
    table = read_table(published_aff)
    wr = P.find_winrates_for(published_aff)
    meta = json.loads(published_server.tasks_json)
    open_page(page, published_server)
    defaults = meta["defaults"]
    assert_page_shows(
        page, P.plan(table, budget=defaults["budget"], max_order=defaults["max_order"], winrates=wr)
    )

    # A person lowers the budget…
    page.fill("#budget", "3")
    assert settled(page) == "solved"
    at_3 = P.plan(table, budget=3, max_order=defaults["max_order"], winrates=wr)
    assert_page_shows(page, at_3)

    # …drops a target the answer was using…
    dropped = at_3.scratch[0]
    page.select_option(f'.task[data-task="{dropped}"] select.role', "off")
    assert settled(page) == "solved"
    targets = [t for t in meta["targets"] if t != dropped]
    sources = [s for s in meta["sources"] if s != dropped]
    answer = P.plan(
        table,
        budget=3,
        max_order=defaults["max_order"],
        targets=targets,
        sources=sources,
        winrates=wr,
    )
    assert dropped not in answer.scratch and answer != at_3
    assert_page_shows(page, answer)

    # …and allows only first-order transfers, with a heavier target.
    page.select_option("#max-order", "1")
    settled(page)
    page.fill('.task[data-task="class_object"] input.importance', "5")
    assert settled(page) == "solved"
    answer = P.plan(
        table,
        budget=3,
        max_order=1,
        targets=targets,
        sources=sources,
        importance={"class_object": 5.0},
        winrates=wr,
    )
    assert_page_shows(page, answer)
    assert page.locator("#graph circle.junction").count() == 0

    # The download is byte for byte `taskonomy solve --json`.
    with page.expect_download() as info:
        page.click("#download")
    text = Path(info.value.path()).read_text(encoding="utf-8")
    assert text == json.dumps(answer.to_json(), indent=2)

    # The page's "same answer from the command line", run as shown, prints that same text.
    page.click("details.cli summary")
    argv = shlex.split(page.inner_text("#cli"))
    assert argv[:2] == ["taskonomy", "solve"] and "--max-order" in argv
    app = typer.Typer()
    register_solve(app)
    register_serve(app)
    result = CliRunner().invoke(app, argv[1:])
    assert result.exit_code == 0, result.output
    assert result.stdout == text + "\n"

    ARTIFACTS.mkdir(exist_ok=True)
    atomic_write_bytes(ARTIFACTS / "solver-page.png", page.screenshot(full_page=True))


def test_page_explains_bad_input_and_infeasible_choices(
    page: Any, small_server: S.SolverServer
) -> None:
    open_page(page, small_server)
    assert page.locator("#result").is_visible()

    page.fill("#budget", "-2")
    assert settled(page) == "error"
    message = page.locator("#message")
    assert message.is_visible()
    assert "budget: got -2; expected a finite number ≥ 0" in message.inner_text()
    assert page.locator("#result").get_attribute("class") == "result stale"
    assert page.locator("#download").get_attribute("href") is None  # no stale download

    # Fix the budget; then make depth_zbuffer a novel target that nothing trainable can serve.
    page.fill("#budget", "3")
    assert settled(page) == "solved" and message.is_hidden()
    page.select_option("#max-order", "1")
    settled(page)
    page.select_option('.task[data-task="normal"] select.role', "off")
    settled(page)
    page.select_option('.task[data-task="reshading"] select.role', "novel")
    assert settled(page) == "solved", page.inner_text("#message")  # reshading ← jigsaw
    page.select_option('.task[data-task="depth_zbuffer"] select.role', "novel")
    assert settled(page) == "error"
    text = message.inner_text()
    assert "target 'depth_zbuffer' has no candidate transfer" in text
    assert "Traceback" not in page.content()
    atomic_write_bytes(ARTIFACTS / "solver-page-infeasible.png", page.screenshot())

    # Bringing normal back as a source serves depth_zbuffer by transfer (normal → depth 0.3).
    page.select_option('.task[data-task="normal"] select.role', "source")
    assert settled(page) == "solved"
    row = page.locator('#policy-table tr[data-target="depth_zbuffer"]')
    assert row.get_attribute("data-kind") == "transfer"
    assert row.locator("td[data-col=sources]").inner_text() == "normal"
    assert set(
        page.locator("#policy-table tbody tr").evaluate_all("els => els.map(e => e.dataset.target)")
    ) == {"depth_zbuffer", "reshading"}
