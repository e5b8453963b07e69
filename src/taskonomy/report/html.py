"""``taskonomy report``: one self-contained HTML page for a run directory or an affinity table.

The page (``index.html``) embeds every figure as a base64 ``data:`` URI, with inline CSS and
no script, so the single file can be mailed or archived; the PNGs are also kept beside it in
``figures/`` (with the data behind the loss-ratio heatmap as CSV). Sections:

1. Dataset: the contact sheet of the run's image bank (run directories only).
2. Sanity checks: ``tables/sanity.csv`` (the paper's Table 1; run directories only).
3. Before AHP: first-order test-loss ratios to full supervision (``tables/losses.csv``;
   run directories only: the published files hold no losses).
4. After AHP: the first-order affinity heatmap.
5. Task-similarity tree (:class:`taskonomy.report.tree.TaskTree`).
6. Taxonomies for a grid of budgets × orders (the paper's Figure 8).
7. Gain and Quality as the budget grows (its Figure 9).
8. Novel tasks (``tables/novel_<task>.json``, when present).
9. How sure is the taxonomy? (:mod:`taskonomy.report.uncertainty`).
10. Cheap estimates vs measured affinities (``tables/estimates_vs_measured.csv``,
    :mod:`taskonomy.report.estimates`).

A page drawn from an ``estimated_affinity`` table says at its top that it plans from
estimated affinities.

A section without its input says why instead of disappearing, so every report has the
same outline. The page is written last and atomically: a failure while drawing leaves no
(new) ``index.html``.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from taskonomy.affinity.table import ESTIMATED_NOTE, TransferTable, is_estimated, read_table
from taskonomy.errors import TaskonomyError, input_error
from taskonomy.evaluate.gain_quality import WinRates, group_by_order, mean_gain_quality
from taskonomy.io import atomic_write_text
from taskonomy.report.estimates import section_estimates
from taskonomy.report.uncertainty import edge_stability, section_uncertainty
from taskonomy.rundir import RunFiles
from taskonomy.tasks import is_free_source
from taskonomy.taxonomy.policy import Policy

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Section ids and headings, in page order (the tests check every heading is present).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("dataset", "Dataset"),
    ("sanity", "Sanity checks"),
    ("diagnostics", "Diagnostics: is there signal?"),
    ("loss-ratios", "Before AHP: test-loss ratios"),
    ("affinities", "After AHP: first-order affinities"),
    ("tree", "Task-similarity tree"),
    ("taxonomies", "Taxonomies by budget and order"),
    ("gain-quality", "Gain and Quality as the budget grows"),
    ("novel", "Novel tasks"),
    ("uncertainty", "How sure is the taxonomy?"),
    ("estimates", "Cheap estimates vs measured affinities"),
)
GRID_BUDGETS = 6  # columns of the Figure 8 grid
GRID_ORDERS = 3  # rows of the Figure 8 grid (and orders of the Figure 9 sweep)
WIDE_PX = 2000  # PNGs wider than this scroll sideways in the page …
MAX_WIDE_PX = 2600  # … shown at most this wide

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1250px;
margin:0 auto;padding:1.5em 2em;color:#222;line-height:1.45}
h1{margin-bottom:.2em}h2{margin-top:2.2em;border-bottom:2px solid #ddd;padding-bottom:.2em}
.meta{color:#555;font-size:.92em}.meta code{font-size:.95em}
nav ol{columns:2;font-size:.95em}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
.wide{overflow-x:auto}.wide img{max-width:none}
figcaption{color:#444;font-size:.9em;margin-top:.3em}
table{border-collapse:collapse;font-size:.9em;margin:.6em 0}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td.name,th.name{text-align:left}
tr.fail td{background:#fde0dd}.note{background:#f7f7f7;border-left:4px solid #bbb;
padding:.5em .9em;color:#444}
"""


