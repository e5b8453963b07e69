"""Diagnostics: hand-built oracles for ARI/AUC/spread/noise, and the tiny run's outputs."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from taskonomy.affinity.table import Transfer, TransferTable
from taskonomy.evaluate.diagnostics import (
    adjusted_rand_index,
    separation_auc,
    summarize,
    target_diagnostics,
)
from taskonomy.report.diagnostics import family_scores
from taskonomy.rundir import RunFiles
from taskonomy.tasks import get_task


def test_ari_by_hand() -> None:
    assert adjusted_rand_index([1, 1, 2, 2], ["a", "a", "b", "b"]) == pytest.approx(1.0)
    # {0,1},{2,3} vs {0,2},{1,3}: no agreeing pair; index 0, expected 2/3 → ARI = -0.5
    assert adjusted_rand_index([1, 1, 2, 2], [1, 2, 1, 2]) == pytest.approx(-0.5)


def test_auc_by_hand() -> None:
    dist = np.array([[0, 0.1, 0.9], [0.1, 0, 0.8], [0.9, 0.8, 0]])
    assert separation_auc(dist, ["a", "a", "b"]) == 1.0  # the same pair is the closest
    assert separation_auc(dist, ["a", "b", "a"]) == 0.0  # the same pair is the farthest
    assert separation_auc(dist, ["a", "a", "a"]) is None


def test_family_scores_match_families_exactly() -> None:
    # Two 3D tasks help 3D targets, two 2D tasks help 2D targets: the tree is the families.
    threed, twod = ["depth_zbuffer", "normal"], ["edge_texture", "keypoints2d"]
    tasks = threed + twod
    values = {}
    for t in tasks:
        for s in tasks:
            same = (t in threed) == (s in threed)
            values[Transfer((s,), t)] = 0.4 if same else 0.05
    fam = family_scores(TransferTable(values, "affinity"))
    assert {get_task(t).family for t in tasks} == {"3D", "2D"}
    assert fam["ari"] == pytest.approx(1.0) and fam["auc"] == 1.0


def _rows(target: str, losses: dict[str, np.ndarray]) -> tuple[list[Transfer], np.ndarray]:
    trs = [Transfer((s,), target) for s in losses]
    return trs, np.stack(list(losses.values()))


def test_target_diagnostics_spread_and_noise() -> None:
    rng = np.random.default_rng(1)
    m = 60
    rnd = 1.0 + 0.05 * rng.random(m)
    guess = 0.9 + 0.05 * rng.random(m)
    good = rnd * 0.5
    trs, arr = _rows("normal", {"depth_zbuffer": good, "normal": good * 0.9, "random": rnd,
                                "self": good * 0.5})  # fmt: skip
    d = target_diagnostics("normal", trs, arr, guess, 0.01)
    assert d["best_source"] == "normal" and d["own_network_best"]
    assert d["spread"] == pytest.approx((rnd.mean() - 0.9 * good.mean()) / rnd.mean())
    assert not d["within_noise"] and d["loses_to_guess"] == ["random"]
    # a target whose best transfer is the random encoder's level: within noise
    trs, arr = _rows("normal", {"depth_zbuffer": rnd[::-1].copy(), "random": rnd,
                                "self": good})  # fmt: skip
    d = target_diagnostics("normal", trs, arr, guess)
    assert d["within_noise"]
    diag = summarize(
        [{"task": "normal", "win_vs_guess": 0.9, "win_vs_random": 0.55, "best_step": 0}], [d]
    )
    assert diag["step0_networks"] == ["normal"] and diag["targets_within_noise"] == ["normal"]
    assert any("step 0" in w for w in diag["warnings"])
    assert any("within noise" in w for w in diag["warnings"])


def test_tiny_run_writes_diagnostics_and_effects(tiny_run: tuple[Path, Any]) -> None:
    out, result = tiny_run
    files = RunFiles(out)
    diag = json.loads(files.diagnostics_json.read_text())
    targets = {"depth_zbuffer", "normal", "class_scene", "reshading"}
    assert {r["task"] for r in diag["sanity"]} >= targets
    assert all("best_step" in r for r in diag["sanity"])
    assert {t["target"] for t in diag["targets"]} == targets
    assert diag["warnings"] == result.warnings
    with files.effects_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    selfs = [r for r in rows if r["sources"] == "self"]
    assert len(selfs) == 4 and all(float(r["rel_vs_self"]) == 0.0 for r in selfs)
    with files.sanity_csv.open() as fh:
        assert "best_step" in next(csv.DictReader(fh))
    page = files.report_dir / "index.html"
    if page.is_file():
        assert "Diagnostics" in page.read_text()


def test_heatmap_marks_a_tied_row_no_signal() -> None:
    from taskonomy.report.figures import affinity_heatmap, tied_rows

    tasks = ["depth_zbuffer", "normal", "principal_curvature"]
    values = {}
    for t in tasks:
        for i, s in enumerate([*tasks, "self"]):
            # principal_curvature: every transfer tied (all losses equal)
            values[Transfer((s,), t)] = 0.25 if t == "principal_curvature" else 0.1 + 0.1 * i
    table = TransferTable(values, "affinity")
    m, tg, _ = table.first_order_matrix()
    assert tied_rows(m).tolist() == [t == "principal_curvature" for t in tg]
    fig = affinity_heatmap(table)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["no signal (tied)"]


def test_heatmap_blanks_targets_within_noise() -> None:
    # A row with distinct values is drawn, unless the diagnostics call it within noise.
    from taskonomy.report.figures import affinity_heatmap

    tasks = ["depth_zbuffer", "normal"]
    table = TransferTable(
        {Transfer((s,), t): 0.1 + 0.1 * i for t in tasks for i, s in enumerate([*tasks, "self"])},
        "affinity",
    )
    assert [t.get_text() for t in affinity_heatmap(table).axes[0].texts] == []
    fig = affinity_heatmap(table, no_signal=["normal"])
    (text,) = fig.axes[0].texts
    assert text.get_text().startswith("within noise")
    image = fig.axes[0].images[0].get_array()
    rows = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert (
        image.mask[rows.index("normal")].all() and not image.mask[rows.index("depth_zbuffer")].any()
    )
