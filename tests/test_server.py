"""The solver page's HTTP API (`taskonomy serve`): same answers as plan()/`taskonomy solve`."""

from __future__ import annotations

import http.client
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from taskonomy.affinity.table import read_table
from taskonomy.cli.serve import register as register_serve
from taskonomy.cli.solve import register as register_solve
from taskonomy.errors import TaskonomyError
from taskonomy.evaluate import plan as P
from taskonomy.report import server as S

# Each target's affinities sum to 1. Hand-solved answers (no `random`, label cost 1):
#   budget 1: only {normal} serves everyone → 0.6 + 0.3 + 0.35 = 1.25
#   budget 2, order 2: {normal, depth_zbuffer} → 0.6 + 0.5 + 0.35 = 1.45
#   budget 3: every target trained → 0.6 + 0.5 + 0.5 = 1.6
AFFINITY_CSV = """# taskonomy-table v1
# kind: affinity
target,sources,value
normal,self,0.6
normal,depth_zbuffer,0.2
normal,jigsaw,0.15
normal,depth_zbuffer+jigsaw,0.05
depth_zbuffer,self,0.5
depth_zbuffer,normal,0.3
depth_zbuffer,reshading,0.1
depth_zbuffer,normal+reshading,0.1
reshading,self,0.5
reshading,normal,0.35
reshading,jigsaw,0.1
reshading,jigsaw+normal,0.05
"""
WINS_VS_PIXELS_CSV = """# kind: wins_vs_pixels
target,sources,value
normal,self,0.9
depth_zbuffer,normal,0.7
reshading,normal,0.65
"""
WINS_VS_SELF_CSV = """# kind: wins_vs_self
target,sources,value
depth_zbuffer,normal,0.4
reshading,normal,0.45
"""


def write_run_dir(root: Path, sub: str = "tables", winrates: bool = True) -> Path:
    folder = root / sub if sub else root
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "affinities.csv").write_text(AFFINITY_CSV)
    if winrates:
        (folder / "wins_vs_pixels.csv").write_text(WINS_VS_PIXELS_CSV)
        (folder / "wins_vs_self.csv").write_text(WINS_VS_SELF_CSV)
    return root


class Client:
    """Plain HTTP against a running server (what the page's fetch() does)."""

    def __init__(self, server: S.SolverServer) -> None:
        self.port = server.port

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str, dict[str, str]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read().decode("utf-8"), dict(resp.getheaders())
        finally:
            conn.close()

    def solve(self, body: Any) -> tuple[int, Any, str]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        status, text, _ = self.request(
            "POST", "/api/solve", raw, {"Content-Type": "application/json"}
        )
        return status, json.loads(text), text


def running(data: S.SolverData) -> Iterator[tuple[S.SolverServer, Client]]:
    server = S.make_server(data, port=0)
    S.serve_in_thread(server)
    try:
        yield server, Client(server)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[S.SolverServer, Client]]:
    run = write_run_dir(tmp_path_factory.mktemp("run"))
    yield from running(S.load_solver_data(run_dir=run))


@pytest.fixture(scope="module")
def published_aff(published_dir: Path) -> Path:
    return published_dir / "affinities" / "all_affinities_16k.pkl"


@pytest.fixture(scope="module")
def published(published_aff: Path) -> Iterator[tuple[S.SolverServer, Client]]:
    yield from running(S.load_solver_data(affinities=published_aff))


# ---- GET /api/tasks --------------------------------------------------------------------------
def test_tasks_endpoint_describes_the_table(small: tuple[S.SolverServer, Client]) -> None:
    _, client = small
    status, text, headers = client.request("GET", "/api/tasks")
    meta = json.loads(text)
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert meta["targets"] == ["normal", "depth_zbuffer", "reshading"]
    assert sorted(meta["sources"]) == ["depth_zbuffer", "jigsaw", "normal", "reshading"]
    assert meta["max_order"] == 2 and meta["has_winrates"] is True
    assert meta["families"] == {
        "3D": ["depth_zbuffer", "normal", "reshading"],
        "geometric": ["jigsaw"],
    }
    roles = {t["name"]: (t["can_target"], t["can_source"]) for t in meta["tasks"]}
    assert roles["jigsaw"] == (False, True) and roles["normal"] == (True, True)
    assert meta["defaults"] == {"budget": 2, "max_order": 2}
    assert meta["affinities"] == "affinities.csv"  # the name only, never the local path