@dataclass
class _Inputs:
    """What a report is drawn from, resolved from a run directory or an affinity file."""

    title: str
    origin: str
    affinities: TransferTable
    winrates: WinRates | None
    run_dir: Path | None = None
    losses: TransferTable | None = None
    sanity: list[dict[str, str]] | None = None
    novel: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    bank: Path | None = None
    policies: list[Policy] = field(default_factory=list)
    policy_errors: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # section id → why it is empty


# ---- reading inputs ---------------------------------------------------------------------


# Re-exported for callers of the report module; the parser lives with ``Policy.to_json``.
policy_from_json = Policy.from_json


def _read_sanity(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _find_bank(run: Path) -> tuple[Path | None, str | None]:
    banks = sorted(p / "bank" for p in (run / "jobs" / "data").glob("*") if (p / "bank").is_dir())
    if len(banks) == 1:
        return banks[0], None
    if not banks:
        return None, "No image bank in jobs/data/ (was the data stage run here?)."
    return None, f"{len(banks)} image banks in jobs/data/; expected one."


def _run_inputs(run: Path, winrates: str | os.PathLike[str] | None) -> _Inputs:
    from taskonomy.evaluate.gain_quality import load_winrates

    if not run.is_dir():
        raise input_error(
            "run directory", str(run), "an existing folder written by `taskonomy run`"
        )
    files = RunFiles(run)
    tables, aff_path = files.tables_dir, files.table_path("affinity")
    if not aff_path.is_file():
        raise input_error(
            f"{run}: {aff_path.relative_to(run)}",
            "missing",
            "a run directory with measured tables",
            "Run (or resume) `taskonomy run --out RUN_DIR` until it finishes.",
        )
    inp = _Inputs(
        title=f"Taskonomy run {run.resolve().name}",
        origin=str(run.resolve()),
        affinities=read_table(aff_path, "affinity"),
        winrates=load_winrates(winrates if winrates is not None else tables),
        run_dir=run,
    )
    cfg_path = files.config_path
    if cfg_path.is_file():
        import yaml

        loaded = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
        inp.config = loaded if isinstance(loaded, dict) else {}
    losses = files.table_path("mean_test_loss")
    if losses.is_file():
        inp.losses = read_table(losses, "mean_test_loss")
    else:
        inp.notes["loss-ratios"] = (
            f"{losses.relative_to(run)} is missing (a run from an older version)."
        )
    if files.sanity_csv.is_file():
        inp.sanity = _read_sanity(files.sanity_csv)
    else:
        inp.notes["sanity"] = f"{files.sanity_csv.relative_to(run)} is missing."
    for task, p in files.novel_files().items():
        inp.novel[task] = json.loads(p.read_text(encoding="utf-8"))
    if not inp.novel:
        inp.notes["novel"] = "No novel tasks in this run (config key `novel`)."
    inp.bank, why = _find_bank(run)
    if why:
        inp.notes["dataset"] = why
    for p in files.taxonomy_files():
        record = json.loads(p.read_text(encoding="utf-8"))
        if "error" in record:
            inp.policy_errors.append(f"{p.stem}: {record['error']}")
        else:
            inp.policies.append(policy_from_json(record))
    return inp


def _table_inputs(path: str | os.PathLike[str], winrates: str | os.PathLike[str] | None) -> _Inputs:
    from taskonomy.evaluate.plan import load_table_and_winrates

    # A file or a packaged name (taskonomy-2018, …): the same lookup as `taskonomy solve`.
    table, wr, p = load_table_and_winrates(path, winrates)
    why = "Only drawn for a run directory; an affinity table alone has no {}."
    return _Inputs(
        title=f"Taskonomy affinities {Path(path).name}",
        origin=str(p.resolve()),
        affinities=table,
        winrates=wr,
        notes={
            "dataset": why.format("image bank"),
            "sanity": why.format("task-network losses"),
            "loss-ratios": why.format(
                "test losses (the published 2018 files hold only affinities and win rates)"
            ),
            "novel": why.format("novel-task measurements"),
        },
    )


# ---- solving ----------------------------------------------------------------------------


def default_orders(table: TransferTable) -> list[int | None]:
    """At most :data:`GRID_ORDERS` orders: 1, 2, …, or 1, 2, unlimited for deep tables.

    Unlimited is only listed when the table holds transfers above order 2, since it would
    repeat the largest order otherwise.
    """
    top = max(table.max_order(), 1)
    if top <= GRID_ORDERS:
        return list(range(1, top + 1))
    return [*range(1, GRID_ORDERS), None]


def _pick(values: Sequence[float], n: int) -> list[float]:
    """At most ``n`` values spread evenly over sorted ``values`` (ends included)."""
    vals = sorted(set(values))
    if len(vals) <= n:
        return vals
    idx = np.unique(np.round(np.linspace(0, len(vals) - 1, n)).astype(int))  # (≤ n,)
    return [vals[i] for i in idx]


def _solve(
    inp: _Inputs, budgets: Sequence[float] | None, orders: Sequence[int | None] | None
) -> None:
    from taskonomy.evaluate.plan import plan

    n_targets = len(inp.affinities.targets())
    bs = list(budgets) if budgets is not None else list(range(1, n_targets + 1))
    ks = list(orders) if orders is not None else default_orders(inp.affinities)
    inp.policies, inp.policy_errors = [], []
    for k in ks:
        for b in bs:
            try:
                inp.policies.append(
                    plan(inp.affinities, budget=float(b), max_order=k, winrates=inp.winrates)
                )
            except TaskonomyError as exc:  # e.g. an infeasible budget: report it, go on
                inp.policy_errors.append(f"budget {b:g}, order {_order(k)}: {exc}")


def _order(k: int | None) -> str:
    return "unlimited" if k is None else str(k)


# ---- HTML pieces --------------------------------------------------------------------------


def _esc(x: object) -> str:
    return html.escape(str(x))


def _num(x: object, digits: int = 4) -> str:
    if x is None or x == "":
        return "–"
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return _esc(x)
    return "–" if math.isnan(v) else f"{v:.{digits}g}"


def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>'


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], classes: Sequence[str] = ()) -> str:
    """An HTML table; cells are already-escaped HTML; the first column is left-aligned."""
    th = "".join(f"<th{' class=name' if i == 0 else ''}>{_esc(h)}</th>" for i, h in enumerate(head))
    body = []
    for r, row in enumerate(rows):
        cls = f' class="{classes[r]}"' if r < len(classes) and classes[r] else ""
        tds = "".join(f"<td{' class=name' if i == 0 else ''}>{c}</td>" for i, c in enumerate(row))
        body.append(f"<tr{cls}>{tds}</tr>")
    return f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class _Figures:
    """Saves figures under ``folder`` and returns ``<figure>`` HTML with the PNG inlined."""

    def __init__(self, folder: Path, dpi: int) -> None:
        self.folder = folder
        self.dpi = dpi

    def png(self, name: str, path: Path, alt: str, caption: str) -> str:
        raw = path.read_bytes()
        data = base64.b64encode(raw).decode("ascii")
        # PNG header: width at bytes 16..20 (big-endian). A figure far wider than the page
        # (the taxonomy grid) scrolls sideways at a readable size instead of shrinking.
        width = int.from_bytes(raw[16:20], "big") if raw[:8] == b"\x89PNG\r\n\x1a\n" else 0
        wide = width > WIDE_PX
        img = f'<img src="data:image/png;base64,{data}" alt="{_esc(alt)}"' + (
            f' style="width:{min(width, MAX_WIDE_PX)}px">' if wide else ">"
        )
        if wide:
            img = f'<div class="wide">{img}</div>'
            caption += (
                f' Wide figure: scroll sideways, or open <a href="figures/{_esc(path.name)}">'
                f"figures/{_esc(path.name)}</a> when the folder is beside this page."
            )
        return f'<figure id="fig-{_esc(name)}">{img}<figcaption>{caption}</figcaption></figure>'

    def add(self, name: str, fig: Figure, alt: str, caption: str) -> str:
        from taskonomy.report.figures import save_png

        path = self.folder / f"{name}.png"
        save_png(fig, path, self.dpi)
        return self.png(name, path, alt, caption)


