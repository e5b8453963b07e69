"""`taskonomy report`: the HTML page, its figures, the task-similarity tree and the CLI."""

from __future__ import annotations

import base64
import csv
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from taskonomy.affinity.table import Transfer, TransferTable
from taskonomy.errors import TaskonomyError
from taskonomy.report import html as report_html
from taskonomy.report.figures import _FAMILY_COLOR, family_of, loss_ratio_matrix
from taskonomy.report.html import SECTIONS, build_report, default_orders, policy_from_json
from taskonomy.report.tree import TaskTree
from taskonomy.taxonomy.policy import Choice, Policy

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GROUP_A = ["autoencoding", "denoising", "edge_texture"]  # 2D
GROUP_B = ["depth_zbuffer", "normal", "reshading"]  # 3D


# ---- helpers ------------------------------------------------------------------------------


class _Page(HTMLParser):
    """Headings, image sources and table rows (per section id) of a report page."""

    def __init__(self) -> None:
        super().__init__()
        self.h2: list[str] = []
        self.imgs: list[str] = []
        self.rows: dict[str, list[list[str]]] = {}
        self.notes: dict[str, str] = {}
        self._section = ""
        self._tag: list[str] = []
        self._text = ""
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self._section = a.get("id") or ""
        if tag == "img":
            self.imgs.append(a.get("src") or "")
        if tag == "tr":
            self._row = []
        if tag in ("h2", "td", "th", "p"):
            self._text = ""
        self._tag.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self.h2.append(self._text)
        elif tag in ("td", "th") and self._row is not None:
            self._row.append(self._text)
        elif tag == "tr" and self._row is not None:
            self.rows.setdefault(self._section, []).append(self._row)
            self._row = None
        elif tag == "p" and self._section not in self.notes:
            self.notes[self._section] = self._text
        if self._tag:
            self._tag.pop()

    def handle_data(self, data: str) -> None:
        self._text += data


def _parse(index: Path) -> _Page:
    page = _Page()
    page.feed(index.read_text(encoding="utf-8"))
    page.close()
    return page


def _check_images(page: _Page, n: int) -> None:
    assert len(page.imgs) == n
    for src in page.imgs:
        head, _, data = src.partition(",")
        assert head == "data:image/png;base64"
        raw = base64.b64decode(data, validate=True)
        assert raw[:8] == PNG_MAGIC and len(raw) > 5_000


def _group_table(seed: int = 0) -> TransferTable:
    """Two groups of tasks that help each other (0.8) and not the other group (0.1)."""
    rng = np.random.default_rng(seed)
    tasks = GROUP_A + GROUP_B
    values = {}
    for t in tasks:
        for s in tasks:
            same = (s in GROUP_A) == (t in GROUP_A)
            v = 1.0 if s == t else (0.8 if same else 0.1) + 0.05 * rng.random()
            values[Transfer.of([s], t)] = v
    return TransferTable(values, "affinity")


# ---- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir(tiny_run: tuple[Path, Any]) -> Path:
    return tiny_run[0]


@pytest.fixture(scope="module")
def run_report(run_dir: Path) -> Path:
    return build_report(run_dir / "report", run_dir=run_dir)


@pytest.fixture(scope="module")
def group_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("groups") / "affinities.csv"
    _group_table().write_csv(path)
    return path


# ---- the task-similarity tree -------------------------------------------------------------


@pytest.mark.parametrize("normalize", ["row_max", "rank"])
def test_tree_cut_in_two_recovers_the_two_groups(normalize: str) -> None:
    tree = TaskTree(normalize=normalize).fit(_group_table())  # type: ignore[arg-type]
    assert sorted(tree.tasks_) == sorted(GROUP_A + GROUP_B)
    cut = tree.clusters(2)
    assert len({cut[t] for t in GROUP_A}) == 1 and len({cut[t] for t in GROUP_B}) == 1
    assert cut[GROUP_A[0]] != cut[GROUP_B[0]]
    # every within-group distance is below every across-group distance
    d, idx = tree.distances_, {t: i for i, t in enumerate(tree.tasks_)}
    within = [d[idx[a], idx[b]] for g in (GROUP_A, GROUP_B) for a in g for b in g if a != b]
    across = [d[idx[a], idx[b]] for a in GROUP_A for b in GROUP_B]
    assert max(within) < min(across)