def test_published_tasks_group_by_family(published: tuple[S.SolverServer, Client]) -> None:
    _, client = published
    meta = json.loads(client.request("GET", "/api/tasks")[1])
    assert len(meta["targets"]) == 22 and meta["max_order"] == 24
    assert list(meta["families"]) == ["2D", "3D", "geometric", "semantic"]
    assert "normal" in meta["families"]["3D"] and "jigsaw" in meta["families"]["geometric"]
    # `random` is a free source the BIP always allows; it is not something to pick.
    assert "random" not in meta["sources"] and meta["free_sources"] == ["random"]


# ---- POST /api/solve: valid --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("budget", "max_order", "objective", "scratch"),
    [
        (1, 1, 1.25, ["normal"]),
        (2, 2, 1.45, ["depth_zbuffer", "normal"]),
        (3, "unlimited", 1.6, ["depth_zbuffer", "normal", "reshading"]),
    ],
)
def test_solve_matches_hand_solution(
    small: tuple[S.SolverServer, Client],
    budget: int,
    max_order: int | str,
    objective: float,
    scratch: list[str],
) -> None:
    _, client = small
    status, policy, _ = client.solve({"budget": budget, "max_order": max_order})
    assert status == 200
    assert policy["objective"] == pytest.approx(objective, abs=1e-9)
    assert policy["scratch"] == scratch


def test_solve_attaches_gain_and_quality_from_run_dir(small: tuple[S.SolverServer, Client]) -> None:
    _, client = small
    _, policy, _ = client.solve({"budget": 1, "max_order": 1})
    got = {
        t: (c["kind"], c["sources"], c["gain"], c["quality"]) for t, c in policy["policy"].items()
    }
    assert got == {
        "normal": ("scratch", ["normal"], 0.9, 0.5),
        "depth_zbuffer": ("transfer", ["normal"], 0.7, 0.4),
        "reshading": ("transfer", ["normal"], 0.65, 0.45),
    }


def test_importance_changes_the_answer(small: tuple[S.SolverServer, Client]) -> None:
    # reshading ×10: {normal, reshading} scores 0.6 + 0.3 + 10·0.5 = 5.9 > {normal, depth} 4.6
    _, client = small
    _, policy, _ = client.solve({"budget": 2, "max_order": 2, "importance": {"reshading": 10}})
    assert policy["scratch"] == ["normal", "reshading"]
    assert policy["objective"] == pytest.approx(5.9)


@pytest.mark.parametrize(
    "choice",
    [
        {"budget": 8, "max_order": 4},
        {
            "budget": 3,
            "max_order": "unlimited",
            "targets": ["normal", "depth_zbuffer", "reshading"],
        },
        {
            "budget": 4,
            "max_order": 2,
            "targets": ["normal", "class_object", "room_layout", "segment_semantic"],
            "sources": ["normal", "class_object", "room_layout", "jigsaw", "reshading"],
            "importance": {"class_object": 3},
            "label_cost": {"reshading": 2},
        },
    ],
)
def test_solve_equals_plan_and_cli_json(
    published: tuple[S.SolverServer, Client], published_aff: Path, choice: dict[str, Any]
) -> None:
    _, client = published
    status, got, text = client.solve(choice)
    assert status == 200
    order = choice["max_order"]
    expected = P.plan(
        read_table(published_aff),
        budget=choice["budget"],
        max_order=order,
        targets=choice.get("targets"),
        sources=choice.get("sources"),
        importance=choice.get("importance"),
        label_cost=choice.get("label_cost"),
        winrates=P.find_winrates_for(published_aff),
    )
    assert got == expected.to_json()
    assert got["policy"]["normal"]["gain"] is not None  # win rates were found beside the pkl

    # Byte for byte what `taskonomy solve --json` prints for the same flags.
    app = typer.Typer()
    register_solve(app)
    register_serve(app)
    args = ["solve", "--affinities", str(published_aff), "--budget", str(choice["budget"])]
    args += ["--max-order", str(order), "--json"]
    if "targets" in choice:
        args += ["--targets", ",".join(choice["targets"])]
    if "sources" in choice:
        args += ["--sources", ",".join(choice["sources"])]
    for flag, key in (("--importance", "importance"), ("--label-cost", "label_cost")):
        if key in choice:
            args += [flag, ",".join(f"{k}={v}" for k, v in choice[key].items())]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout == text + "\n"


