"""Issue 13 on the solver page's API: intervals and stability when the run has per-image losses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from taskonomy.evaluate.uncertainty import optimum_share
from taskonomy.report import server as S
from taskonomy.report.uncertainty import SERVER_STABILITY_REPLICATES
from taskonomy.taxonomy.policy import Policy
from test_server import running, write_run_dir


def test_solve_api_carries_uncertainty(tiny_run: tuple[Path, Any]) -> None:
    out, _ = tiny_run
    for _, client in running(S.load_solver_data(run_dir=out)):
        status, text, _ = client.request("GET", "/api/tasks")
        assert status == 200 and json.loads(text)["has_uncertainty"] is True
        status, body, _ = client.solve({"budget": 2, "max_order": 2})
        assert status == 200, body
        assert body["objective_kind"] == "mean"
        unc = body["uncertainty"]
        stab = unc["stability"]
        assert stab["replicates"] == SERVER_STABILITY_REPLICATES
        assert stab["optimum_probability"] == pytest.approx(optimum_share(stab))
        assert stab["exact_optimum_probability"] == pytest.approx(
            optimum_share(stab, Policy.from_json(body))
        )
        assert set(stab["edge_frequency"]) == set(body["policy"])
        for t, iv in unc["intervals"].items():
            assert iv["lower"] - 1e-12 <= iv["value"] <= iv["upper"] + 1e-12, t
        status, lcb, _ = client.solve({"budget": 2, "max_order": 2, "objective": "lcb"})
        assert status == 200 and lcb["objective_kind"] == "lcb"
        lcb_iv = lcb["uncertainty"]["intervals"]  # of the edges the lcb policy chose
        for t, c in lcb["policy"].items():  # credited with their lower bounds
            assert c["affinity"] == pytest.approx(lcb_iv[t]["lower"]), t


def test_lcb_without_losses_is_a_400(tmp_path: Path) -> None:
    for _, client in running(S.load_solver_data(run_dir=write_run_dir(tmp_path))):
        status, text, _ = client.request("GET", "/api/tasks")
        assert json.loads(text)["has_uncertainty"] is False
        status, body, _ = client.solve({"budget": 2, "max_order": 1, "objective": "lcb"})
        assert status == 400 and "needs per-image losses" in body["error"]
        status, body, _ = client.solve({"budget": 2, "max_order": 1})
        assert status == 200 and "uncertainty" not in body
