"""``taskonomy serve``: a local solver page and its JSON API over one affinity table.

The page (``static/solver.html``) lets a person pick targets, sources, budget, max order and
importances; every solve goes through :func:`taskonomy.evaluate.plan.plan`, the same code
path as ``taskonomy solve``, and the answer is exactly ``Policy.to_json()`` (the
``taskonomy solve --json`` object, serialized the same way).

API:

* ``GET /api/tasks``: the table's targets, sources, max order, task families and defaults.
* ``POST /api/solve``: a JSON object with the CLI flags' fields (``budget``, ``max_order``,
  ``targets``, ``sources``, ``importance``, ``label_cost``, ``objective``) → the policy
  JSON; with per-image losses beside the table (a run's ``tables/per_image_losses.npz``) it
  also carries ``objective_kind`` and ``uncertainty`` (intervals and stability per edge).
  Bad input and infeasible problems answer 400 with ``{"error": "<one line>"}``; unexpected
  failures answer 500 with a short message and are logged here, never sent as a traceback.

Only the standard library's ``http.server`` is used. The server binds to 127.0.0.1 unless
told otherwise and, when bound to a loopback address, refuses requests whose ``Host`` header
names another host (a DNS-rebinding guard).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import socket
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from taskonomy.affinity.table import TransferTable, is_estimated
from taskonomy.errors import TaskonomyError, input_error
from taskonomy.evaluate import plan as P
from taskonomy.evaluate.uncertainty import losses_beside
from taskonomy.report.uncertainty import server_solve
from taskonomy.rundir import AFFINITIES_CSV, affinity_candidates
from taskonomy.tasks import BASELINES, get_task, is_free_source
from taskonomy.tasks import families as task_families
from taskonomy.taxonomy.policy import Policy
from taskonomy.taxonomy.request import PlanRequest

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
RANDOM = "random"  # an untrained encoder: a free source, never picked by the user
MAX_BODY_BYTES = 1 << 20
REQUEST_TIMEOUT_S = 30.0  # per connection: a stalled client must not hold a thread forever
ALLOWED_METHODS = ("GET", "HEAD", "POST")
FAMILY_ORDER = tuple(task_families())  # the task registry owns family order and colour

# Files the page may load; nothing else under static/ (or anywhere) is served.
_STATIC = {
    "/": ("solver.html", "text/html; charset=utf-8"),
    "/index.html": ("solver.html", "text/html; charset=utf-8"),
    "/solver.js": ("solver.js", "text/javascript; charset=utf-8"),
    "/solver.css": ("solver.css", "text/css; charset=utf-8"),
}
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
_LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
_WILDCARD_HOSTS = {"", "0.0.0.0", "::"}


# ---- what the server serves --------------------------------------------------------------
@dataclass(frozen=True)
class SolverData:
    """The affinity table (and win rates, when known) one server solves on."""

    affinities: TransferTable
    winrates: P.WinRates | None
    affinity_path: Path
    winrates_path: Path | None = None  # given explicitly (`--winrates`), else found beside
    losses_path: Path | None = None  # per-image losses beside the table: intervals, stability


def find_affinities(run_dir: str | os.PathLike[str]) -> Path:
    """``affinities.csv`` in a run directory or its ``tables/`` subfolder."""
    folder = Path(run_dir)
    if not folder.is_dir():
        raise input_error(
            "run directory",
            str(folder),
            "an existing directory holding affinities.csv (or tables/affinities.csv)",
            "Use --affinities PATH for a table file.",
        )
    candidates = affinity_candidates(folder)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise input_error(
        f"run directory {folder}",
        f"no {AFFINITIES_CSV}",
        " or ".join(str(c) for c in candidates),
        "Run the learning pipeline first, or pass --affinities PATH.",
    )


def load_solver_data(
    run_dir: str | os.PathLike[str] | None = None,
    affinities: str | os.PathLike[str] | None = None,
    winrates: str | os.PathLike[str] | None = None,
) -> SolverData:
    """Read the table (from a run directory or a file) and its win rates.

    Win rates come from ``winrates`` when given, else from beside the affinity file; with
    none found the page shows no Gain/Quality.
    """
    if (run_dir is None) == (affinities is None):
        raise input_error(
            "table to serve",
            "both RUN_DIR and --affinities" if run_dir is not None else "neither",
            "exactly one of RUN_DIR or --affinities PATH",
        )
    path = find_affinities(run_dir) if run_dir is not None else Path(affinities)  # type: ignore[arg-type]
    table, wr, _ = P.load_table_and_winrates(path, winrates)
    # As given (a packaged name stays a name), so the page's CLI line works as printed.
    # Losses beside an estimated table are the measured transfers': not these estimates'.
    beside = losses_beside(path) if path.is_file() and not is_estimated(table) else None
    return SolverData(table, wr, path, Path(winrates) if winrates is not None else None,
                      beside)  # fmt: skip


def default_sources(table: TransferTable) -> list[str]:
    """Tasks with a network: the table's sources plus targets with a ``self`` entry.

    The same default as the BIP's; ``random`` and outside encoders are excluded (they are
    free and always available: ``free_sources``).
    """
    has_self = [tr.target for tr in table if tr.is_self]
    names = dict.fromkeys([*table.sources(), *has_self])
    return [n for n in names if n not in BASELINES and not is_free_source(n)]


def _family(name: str) -> str:
    try:
        return str(get_task(name).family)
    except TaskonomyError:  # pragma: no cover - tables hold registered names only
        return "other"


def tasks_payload(data: SolverData) -> dict[str, Any]:
    """The ``GET /api/tasks`` object: what the page offers and its defaults."""
    table = data.affinities
    targets = table.targets()
    sources = default_sources(table)
    has_self = sorted({tr.target for tr in table if tr.is_self})
    names = list(dict.fromkeys([*targets, *sources]))
    families: dict[str, list[str]] = {}
    for name in sorted(names):
        families.setdefault(_family(name), []).append(name)
    ordered = {f: families[f] for f in FAMILY_ORDER if f in families}
    ordered.update({f: v for f, v in families.items() if f not in ordered})
    max_order = table.max_order()
    # The command line keeps the path as the user gave it, so that it runs as printed.
    cli = ["taskonomy", "solve", "--affinities", str(data.affinity_path)]
    if data.winrates_path is not None:
        cli += ["--winrates", str(data.winrates_path)]
    return {
        "affinities": data.affinity_path.name,  # shown on the page: the name, not the path
        "estimated": is_estimated(table),  # planned from estimates, not measurements
        "has_winrates": data.winrates is not None,
        "has_uncertainty": data.losses_path is not None,
        "targets": targets,
        "sources": sources,
        "has_self": has_self,
        "free_sources": [s for s in table.sources() if is_free_source(s)],
        "max_order": max_order,
        "families": ordered,
        "family_colors": task_families(),  # family -> colour, in display order
        "tasks": [
            {
                "name": n,
                "family": _family(n),
                "can_target": n in targets,
                "can_source": n in sources,
            }
            for n in names
        ],
        "defaults": {
            # About half the targets trained, at most the paper's budget of 8.
            "budget": max(1, min(8, round(len(targets) / 2))),
            "max_order": min(4, max_order),
        },
        "cli": " ".join(shlex.quote(p) for p in cli),
    }


# ---- request validation ------------------------------------------------------------------
# One request model for this page and `taskonomy solve` (taxonomy.request): same checks and
# messages; the body's field names may use ``_`` or the CLI's ``-``.
SolveRequest = PlanRequest
parse_solve_request = PlanRequest.build


def solve(data: SolverData, request: PlanRequest) -> Policy:
    """Plan with the request's choices: exactly what ``taskonomy solve`` computes."""
    request.check_against(data.affinities)
    return P.plan(data.affinities, request, winrates=data.winrates)