def test_cli_string_forms_equal_json_forms(small: tuple[S.SolverServer, Client]) -> None:
    _, client = small
    as_json = {
        "budget": 2,
        "max_order": None,
        "targets": ["normal", "reshading"],
        "sources": ["normal", "reshading", "jigsaw"],
        "importance": {"reshading": 2},
        "label_cost": {"jigsaw": 0.5},
    }
    as_cli = {
        "budget": "2",
        "max-order": "unlimited",
        "targets": "normal, reshade",  # 2018 names are accepted as on the command line
        "sources": "normal,reshading,jigsaw",
        "importance": "reshading=2",
        "label-cost": "jigsaw=0.5",
    }
    s1, a, _ = client.solve(as_json)
    s2, b, _ = client.solve(as_cli)
    assert s1 == s2 == 200 and a == b
    assert a["max_order"] is None and set(a["policy"]) == {"normal", "reshading"}


# ---- POST /api/solve: refused ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"budget": -1, "max_order": 1}, "budget: got -1"),
        ({"budget": "lots", "max_order": 1}, "budget: got 'lots'"),
        ({"budget": True, "max_order": 1}, "budget: got True"),
        ({"budget": 2, "max_order": 0}, "max order: got 0"),
        ({"budget": 2, "max_order": "two"}, "max order: got 'two'"),
        ({"budget": 2, "max_order": 1.5}, "max order: got 1.5"),
        ({"max_order": 1}, "request field 'budget' is missing"),
        ({"budget": 2, "max_order": 1, "targets": ["normal", "foo"]}, "unknown task: got 'foo'"),
        ({"budget": 2, "max_order": 1, "targets": ["jigsaw"]}, "target: got 'jigsaw'"),
        ({"budget": 2, "max_order": 1, "targets": [3]}, "targets entry: got 3"),
        ({"budget": 2, "max_order": 1, "importance": {"normal": -2}}, "importance for 'normal'"),
        ({"budget": 2, "max_order": 1, "importance": {"normal": "x"}}, "importance for 'normal'"),
        (
            {"budget": 2, "max_order": 1, "targets": ["normal"], "importance": {"reshading": 2}},
            "['reshading']",
        ),
        ({"budget": 2, "max_order": 1, "budgett": 3}, "request field: got 'budgett'"),
        ([1, 2], "request body: got 'list'"),
        (b"{not json", "not valid JSON"),
        (b'{"budget": NaN, "max_order": 1}', "not valid JSON"),
    ],
)
def test_bad_input_is_a_400_with_one_line(
    small: tuple[S.SolverServer, Client], body: Any, needle: str
) -> None:
    _, client = small
    status, answer, text = client.solve(body)
    assert status == 400
    assert set(answer) == {"error"}
    assert needle in answer["error"]
    assert "\n" not in answer["error"] and "Traceback" not in text


def test_infeasible_choice_names_the_target(small: tuple[S.SolverServer, Client]) -> None:
    _, client = small
    # depth_zbuffer is a novel target (not a source) and only jigsaw may be trained:
    # no transfer jigsaw → depth_zbuffer exists.
    status, answer, _ = client.solve(
        {"budget": 3, "max_order": 2, "targets": ["normal", "depth_zbuffer"], "sources": ["jigsaw"]}
    )
    assert status == 400
    assert "target 'depth_zbuffer' has no candidate transfer" in answer["error"]
    # A budget of 0 cannot train anything, and every target needs a trained task.
    status, answer, _ = client.solve({"budget": 0, "max_order": 1})
    assert status == 400
    assert "budget 0 is too small" in answer["error"]
    for t in ("depth_zbuffer", "normal", "reshading"):
        assert t in answer["error"]