def _section_dataset(inp: _Inputs, figs: _Figures) -> str:
    if inp.bank is None:
        return _note(inp.notes.get("dataset", "No image bank."))
    from taskonomy.report.contact_sheet import contact_sheet

    path = contact_sheet(inp.bank, 0, out=figs.folder / "contact_sheet.png", dpi=figs.dpi)
    rel = inp.bank.relative_to(inp.run_dir) if inp.run_dir else inp.bank
    return figs.png(
        "contact_sheet", path, "contact sheet: one view with every task's label",
        f"View 0 of the image bank <code>{_esc(rel)}</code> with every task's label, "
        "titles coloured by task family.",
    )  # fmt: skip


def _section_sanity(inp: _Inputs) -> str:
    if inp.sanity is None:
        return _note(inp.notes.get("sanity", "No sanity table."))
    from taskonomy.report.figures import family_of

    rows, classes = [], []
    for r in inp.sanity:
        rows.append([
            _esc(r.get("task", "")), _esc(family_of(r.get("task", ""))),
            _num(r.get("test_loss")), _num(r.get("guess_loss")),
            _num(r.get("win_vs_guess")), _num(r.get("win_vs_random")),
        ])  # fmt: skip
        try:
            failed = float(r.get("win_vs_guess") or "nan") <= 0.5
        except ValueError:
            failed = False
        classes.append("fail" if failed else "")
    head = ["task", "family", "test loss", "constant guess loss", "win rate vs guess",
            "win rate vs random encoder"]  # fmt: skip
    return (
        "<p>Each task network against the loss-optimal constant guess and against a read-out "
        "of a random encoder, on the test split (win rate = fraction of test images with a "
        "lower loss; the paper's Table 1). Rows in red do not beat the guess.</p>"
        + _table(head, rows, classes)
    )