def policy_json_text(policy: Policy, extra: dict[str, Any] | None = None) -> str:
    """The policy serialized as ``taskonomy solve --json`` prints it (``extra``: uncertainty)."""
    return json.dumps({**policy.to_json(), **(extra or {})}, indent=2)


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number in JSON")


# ---- HTTP --------------------------------------------------------------------------------
class SolverServer(ThreadingHTTPServer):
    """A threaded HTTP server holding one :class:`SolverData`."""

    daemon_threads = True

    def __init__(self, data: SolverData, host: str = DEFAULT_HOST, port: int = 0) -> None:
        self.data = data
        self.tasks_json = json.dumps(tasks_payload(data))
        self.host = host
        # HiGHS instances are independent, but one person drives the page: solving one request
        # at a time keeps the CPU free and the log readable.
        self.solve_lock = threading.Lock()
        self.request_timeout = REQUEST_TIMEOUT_S
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        host = self.host
        if host in _WILDCARD_HOSTS:
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    def host_allowed(self, header: str | None) -> bool:
        """Whether a request's ``Host`` header names this server (loopback binds only)."""
        if self.host in _WILDCARD_HOSTS or header is None:
            # Bound to every interface on purpose, or an HTTP/1.0 client without Host.
            return True
        name = urlsplit(f"//{header}").hostname or ""
        return name in _LOOPBACK_NAMES or name == self.host.strip("[]")