def test_tree_features_hand_computed() -> None:
    # rows = targets a, b, c; the diagonal is dropped, each row divided by its max, centred.
    v = {("a", "b"): 0.2, ("a", "c"): 0.4, ("b", "a"): 0.3, ("b", "c"): 0.6, ("c", "a"): 0.5,
         ("c", "b"): 0.5, ("a", "a"): 9.0, ("b", "b"): 9.0, ("c", "c"): 9.0}  # fmt: skip
    names = {"a": "autoencoding", "b": "normal", "c": "class_scene"}
    table = TransferTable({Transfer.of([names[s]], names[t]): x for (t, s), x in v.items()})
    tree = TaskTree().fit(table, targets=list(names.values()), sources=list(names.values()))
    expected = np.array(
        [[0.0, -0.25, 0.0], [-0.25, 0.0, 0.0], [0.25, 0.25, 0.0]]
    )  # (S, T): row a of M = [–, .5, 1] → centred [–, -.25, .25]; row c = [1, 1, –] → 0
    np.testing.assert_allclose(tree.features_, expected)
    # cosine distance of a = (0, -.25, 0) and b = (-.25, 0, 0) is 1 (orthogonal)
    assert tree.distances_[0, 1] == pytest.approx(1.0)
    assert tree.linkage_.shape == (2, 4)


def test_tree_figure_labels_coloured_by_family() -> None:
    from matplotlib.colors import to_hex

    fig = TaskTree().fit(_group_table()).figure()
    ax = fig.axes[0]
    labels = ax.get_yticklabels()
    assert sorted(lab.get_text() for lab in labels) == sorted(GROUP_A + GROUP_B)
    for lab in labels:
        assert to_hex(lab.get_color()) == _FAMILY_COLOR[family_of(lab.get_text())]
    assert "cosine distance" in ax.get_xlabel()
    legend = ax.get_legend()
    assert legend is not None and {t.get_text() for t in legend.get_texts()} == {"2D", "3D"}


def test_tree_rejects_bad_input() -> None:
    one = TransferTable({Transfer.of(["normal"], "reshading"): 0.5})
    with pytest.raises(TaskonomyError, match="at least 2 source tasks"):
        TaskTree().fit(one)
    with pytest.raises(TaskonomyError, match="normalize"):
        TaskTree(normalize="zscore").fit(_group_table())  # type: ignore[arg-type]
    with pytest.raises(TaskonomyError, match="n_clusters"):
        TaskTree().fit(_group_table()).clusters(7)


# ---- loss ratios ----------------------------------------------------------------------------


def test_loss_ratio_matrix_hand_computed() -> None:
    t = TransferTable(
        {
            Transfer.of(["self"], "normal"): 0.5,
            Transfer.of(["reshading"], "normal"): 0.25,
            Transfer.of(["pixels"], "normal"): 1.0,
            Transfer.of(["self"], "reshading"): 2.0,
            Transfer.of(["normal"], "reshading"): 3.0,
        },
        "mean_test_loss",
    )
    r, tg, src = loss_ratio_matrix(t)
    assert tg == ["normal", "reshading"] and src == ["normal", "reshading", "pixels"]
    np.testing.assert_allclose(r, [[np.nan, 0.5, 2.0], [1.5, np.nan, np.nan]], equal_nan=True)
    with pytest.raises(TaskonomyError, match="mean_test_loss"):
        loss_ratio_matrix(_group_table())


# ---- the report of a run directory --------------------------------------------------------