def test_internal_failure_is_500_and_logged(
    small: tuple[S.SolverServer, Client],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise KeyError("a bug deep inside")

    monkeypatch.setattr(P, "plan", broken)
    _, client = small
    with caplog.at_level(logging.ERROR, logger="taskonomy.report.server"):
        status, answer, text = client.solve({"budget": 1, "max_order": 1})
    assert status == 500 and "server's log" in answer["error"]
    assert "a bug deep inside" not in text and "Traceback" not in text
    assert any("a bug deep inside" in (r.exc_text or "") for r in caplog.records)


# ---- HTTP details ------------------------------------------------------------------------------
def test_bound_to_loopback_by_default(small: tuple[S.SolverServer, Client]) -> None:
    server, _ = small
    assert server.server_address[0] == "127.0.0.1"
    assert server.url == f"http://127.0.0.1:{server.port}/" and server.port > 0


def test_foreign_host_header_is_refused(small: tuple[S.SolverServer, Client]) -> None:
    _, client = small
    status, text, _ = client.request("GET", "/api/tasks", headers={"Host": "evil.example:80"})
    assert status == 403 and "localhost" in json.loads(text)["error"]
    status, _, _ = client.request("GET", "/api/tasks", headers={"Host": f"localhost:{client.port}"})
    assert status == 200


def test_serves_the_page_and_nothing_else(small: tuple[S.SolverServer, Client]) -> None:
    _, client = small
    status, html, headers = client.request("GET", "/")
    assert (
        status == 200 and "/solver.js" in html and headers["Content-Type"].startswith("text/html")
    )
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    for path in ("/solver.js", "/solver.css"):
        assert client.request("GET", path)[0] == 200
    for path in ("/server.py", "/static/../server.py", "/%2e%2e/server.py", "/api/solve"):
        status, text, _ = client.request("GET", path)
        assert status == 404 and "error" in json.loads(text)
    assert client.request("POST", "/api/tasks", b"{}")[0] == 404


def test_body_without_length_or_too_large_is_refused(small: tuple[S.SolverServer, Client]) -> None:
    _, client = small
    for headers, want in (({}, 411), ({"Content-Length": str(S.MAX_BODY_BYTES + 1)}, 413)):
        conn = http.client.HTTPConnection("127.0.0.1", client.port, timeout=30)
        conn.putrequest("POST", "/api/solve")
        for key, value in headers.items():
            conn.putheader(key, value)
        conn.endheaders()
        resp = conn.getresponse()
        assert resp.status == want and "error" in json.loads(resp.read())
        conn.close()
    assert client.solve({"budget": 1, "max_order": 1})[0] == 200  # still serving


# ---- loading a run directory -------------------------------------------------------------------
@pytest.mark.parametrize("sub", ["", "tables"])
def test_run_dir_finds_affinities_and_winrates(tmp_path: Path, sub: str) -> None:
    run = write_run_dir(tmp_path / "run", sub=sub)
    data = S.load_solver_data(run_dir=run)
    assert data.affinity_path == (run / sub / "affinities.csv" if sub else run / "affinities.csv")
    assert data.winrates is not None and len(data.affinities) == 12


def test_explicit_winrates_folder(tmp_path: Path) -> None:
    write_run_dir(tmp_path / "a", sub="", winrates=False)
    write_run_dir(tmp_path / "w", sub="", winrates=True)
    aff = tmp_path / "a" / "affinities.csv"
    assert S.load_solver_data(affinities=aff).winrates is None
    data = S.load_solver_data(affinities=aff, winrates=tmp_path / "w")
    assert data.winrates is not None
    assert "--winrates" in S.tasks_payload(data)["cli"]


def test_run_dir_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(TaskonomyError, match=r"no affinities\.csv.*--affinities"):
        S.load_solver_data(run_dir=tmp_path)
    with pytest.raises(TaskonomyError, match="exactly one of RUN_DIR or --affinities"):
        S.load_solver_data()
    (tmp_path / "wins.csv").write_text(WINS_VS_SELF_CSV)
    with pytest.raises(TaskonomyError, match="table kind"):
        S.load_solver_data(affinities=tmp_path / "wins.csv")


# ---- the CLI command ---------------------------------------------------------------------------
def _serve_app() -> typer.Typer:
    app = typer.Typer()
    register_serve(app)
    register_solve(app)
    return app


def test_cli_serve_binds_loopback_and_prints_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = write_run_dir(tmp_path)
    made: list[S.SolverServer] = []

    def press_ctrl_c() -> None:  # the person stops the server once it is up
        raise KeyboardInterrupt

    real_make = S.make_server

    def make(data: S.SolverData, host: str = S.DEFAULT_HOST, port: int = S.DEFAULT_PORT) -> Any:
        server = real_make(data, host=host, port=port)
        made.append(server)
        monkeypatch.setattr(server, "serve_forever", press_ctrl_c)
        return server

    monkeypatch.setattr(S, "make_server", make)
    result = CliRunner().invoke(_serve_app(), ["serve", str(run), "--port", "0"])
    assert result.exit_code == 0, result.output
    (server,) = made
    assert server.server_address[0] == "127.0.0.1" and server.port > 0
    assert f"http://127.0.0.1:{server.port}/" in result.stdout
    assert "with win rates" in result.stdout and "stopped." in result.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([], "exactly one of RUN_DIR or --affinities"),
        (["RUN", "--affinities", "RUN/tables/affinities.csv"], "exactly one of RUN_DIR"),
        (["RUN/nope"], "run directory"),
        (["RUN", "--port", "70000"], "--port: got 70000"),
    ],
)
def test_cli_serve_user_errors(tmp_path: Path, args: list[str], needle: str) -> None:
    run = write_run_dir(tmp_path / "run")
    argv = ["serve", *[a.replace("RUN", str(run)) for a in args]]
    result = CliRunner().invoke(_serve_app(), argv)
    assert result.exit_code == 2
    assert needle in result.output and "Traceback" not in result.output
