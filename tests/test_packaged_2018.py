"""The published 2018 results shipped with the package (affinity/published_2018/)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from taskonomy.affinity.published import PACKAGED, packaged_dir, resolve_table_path
from taskonomy.affinity.table import read_table
from taskonomy.errors import TaskonomyError
from taskonomy.evaluate.plan import find_winrates_for, plan
from taskonomy.tasks import list_tasks

# name → (affinity transfers, wins_vs_pixels transfers, wins_vs_self transfers): the counts of
# the published pickles' keys (checked against them by scripts/convert_2018.py).
COUNTS = {
    "taskonomy-2018": (814, 836, 836),
    "taskonomy-2018-16k": (1758, 1762, 1758),
    "taskonomy-2018-1k": (1418, 1418, 1418),
}


def test_packaged_names_and_files() -> None:
    assert set(PACKAGED) == set(COUNTS)
    root = packaged_dir("taskonomy-2018").parent
    assert "MIT License" in (root / "LICENSE").read_text()
    provenance = (root / "PROVENANCE.md").read_text()
    assert "StanfordVL/taskonomy" in provenance and "results/" in provenance


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_packaged_table_invariants(name: str) -> None:
    aff = read_table(name)
    pix = read_table(name, "wins_vs_pixels")
    slf = read_table(name, "wins_vs_self")
    assert (aff.kind, pix.kind, slf.kind) == ("affinity", "wins_vs_pixels", "wins_vs_self")
    assert (len(aff), len(pix), len(slf)) == COUNTS[name]
    # 22 targets, canonical names, each target's affinities (every order + self + random) sum to 1
    targets = aff.targets()
    assert len(targets) == 22 and "depth_zbuffer" in targets and "rgb2depth" not in targets
    known = set(list_tasks(include_published_only=True)) | {"self", "pixels", "random"}
    assert {s for tr in aff for s in tr.sources} <= known
    for t in targets:
        assert sum(aff.for_target(t).values()) == pytest.approx(1.0, abs=1e-9), t
        assert aff.value(["self"], t) is not None
    for table in (pix, slf):
        assert all(0.0 <= v <= 1.0 for v in table.values())
    assert all(slf.value(["self"], t) == 0.5 for t in slf.targets())
    # the unsuffixed set is the earlier run with class_selected instead of class_places
    assert ("class_selected" in targets) == (name == "taskonomy-2018")


def test_16k_orders_reach_24() -> None:
    # the deepest transfers of the 16k set
    assert read_table("taskonomy-2018-16k").max_order() == 24


def test_winrates_found_beside_a_packaged_name() -> None:
    wr = find_winrates_for("taskonomy-2018-1k")
    assert wr is not None and (wr[0].kind, wr[1].kind) == ("wins_vs_pixels", "wins_vs_self")
    policy = plan("taskonomy-2018-16k", budget=8, max_order=3)
    assert len(policy.scratch) <= 8 and len(policy.choices) == 22
    assert all(c.gain is not None and c.quality is not None for c in policy.choices.values())
    # the BIP-only entry point takes the same name
    from taskonomy.taxonomy.plan import plan as bip_plan

    bare = bip_plan("taskonomy-2018-16k", budget=8, max_order=3)
    assert bare.scratch == policy.scratch and bare.objective == policy.objective


def test_unknown_name_lists_the_valid_names(tmp_path: Path) -> None:
    with pytest.raises(TaskonomyError) as exc:
        resolve_table_path("taskonomy-2017")
    msg = str(exc.value)
    assert "got 'taskonomy-2017'" in msg and "\n" not in msg
    assert all(n in msg for n in PACKAGED)
    # an existing file wins over the names
    f = tmp_path / "taskonomy-2018"
    f.write_text("x")
    assert resolve_table_path(f) == f


def test_cli_takes_the_short_name() -> None:
    cmd = [sys.executable, "-m", "taskonomy.cli", "solve", "--affinities"]
    ok = subprocess.run([*cmd, "taskonomy-2018", "--budget", "8", "--max-order", "3", "--json"],
                        capture_output=True, text=True, check=False)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert '"gain": 0.' in ok.stdout  # win rates found automatically
    bad = subprocess.run([*cmd, "taskonomy-2018-2k", "--budget", "8", "--max-order", "3"],
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert bad.returncode == 2 and "taskonomy-2018-16k" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr


def test_serve_and_report_take_the_short_name() -> None:
    from taskonomy.report import server as S
    from taskonomy.report.html import _table_inputs

    data = S.load_solver_data(affinities="taskonomy-2018")
    assert data.winrates is not None and len(data.affinities.targets()) == 22
    assert "--affinities taskonomy-2018" in S.tasks_payload(data)["cli"]
    inp = _table_inputs("taskonomy-2018-1k", None)
    assert inp.winrates is not None and inp.title.endswith("taskonomy-2018-1k")
