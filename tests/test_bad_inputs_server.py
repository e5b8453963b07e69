"""Issue 14 (part B), item 7: the solver page's HTTP API answers bad requests with JSON 4xx."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator

import pytest

from taskonomy.report import server as S

AFFINITY_CSV = """# taskonomy-table v1
# kind: affinity
target,sources,value
normal,self,0.6
normal,depth_zbuffer,0.4
depth_zbuffer,self,0.5
depth_zbuffer,normal,0.5
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S.SolverServer]:
    path = tmp_path_factory.mktemp("srv") / "affinities.csv"
    path.write_text(AFFINITY_CSV)
    srv = S.make_server(S.load_solver_data(affinities=path.resolve()), port=0)
    srv.request_timeout = 0.5
    S.serve_in_thread(srv)
    yield srv
    srv.shutdown()
    srv.server_close()


def _request(
    srv: S.SolverServer, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, str, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        conn.putrequest(method, path)
        for key, value in headers.items():
            conn.putheader(key.replace("_", "-"), value)
        if body is not None and "Content_Length" not in headers:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8"), dict(resp.getheaders())
    finally:
        conn.close()


def _solve(srv: S.SolverServer, body: bytes) -> tuple[int, dict[str, object]]:
    status, text, headers = _request(srv, "POST", "/api/solve", body)
    assert headers["Content-Type"].startswith("application/json")
    return status, json.loads(text)


HUGE = "1" + "0" * 400


@pytest.mark.parametrize(
    "body",
    [
        f'{{"budget": {HUGE}, "max_order": 1}}',
        f'{{"budget": 1, "max_order": 1, "importance": {{"normal": {HUGE}}}}}',
        f'{{"budget": 1, "max_order": 1, "label_cost": {{"normal": {HUGE}}}}}',
        '{"budget": 1e999, "max_order": 1}',
    ],
)
def test_huge_numbers_are_a_400(server: S.SolverServer, body: str) -> None:
    status, answer = _solve(server, body.encode())
    assert status == 400 and "error" in answer


def test_deep_nesting_is_a_400_and_the_server_lives(server: S.SolverServer) -> None:
    status, answer = _solve(server, b"[" * 200_000)
    assert status == 400 and "nest" in str(answer["error"])
    assert _solve(server, b'{"budget": 1, "max_order": 1}')[0] == 200


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "BREW"])
def test_other_methods_are_405_json_with_allow(server: S.SolverServer, method: str) -> None:
    status, text, headers = _request(server, method, "/api/solve", b"{}")
    assert status == 405 and "error" in json.loads(text)
    assert headers["Allow"] == "GET, HEAD, POST"


def test_negative_content_length_is_a_400(server: S.SolverServer) -> None:
    status, text, _ = _request(server, "POST", "/api/solve", b"", Content_Length="-5")
    assert status == 400 and "Content-Length" in json.loads(text)["error"]


def test_tasks_shows_the_table_name_not_its_path(server: S.SolverServer) -> None:
    status, text, _ = _request(server, "GET", "/api/tasks")
    payload = json.loads(text)
    assert status == 200 and payload["affinities"] == "affinities.csv"
    assert str(server.data.affinity_path.parent) not in payload["affinities"]


def test_a_stalled_request_is_dropped(server: S.SolverServer) -> None:
    # Headers promise a body that never comes: the server closes the connection itself
    # (after request_timeout) instead of holding a thread forever.
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"POST /api/solve HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50\r\n\r\n{")
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    reply = b"".join(chunks)
    assert reply == b"" or reply.startswith(b"HTTP/1.1 408")
    assert _solve(server, b'{"budget": 1, "max_order": 1}')[0] == 200