def test_run_report_page(run_dir: Path, run_report: Path) -> None:
    assert run_report == run_dir / "report" / "index.html"
    page = _parse(run_report)
    assert page.h2 == [title for _, title in SECTIONS]
    # contact sheet, loss ratios, affinities, tree, taxonomies, gain/quality
    _check_images(page, 6)
    for name in ("contact_sheet", "loss_ratios", "affinities", "task_tree", "taxonomies",
                 "gain_quality"):  # fmt: skip
        assert (run_report.parent / "figures" / f"{name}.png").read_bytes()[:8] == PNG_MAGIC
    assert not list(run_report.parent.rglob("*.tmp"))


def test_run_report_sanity_table_matches_csv(run_dir: Path, run_report: Path) -> None:
    with (run_dir / "tables" / "sanity.csv").open(newline="") as fh:
        expected = list(csv.DictReader(fh))
    rows = _parse(run_report).rows["sanity"]
    assert rows[0][0] == "task" and len(rows) - 1 == len(expected) > 0
    for row, exp in zip(rows[1:], expected, strict=True):
        assert row[0] == exp["task"]
        for cell, key in zip(row[2:], ("test_loss", "guess_loss", "win_vs_guess",
                                        "win_vs_random"), strict=True):  # fmt: skip
            if exp[key] == "":
                assert cell == "–"
            else:
                assert float(cell) == pytest.approx(float(exp[key]), rel=1e-3, abs=1e-12)


def test_run_report_loss_ratios_equal_hand_computed(run_dir: Path, run_report: Path) -> None:
    # Hand-compute from the raw CSV text: ratio = loss(s → t) / loss(self → t).
    loss: dict[tuple[str, str], float] = {}
    with (run_dir / "tables" / "losses.csv").open() as fh:
        for rec in csv.DictReader(line for line in fh if not line.startswith("#")):
            loss[(rec["sources"], rec["target"])] = float(rec["value"])
    with (run_report.parent / "figures" / "loss_ratios.csv").open() as fh:
        got = list(csv.reader(fh))
    sources = got[0][1:]
    assert "self" not in sources and "pixels" in sources and "random" in sources
    checked = 0
    for row in got[1:]:
        target = row[0]
        for s, cell in zip(sources, row[1:], strict=True):
            if (s, target) in loss:
                assert float(cell) == pytest.approx(loss[(s, target)] / loss[("self", target)])
                checked += 1
            else:
                assert cell == ""
    assert checked >= 4 * 4  # every target has its first-order transfers + pixels


def test_run_report_novel_and_taxonomies(run_dir: Path, run_report: Path) -> None:
    page = _parse(run_report)
    novel = json.loads((run_dir / "tables" / "novel_reshading.json").read_text())
    rows = page.rows["novel"]
    assert len(rows) - 1 == len(novel) > 0
    assert [r[0] for r in rows[1:]] == [n["taxonomy"] for n in novel]
    # one summary row per stored taxonomy JSON without an error (not re-solved)
    stored = [json.loads(p.read_text()) for p in (run_dir / "taxonomies").glob("*.json")]
    ok = [s for s in stored if "error" not in s]
    assert len(page.rows["taxonomies"]) - 1 == len(ok)


# ---- the report of a published table ------------------------------------------------------


def test_published_report(published_dir: Path, tmp_path: Path) -> None:
    aff = published_dir / "affinities" / "all_affinities_16k.pkl"
    index = build_report(tmp_path, affinities=aff, budgets=[1, 4, 8, 22])
    page = _parse(index)
    assert page.h2 == [title for _, title in SECTIONS]
    _check_images(page, 4)  # affinities, tree, taxonomies, gain/quality
    for sid in ("dataset", "sanity", "loss-ratios", "novel"):
        assert page.notes[sid].startswith("Only drawn for a run directory")
    assert "published 2018 files hold only" in page.notes["loss-ratios"]
    # 4 budgets × orders 1, 2, unlimited (the table goes beyond order 3)
    assert len(page.rows["taxonomies"]) - 1 == 4 * 3
    assert not (tmp_path / "figures" / "contact_sheet.png").exists()