def _section_loss_ratios(inp: _Inputs, figs: _Figures) -> str:
    if inp.losses is None:
        return _note(inp.notes.get("loss-ratios", "No losses table."))
    from taskonomy.report.figures import loss_ratio_heatmap

    fig = loss_ratio_heatmap(inp.losses)
    r, tg, src = fig.taskonomy_ratios  # type: ignore[attr-defined]
    _write_matrix_csv(figs.folder / "loss_ratios.csv", r, tg, src)
    return figs.add(
        "loss_ratios", fig, "heatmap of first-order test-loss ratios",
        "Mean test loss of each first-order transfer divided by the mean test loss of the "
        "target's fully supervised network (<code>self</code>), the raw material of AHP. "
        "1 = as good as full supervision; lower is better (blue). <code>pixels</code> is a "
        "network trained from scratch on the transfer split; <code>random</code> a random "
        "encoder. Data: <code>figures/loss_ratios.csv</code>.",
    )  # fmt: skip


def _write_matrix_csv(path: Path, m: np.ndarray, rows: list[str], cols: list[str]) -> None:
    lines = [",".join(["target", *cols])]
    for name, row in zip(rows, m, strict=True):
        lines.append(",".join([name, *("" if not np.isfinite(v) else repr(float(v)) for v in row)]))
    atomic_write_text(path, "\n".join(lines) + "\n")


