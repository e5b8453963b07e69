"""Planning figures on tiny hand-made tables and policies."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from taskonomy.affinity.table import Transfer, TransferTable
from taskonomy.errors import TaskonomyError
from taskonomy.report.figures import (
    JUNCTION,
    affinity_heatmap,
    gain_quality_curves,
    normalized_matrix,
    order_tasks,
    policy_graph,
    taxonomy_grid,
)
from taskonomy.taxonomy.policy import Choice, Policy

T = Transfer.of
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_ok(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5_000  # a real rendering, not an empty canvas


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]  # type: ignore[attr-defined]


def _no_temp_files(folder: Path) -> bool:
    return not any(p.name.endswith(".tmp") for p in folder.iterdir())


# ---- ordering ----------------------------------------------------------------------


def test_order_tasks_by_family_with_baselines_last() -> None:
    names = ["self", "class_scene", "random", "normal", "room_layout", "edge_texture", "normal"]
    # families: 2D, 3D, geometric, semantic; then random, self
    assert order_tasks(names) == [
        "edge_texture",
        "normal",
        "room_layout",
        "class_scene",
        "random",
        "self",
    ]


# ---- affinity heatmap --------------------------------------------------------------

# rows (ordered): edge_texture (2D), normal (3D), reshading (3D)
# cols (ordered): edge_texture, normal, reshading, random, self
AFF = TransferTable(
    {
        T(["normal"], "reshading"): 0.04,
        T(["edge_texture"], "reshading"): 0.01,
        T(["reshading"], "reshading"): 0.30,  # diagonal: left out of the row maximum
        T(["self"], "reshading"): 0.50,  # baseline: left out of the row maximum
        T(["random"], "reshading"): 0.002,
        T(["reshading"], "normal"): 0.02,
        T(["edge_texture"], "normal"): 0.05,
        T(["self"], "normal"): 0.40,
        # normal has no normal->normal and no random: NaN cells
        T(["normal"], "edge_texture"): 0.03,
        T(["reshading"], "edge_texture"): 0.06,
        T(["edge_texture"], "edge_texture"): 0.02,
        T(["self"], "edge_texture"): 0.45,
        T(["random"], "edge_texture"): 0.003,
        T(["normal", "reshading"], "edge_texture"): 0.3,  # higher order: not drawn
    }
)
NAN = math.nan
RAW = np.array(
    [
        [0.02, 0.03, 0.06, 0.003, 0.45],  # edge_texture
        [0.05, NAN, 0.02, NAN, 0.40],  # normal
        [0.01, 0.04, 0.30, 0.002, 0.50],  # reshading
    ]
)
ROW_MAX = np.array([0.06, 0.05, 0.04])  # best transfer from *another* task per row


def test_heatmap_image_is_the_row_max_normalized_matrix(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "heat.png"
    fig = affinity_heatmap(AFF, path=path)
    _png_ok(path)
    ax = fig.axes[0]
    img = ax.images[0].get_array()
    assert img is not None
    expected = RAW / ROW_MAX[:, None]
    np.testing.assert_allclose(np.ma.filled(img, np.nan), expected, equal_nan=True)
    assert np.ma.getmaskarray(img).tolist() == np.isnan(RAW).tolist()  # NaN cells are masked
    assert [t.get_text() for t in ax.get_yticklabels()] == ["edge_texture", "normal", "reshading"]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "edge_texture",
        "normal",
        "reshading",
        "random",
        "self",
    ]
    assert ax.get_xlabel() == "source task (frozen encoder)"
    assert ax.get_ylabel() == "target task"
    assert "First-order affinity" in ax.get_title()
    cbar_labels = [a.get_ylabel() for a in fig.axes[1:]]
    assert any("best transfer" in lab for lab in cbar_labels)


def test_heatmap_without_normalization_shows_raw_values(tmp_path: Path) -> None:
    fig = affinity_heatmap(AFF, normalize="none", title="raw", path=tmp_path / "raw.png")
    img = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(np.ma.filled(img, np.nan), RAW, equal_nan=True)
    assert fig.axes[0].get_title() == "raw"


def test_heatmap_explicit_rows_and_columns_keep_their_order() -> None:
    fig = affinity_heatmap(AFF, targets=["reshading"], sources=["self", "normal"])
    img = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(np.ma.filled(img, np.nan), [[0.50 / 0.04, 1.0]])


def test_normalized_matrix_falls_back_when_no_other_task_is_usable() -> None:
    m = np.array([[0.2, 0.4], [0.0, 0.0]])  # (2, 2): row 0 only baselines, row 1 all zero
    out = normalized_matrix(m, "row_max", ["normal", "normal"], ["normal", "self"])
    np.testing.assert_allclose(out, [[0.5, 1.0], [0.0, 0.0]])
    with pytest.raises(TaskonomyError, match="normalize"):
        normalized_matrix(m, "max")  # type: ignore[arg-type]


def test_heatmap_rejects_bad_input() -> None:
    with pytest.raises(TaskonomyError, match="normalize"):
        affinity_heatmap(AFF, normalize="log")  # type: ignore[arg-type]
    with pytest.raises(TaskonomyError, match="non-empty"):
        affinity_heatmap(AFF, targets=["normal"], sources=[])


# ---- policy graph ------------------------------------------------------------------


def _policy(budget: float = 3, order: int | None = 3, gain: float | None = 0.8) -> Policy:
    return Policy(
        objective=1.234,
        budget=budget,
        max_order=order,
        scratch=("depth_zbuffer", "normal", "reshading"),
        choices={
            "normal": Choice("normal", ("normal",), "scratch", 0.3, 0.97, 0.5),
            "depth_zbuffer": Choice("depth_zbuffer", ("depth_zbuffer",), "scratch", 0.3),
            "edge_occlusion": Choice("edge_occlusion", ("normal",), "transfer", 0.01, gain, 0.3),
            "keypoints3d": Choice(
                "keypoints3d", ("depth_zbuffer", "normal"), "transfer", 0.02, 0.7, None
            ),
            "principal_curvature": Choice(
                "principal_curvature",
                ("depth_zbuffer", "normal", "reshading"),
                "transfer",
                0.03,
            ),
        },
    )


def _junctions(fig: Figure) -> int:
    return sum(1 for ax in fig.axes for ln in ax.get_lines() if ln.get_gid() == JUNCTION)


def test_policy_graph_draws_one_junction_per_higher_order_transfer(tmp_path: Path) -> None:
    path = tmp_path / "graph.png"
    fig = policy_graph(_policy(), path=path)
    _png_ok(path)
    assert _junctions(fig) == 2  # keypoints3d (order 2), principal_curvature (order 3)
    title = fig.axes[0].get_title()
    assert "budget 3" in title and "max order 3" in title and "objective 1.234" in title
    texts = _texts(fig)
    # scratch targets are marked, the source-only scratch task is plain, targets scored
    assert "normal (scratch)" in texts and "depth_zbuffer (scratch)" in texts
    assert "reshading" in texts
    assert "edge_occlusion  G 0.80 Q 0.30" in texts
    assert "keypoints3d  G 0.70 Q –" in texts
    assert "principal_curvature" in texts  # no scores known: plain name


def test_policy_graph_without_scores_and_untrained_sources() -> None:
    pol = Policy(
        objective=0.5,
        budget=1,
        max_order=None,
        scratch=("normal",),
        choices={
            "normal": Choice("normal", ("normal",), "scratch", 0.3),
            # `random` is used but not trained: it still gets a (grey) node
            "reshading": Choice("reshading", ("normal", "random"), "transfer", 0.1, 0.6, 0.2),
        },
    )
    fig = policy_graph(pol, show_scores=False)
    texts = _texts(fig)
    assert "random" in texts and "reshading" in texts
    assert "source not trained by the policy" in texts
    assert "max order any" in fig.axes[0].get_title()
    assert _junctions(fig) == 1


def test_taxonomy_grid_has_one_panel_per_cell(tmp_path: Path) -> None:
    pols = {(b, k): _policy(b, k) for b in (1, 3) for k in (1, None)}
    del pols[(1, None)]
    path = tmp_path / "grid.png"
    fig = taxonomy_grid(pols, path=path)
    _png_ok(path)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 4
    assert "budget 1, max order 1 (objective 1.23)" in titles
    assert "budget 3, max order any (objective 1.23)" in titles
    assert "budget 1, order any: not solved" in titles
    assert _junctions(fig) == 3 * 2
    with pytest.raises(TaskonomyError, match="at least one"):
        taxonomy_grid({})


# ---- Gain / Quality curves ---------------------------------------------------------


def _gq_policy(budget: float, order: int | None, g: list[float | None]) -> Policy:
    """Targets normal (scratch from budget 2) and reshading; gains ``g``, quality g/2."""
    scratch = budget >= 2
    return Policy(
        objective=float(budget),
        budget=budget,
        max_order=order,
        scratch=("normal",) if scratch else ("edge_texture",),
        choices={
            "normal": Choice(
                "normal",
                ("normal",) if scratch else ("edge_texture",),
                "scratch" if scratch else "transfer",
                0.1,
                g[0],
                0.5 if scratch else (None if g[0] is None else g[0] / 2),
            ),
            "reshading": Choice("reshading", ("normal",), "transfer", 0.1, g[1], None),
        },
    )


def test_gain_quality_curves_panels_match_the_policies(tmp_path: Path) -> None:
    by_order: dict[int | None, list[Policy]] = {
        1: [_gq_policy(2, 1, [0.9, 0.7]), _gq_policy(1, 1, [0.4, None])],  # unsorted on purpose
        None: [_gq_policy(1, None, [0.2, 0.6]), _gq_policy(3, None, [0.95, 0.75])],
    }
    path = tmp_path / "gq.png"
    fig = gain_quality_curves(by_order, path=path)
    _png_ok(path)
    titles = [ax.get_title() for ax in fig.axes]
    assert "Gain (win rate vs pixels), max order 1" in titles
    assert "Quality (win rate vs self), max order any" in titles
    gain_ax = fig.axes[titles.index("Gain (win rate vs pixels), max order 1") + 1]
    # heatmap rows = targets (3D family: normal, reshading), cols = budgets 1, 2
    img = gain_ax.images[0].get_array()
    np.testing.assert_allclose(np.ma.filled(img, np.nan), [[0.4, 0.9], [NAN, 0.7]])
    assert [t.get_text() for t in gain_ax.get_xticklabels()] == ["1", "2"]
    assert [t.get_text() for t in gain_ax.get_yticklabels()] == ["normal", "reshading"]
    assert "supervision budget" in gain_ax.get_xlabel()
    # the mean curve above it averages the known values per budget
    mean_line = fig.axes[titles.index("Gain (win rate vs pixels), max order 1")].get_lines()[0]
    np.testing.assert_allclose(mean_line.get_ydata(), [0.4, 0.8])
    # quality of the scratch-trained normal at budget 2 is 0.5; reshading unknown
    q_ax = fig.axes[titles.index("Quality (win rate vs self), max order 1") + 1]
    np.testing.assert_allclose(
        np.ma.filled(q_ax.images[0].get_array(), np.nan), [[0.2, 0.5], [NAN, NAN]]
    )
    # scratch cells are dotted: normal at budget 2 only (row 0, column 1)
    dots = q_ax.get_lines()[0]
    assert list(dots.get_xdata()) == [1] and list(dots.get_ydata()) == [0]
    assert any("win rate" in a.get_ylabel() for a in fig.axes)  # colorbar label


def test_gain_quality_curves_needs_attached_win_rates() -> None:
    bare = Policy(1.0, 1, 1, ("normal",), {"normal": Choice("normal", ("normal",), "scratch", 1)})
    with pytest.raises(TaskonomyError, match="attach_gain_quality"):
        gain_quality_curves({1: [bare]})
    with pytest.raises(TaskonomyError, match="at least one"):
        gain_quality_curves({1: []})


# ---- atomic saving -----------------------------------------------------------------


def test_failed_save_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_savefig(self: Figure, fh: object, **kw: object) -> None:
        fh.write(PNG_MAGIC + b"half a picture")  # type: ignore[attr-defined]
        raise OSError("disk full")

    path = tmp_path / "heat.png"
    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        affinity_heatmap(AFF, path=path)
    assert not path.exists()
    assert _no_temp_files(tmp_path)

    # an earlier complete file survives a failed overwrite
    path.write_bytes(b"old complete file")
    with pytest.raises(OSError, match="disk full"):
        policy_graph(_policy(), path=path)
    assert path.read_bytes() == b"old complete file"
    assert _no_temp_files(tmp_path)