def test_default_orders() -> None:
    assert default_orders(_group_table()) == [1]
    two = TransferTable({Transfer.of(GROUP_A[:2], "normal"): 1.0})
    assert default_orders(two) == [1, 2]
    five = TransferTable({Transfer.of([*GROUP_A, *GROUP_B[:2]], "reshading"): 1.0})
    assert default_orders(five) == [1, 2, None]


def test_policy_json_round_trip() -> None:
    pol = Policy(
        objective=1.5, budget=2.0, max_order=None, scratch=("normal",),
        choices={
            "normal": Choice("normal", ("normal",), "scratch", 0.9, 0.7, 0.5),
            "reshading": Choice("reshading", ("normal", "random"), "transfer", 0.6, None, 0.25),
        },
    )  # fmt: skip
    assert policy_from_json(json.loads(json.dumps(pol.to_json()))) == pol
    with pytest.raises(TaskonomyError, match="taxonomy JSON"):
        policy_from_json({"objective": 1.0})


def test_failure_leaves_no_index(
    group_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(inp: object) -> str:
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(report_html, "_section_novel", boom)
    with pytest.raises(RuntimeError, match="drawing failed"):
        build_report(tmp_path, affinities=group_csv, budgets=[1], orders=[1])
    assert not (tmp_path / "index.html").exists()
    assert not list(tmp_path.rglob("*.tmp"))


def test_build_report_input_errors(group_csv: Path, tmp_path: Path) -> None:
    with pytest.raises(TaskonomyError, match="exactly one"):
        build_report(tmp_path, run_dir=tmp_path, affinities=group_csv)
    with pytest.raises(TaskonomyError, match="exactly one"):
        build_report(tmp_path)
    with pytest.raises(TaskonomyError, match=r"tables/affinities\.csv"):
        build_report(tmp_path / "out", run_dir=tmp_path)
    with pytest.raises(TaskonomyError, match="budgets"):
        build_report(tmp_path, affinities=group_csv, budgets=[0])


# ---- CLI ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    from taskonomy.cli.report import register

    app = typer.Typer()
    register(app)

    @app.command("noop")
    def _noop() -> None:  # a second command keeps `report` a subcommand
        """Nothing."""

    return app


def test_cli_writes_report_and_prints_path(
    cli: typer.Typer, group_csv: Path, tmp_path: Path
) -> None:
    res = CliRunner().invoke(
        cli, ["report", "--affinities", str(group_csv), "--out", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(tmp_path / "index.html")
    page = _parse(tmp_path / "index.html")
    assert page.h2 == [title for _, title in SECTIONS]
    # no win rates beside the CSV: figure 9 says why instead of failing
    assert "win-rate" in page.notes["gain-quality"]
    _check_images(page, 3)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["RUN", "--affinities", "AFF"], "exactly one"),
        ([], "exactly one"),
        (["MISSING"], "run directory"),
        (["--affinities", "MISSING.csv"], "an existing .csv or .pkl file, or a packaged name"),
    ],
)
def test_cli_errors_one_line_exit_2(
    cli: typer.Typer, group_csv: Path, tmp_path: Path, args: list[str], needle: str
) -> None:
    sub = {"RUN": str(tmp_path), "AFF": str(group_csv), "MISSING": str(tmp_path / "nope"),
           "MISSING.csv": str(tmp_path / "nope.csv")}  # fmt: skip
    res = CliRunner().invoke(cli, ["report", *[sub.get(a, a) for a in args]])
    assert res.exit_code == 2
    err = res.stderr
    assert len(err.strip().splitlines()) == 1 and err.startswith("error:") and needle in err
    assert "Traceback" not in err
    assert not (tmp_path / "report" / "index.html").exists()