def _section_affinities(inp: _Inputs, figs: _Figures) -> str:
    from taskonomy.report.figures import affinity_heatmap

    noise = _within_noise(inp.run_dir)
    fig = affinity_heatmap(
        inp.affinities, title="After AHP: first-order affinities", no_signal=noise
    )
    said = (
        f" Blanked rows ({html.escape(', '.join(noise))}): within noise, their best "
        "transfer is not significantly better than <code>random</code> or the constant guess "
        "(<code>tables/diagnostics.json</code>)."
        if noise
        else ""
    )
    return figs.add(
        "affinities", fig, "heatmap of first-order AHP affinities",
        "First-order task affinities after AHP (the paper's Section 3.3), each row divided by "
        "the target's best transfer from another task, so every row's best source reads 1. "
        "Grey: not measured." + said,
    )  # fmt: skip


def _within_noise(run_dir: Path | None) -> list[str]:
    """Targets the run's diagnostics call within noise (none without a run directory)."""
    path = RunFiles(run_dir).diagnostics_json if run_dir is not None else None
    if path is None or not path.is_file():
        return []
    try:
        diag = json.loads(path.read_text(encoding="utf-8"))
        return [str(t) for t in diag.get("targets_within_noise", [])]
    except (ValueError, AttributeError):  # a damaged file: the diagnostics section says so
        return []


def _section_tree(inp: _Inputs, figs: _Figures) -> str:
    from taskonomy.report.tree import TaskTree

    try:
        tree = TaskTree().fit(inp.affinities)
    except TaskonomyError as exc:
        return _note(f"No tree: {exc}")
    return figs.add(
        "task_tree", tree.figure(), "dendrogram of source tasks",
        "Agglomerative clustering (average linkage) of source tasks by their transfer-out "
        "pattern: the columns of the first-order affinity matrix, each target row divided by "
        "its best transfer (own encoder left out) and centred, compared by cosine distance. "
        "Tasks joined low in the tree help the same targets. Leaf colours: task families "
        "(tasks.md).",
    )  # fmt: skip


def _grid_policies(policies: Sequence[Policy]) -> dict[tuple[float, int | None], Policy]:
    by_key = {(p.budget, p.max_order): p for p in policies}
    budgets = _pick([b for b, _ in by_key], GRID_BUDGETS)
    orders = sorted({k for _, k in by_key}, key=lambda k: math.inf if k is None else k)
    if len(orders) > GRID_ORDERS:
        orders = [*orders[: GRID_ORDERS - 1], orders[-1]]
    return {key: p for key, p in by_key.items() if key[0] in budgets and key[1] in orders}


def _section_taxonomies(inp: _Inputs, figs: _Figures) -> str:
    from taskonomy.report.figures import taxonomy_grid

    parts: list[str] = []
    if inp.policies:
        grid = _grid_policies(inp.policies)
        stab = edge_stability(inp.run_dir) if inp.run_dir is not None else None
        parts.append(figs.add(
            "taxonomies", taxonomy_grid(grid, stability=stab or None), "grid of taxonomy graphs",
            "Taxonomies solved by the BIP for a grid of supervision budgets (columns) and "
            "largest transfer orders (rows), like the paper's Figure 8. Orange: trained from "
            "scratch; blue: served by a transfer; white dots join the sources of a "
            "higher-order transfer."
            + (" Edge opacity: bootstrap stability of the edge." if stab else ""),
        ))  # fmt: skip
        rows = []
        for p in sorted(inp.policies, key=lambda p: (_order_key(p.max_order), p.budget)):
            g, q = mean_gain_quality(p)
            rows.append([
                _esc(f"{p.budget:g}"), _esc(_order(p.max_order)), _num(p.objective),
                _esc(", ".join(p.scratch)), _num(g, 3), _num(q, 3),
            ])  # fmt: skip
        head = ["budget", "max order", "objective", "trained from scratch", "mean Gain",
                "mean Quality"]  # fmt: skip
        parts.append("<details><summary>Every solved taxonomy</summary>"
                     + _table(head, rows) + "</details>")  # fmt: skip
    else:
        parts.append(_note("No taxonomy could be solved."))
    if inp.policy_errors:
        items = "".join(f"<li>{_esc(e)}</li>" for e in inp.policy_errors)
        parts.append(f"<p>Not solved:</p><ul>{items}</ul>")
    return "".join(parts)