class _Handler(BaseHTTPRequestHandler):
    server: SolverServer
    server_version = "taskonomy-serve"
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # http.server's class-wide `timeout` is None (wait forever): one per connection here.
        self.connection.settimeout(self.server.request_timeout)

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if self.command in ALLOWED_METHODS:
            return True
        # Instead of http.server's 501 HTML page: a JSON 405 that says what is allowed.
        self.close_connection = True
        self._error(
            HTTPStatus.METHOD_NOT_ALLOWED,
            f"method {self.command} is not supported; use GET, or POST /api/solve.",
        )
        return False

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    # -- responses
    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", _CSP)
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            self.send_header("Allow", ", ".join(ALLOWED_METHODS))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json_text(self, status: int, text: str) -> None:
        self._send(status, text.encode("utf-8"), "application/json; charset=utf-8")

    def _error(self, status: int, message: str) -> None:
        self._send_json_text(status, json.dumps({"error": _one_line(message)}))

    def _guard(self) -> bool:
        if self.server.host_allowed(self.headers.get("Host")):
            return True
        self._error(HTTPStatus.FORBIDDEN, "this server answers only requests for localhost.")
        return False

    # -- routes
    def do_GET(self) -> None:
        if not self._guard():
            return
        path = urlsplit(self.path).path
        if path == "/api/tasks":
            self._send_json_text(HTTPStatus.OK, self.server.tasks_json)
        elif path in _STATIC:
            name, content_type = _STATIC[path]
            body = resources.files("taskonomy.report").joinpath("static", name).read_bytes()
            self._send(HTTPStatus.OK, body, content_type)
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no page at {path!r}; open / for the solver.")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        # Answers that skip the body must close the connection: the unread body would be
        # taken for the next request on a kept-alive connection.
        if not self._guard():
            self.close_connection = True
            return
        path = urlsplit(self.path).path
        if path != "/api/solve":
            self.close_connection = True
            self._error(HTTPStatus.NOT_FOUND, f"no endpoint at {path!r}; POST to /api/solve.")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            self._error(HTTPStatus.LENGTH_REQUIRED, "send the JSON body with a Content-Length.")
            return
        if length < 0:
            self.close_connection = True
            self._error(HTTPStatus.BAD_REQUEST, f"Content-Length {length} is negative.")
            return
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"request body of {length} bytes; expected at most {MAX_BODY_BYTES}.",
            )
            return
        try:
            raw = self.rfile.read(length)
        except TimeoutError:
            # the client stopped sending: drop the connection (logged, no traceback)
            log.info("request body not received within %ss", self.server.request_timeout)
            self.close_connection = True
            return
        if len(raw) < length:
            self.close_connection = True
            self._error(HTTPStatus.BAD_REQUEST, f"request body ended after {len(raw)} bytes.")
            return
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except RecursionError:
            self._error(HTTPStatus.BAD_REQUEST, "request body is nested too deeply.")
            return
        except (UnicodeDecodeError, ValueError) as exc:
            self._error(HTTPStatus.BAD_REQUEST, f"request body is not valid JSON ({exc}).")
            return
        try:
            request = parse_solve_request(body)
            with self.server.solve_lock:
                data = self.server.data
                policy, extra = server_solve(
                    data.affinities, request, data.winrates, data.losses_path
                )
        except TaskonomyError as exc:
            log.info("solve refused: %s", exc)
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
            return
        except Exception:
            log.exception("solve failed on %r", body)
            self._error(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                "internal error while solving; the details are in the server's log.",
            )
            return
        self._send_json_text(HTTPStatus.OK, policy_json_text(policy, extra))


def make_server(
    data: SolverData, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
) -> SolverServer:
    """Bind a solver server (``port=0`` picks a free port; see ``.url``)."""
    try:
        return SolverServer(data, host, port)
    except OSError as exc:
        raise input_error(
            "address to serve on",
            f"{host}:{port}",
            "a free port on a local address",
            f"({exc.strerror or exc}) Pick another --port, or 0 for any free one.",
        ) from None


def serve_in_thread(server: SolverServer, poll_interval: float = 0.05) -> threading.Thread:
    """Run ``server`` in a daemon thread (tests, notebooks); stop with ``server.shutdown()``.

    ``shutdown()`` waits up to ``poll_interval`` seconds for the loop to notice.
    """
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": poll_interval},
        name="taskonomy-serve",
        daemon=True,
    )
    thread.start()
    return thread


__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "SolveRequest",
    "SolverData",
    "SolverServer",
    "default_sources",
    "find_affinities",
    "load_solver_data",
    "make_server",
    "parse_solve_request",
    "policy_json_text",
    "serve_in_thread",
    "solve",
    "tasks_payload",
]