def _order_key(k: int | None) -> float:
    return math.inf if k is None else k


def _section_gain_quality(inp: _Inputs, figs: _Figures) -> str:
    from taskonomy.report.figures import gain_quality_curves

    if inp.winrates is None:
        return _note("No win-rate tables were found, so Gain and Quality are unknown "
                     "(pass --winrates DIR).")  # fmt: skip
    grid_orders = {k for _, k in _grid_policies(inp.policies)}
    groups = {k: v for k, v in group_by_order(inp.policies).items() if k in grid_orders}
    try:
        fig = gain_quality_curves(dict(sorted(groups.items(), key=lambda kv: _order_key(kv[0]))))
    except TaskonomyError as exc:
        return _note(f"No Gain/Quality figure: {exc}")
    return figs.add(
        "gain_quality", fig, "Gain and Quality per target over budgets",
        "Gain (win rate of the chosen transfer against <code>pixels</code>, a network trained "
        "from scratch on the same few labels) and Quality (against <code>self</code>, full "
        "supervision) per target as the budget grows, like the paper's Figure 9. Dots: "
        "target trained from scratch (Quality 0.5 by definition).",
    )  # fmt: skip


def _section_novel(inp: _Inputs) -> str:
    if not inp.novel:
        return _note(inp.notes.get("novel", "No novel tasks."))
    parts = [
        "<p>Each novel task was left out of the taxonomy's targets and served by the transfer "
        "each taxonomy chose for it; win rates on its test split against <code>pixels</code> "
        "(Gain), full supervision (Quality) and a random encoder.</p>"
    ]
    head = ["taxonomy", "sources", "Gain", "Quality", "win rate vs random"]
    for task, records in inp.novel.items():
        rows = [
            [_esc(r.get("taxonomy", "")), _esc(" + ".join(r.get("sources", []))),
             _num(r.get("gain"), 3), _num(r.get("quality"), 3), _num(r.get("win_vs_random"), 3)]
            for r in records
        ]  # fmt: skip
        parts.append(f"<h3>{_esc(task)}</h3>" + _table(head, rows))
    return "".join(parts)


def _header(inp: _Inputs) -> str:
    from taskonomy import __version__

    tg = inp.affinities.targets()
    items = [
        f"source: <code>{_esc(inp.origin)}</code>",
        f"{len(tg)} targets, {len(inp.affinities.sources())} source tasks, transfers up to "
        f"order {inp.affinities.max_order()}",
        "win rates: " + ("found" if inp.winrates is not None else "not found"),
    ]
    cfg = inp.config
    if cfg:
        data = cfg.get("data", {}) if isinstance(cfg.get("data"), dict) else {}
        items.append(
            f"config: preset {_esc(cfg.get('preset') or '–')}, seed {_esc(cfg.get('seed', '–'))}, "
            f"{_esc(data.get('scenes', '?'))} scenes × {_esc(data.get('views', '?'))} views at "
            f"{_esc(data.get('size', '?'))} px"
        )
    free = [s for s in inp.affinities.sources() if is_free_source(s)]
    if free:
        decl = cfg.get("sources")
        about = {d.get("name"): d for d in decl or [] if isinstance(d, dict)}

        def what(name: str) -> str:
            d = about.get(name)
            if name == "random":
                return "an untrained encoder"
            if d is None:
                return "an outside encoder"
            return f"{_esc(d.get('architecture'))} at layer <code>{_esc(d.get('layer'))}</code>"

        items.append(
            "source-only (never trained, free in the BIP): "
            + ", ".join(f"<code>{_esc(s)}</code> ({what(s)})" for s in free)
        )
    items.append(f"taskonomy {_esc(__version__)}")
    toc = "".join(f'<li><a href="#{sid}">{_esc(title)}</a></li>' for sid, title in SECTIONS)
    # Said before anything else: every plan on this page rests on estimates.
    warn = _note(f"Taxonomies below are {ESTIMATED_NOTE}.") if is_estimated(inp.affinities) else ""
    return (
        f"<h1>{_esc(inp.title)}</h1>{warn}<p class=meta>{'<br>'.join(items)}</p>"
        f"<nav><ol>{toc}</ol></nav>"
    )


# ---- entry point ------------------------------------------------------------------------


def build_report(
    out_dir: str | os.PathLike[str],
    *,
    run_dir: str | os.PathLike[str] | None = None,
    affinities: str | os.PathLike[str] | None = None,
    winrates: str | os.PathLike[str] | None = None,
    budgets: Sequence[float] | None = None,
    orders: Sequence[int | None] | None = None,
    dpi: int = 110,
) -> Path:
    """Write ``out_dir/index.html`` (figures inlined) and ``out_dir/figures/``; return the page.

    Exactly one of ``run_dir`` (a folder written by ``taskonomy run``) or ``affinities``
    (any affinity table: a project CSV or a 2018 ``all_affinities*.pkl``) is required.
    ``winrates`` overrides where the win rates are read (default: the run's tables, or the
    files beside the affinity table). Taxonomies: a run's ``taxonomies/*.json`` are shown as
    computed; otherwise (or when ``budgets``/``orders`` are given) the BIP is solved for
    ``budgets`` (default 1..number of targets) × ``orders`` (default :func:`default_orders`).
    """
    if (run_dir is None) == (affinities is None):
        raise input_error(
            "report input",
            "both a run directory and an affinity table" if run_dir else "neither",
            "exactly one of RUN_DIR or --affinities PATH",
        )
    if budgets is not None and (not budgets or any(not b > 0 for b in budgets)):
        raise input_error("budgets", list(budgets), "one or more numbers > 0")
    if orders is not None and (not orders or any(k is not None and k < 1 for k in orders)):
        raise input_error("orders", list(orders), "integers ≥ 1 or None (unlimited)")
    inp = (
        _run_inputs(Path(run_dir), winrates)
        if run_dir is not None
        else _table_inputs(Path(affinities), winrates)  # type: ignore[arg-type]
    )
    if not inp.policies or budgets is not None or orders is not None:
        _solve(inp, budgets, orders)
    from taskonomy.report.diagnostics import diagnostics_section

    out = Path(out_dir)
    figs = _Figures(out / "figures", dpi)
    figs.folder.mkdir(parents=True, exist_ok=True)
    bodies = {
        "dataset": lambda: _section_dataset(inp, figs),
        "sanity": lambda: _section_sanity(inp),
        "diagnostics": lambda: diagnostics_section(inp.run_dir),
        "loss-ratios": lambda: _section_loss_ratios(inp, figs),
        "affinities": lambda: _section_affinities(inp, figs),
        "tree": lambda: _section_tree(inp, figs),
        "taxonomies": lambda: _section_taxonomies(inp, figs),
        "gain-quality": lambda: _section_gain_quality(inp, figs),
        "novel": lambda: _section_novel(inp),
        "uncertainty": lambda: section_uncertainty(inp.run_dir),
        "estimates": lambda: section_estimates(inp.run_dir),
    }
    sections = "".join(
        f'<section id="{sid}"><h2>{_esc(title)}</h2>{bodies[sid]()}</section>'
        for sid, title in SECTIONS
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(inp.title)}</title><style>{_CSS}</style></head>"
        f"<body>{_header(inp)}{sections}</body></html>\n"
    )
    index = out / "index.html"
    atomic_write_text(index, page)
    return index


__all__ = ["GRID_BUDGETS", "GRID_ORDERS", "SECTIONS", "build_report", "default_orders",
           "policy_from_json"]  # fmt: skip
