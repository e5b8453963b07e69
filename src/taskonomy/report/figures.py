"""Planning figures: the affinity matrix, a policy as a graph, Gain/Quality over budgets.

Every function builds a :class:`matplotlib.figure.Figure` directly (not through
``pyplot``), so nothing here selects a backend or keeps figures alive in a global
registry; PNGs are rendered by Agg. With ``path=`` the PNG is written atomically
(:func:`taskonomy.io.atomic_write`): a failed save leaves no partial file.

Tasks are ordered by family (2D, 3D, geometric, semantic; the paper's Figure 14
clusters), then by name, with the baselines ``random``/``pixels``/``self`` last.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from taskonomy.affinity.table import TransferTable
from taskonomy.errors import TaskonomyError, input_error, one_of
from taskonomy.io import atomic_write
from taskonomy.tasks import families, family_rank
from taskonomy.taxonomy.policy import Choice, Policy

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Normalize = Literal["row_max", "none"]
NORMALIZE: tuple[Normalize, ...] = ("row_max", "none")

_FAMILY_COLOR = families()  # owned by the task registry
_FAMILY_RANK = {f: family_rank(f) for f in _FAMILY_COLOR}
_BASELINES_LAST = ("random", "pixels", "self")
_SCRATCH_STYLE = {"fc": "#fdb863", "ec": "#b35806"}  # trained from scratch (full supervision)
_TARGET_STYLE = {"fc": "#b2d7ec", "ec": "#2166ac"}  # served by a transfer
_UNTRAINED_STYLE = {"fc": "#e0e0e0", "ec": "#808080"}  # a source not trained by the policy
_MISSING_COLOR = "#d9d9d9"
#: ``gid`` of the marker drawn for each higher-order transfer's junction node.
JUNCTION = "taskonomy-junction"


# ---- shared helpers ----------------------------------------------------------------


def family_of(name: str) -> str:
    """The task's family from the registry; ``"baseline"`` for baselines and unknowns."""
    from taskonomy.tasks import get_task

    if name in _BASELINES_LAST:
        return "baseline"
    try:
        return get_task(name).family
    except TaskonomyError:
        return "baseline"


def order_tasks(names: Iterable[str]) -> list[str]:
    """Distinct ``names`` by family, then name; ``random``, ``pixels``, ``self`` last."""

    def key(n: str) -> tuple[int, int, str]:
        if n in _BASELINES_LAST:
            return (9, _BASELINES_LAST.index(n), n)
        return (_FAMILY_RANK.get(family_of(n), 8), 0, n)

    return sorted(dict.fromkeys(names), key=key)


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def save_png(fig: Figure, path: str | os.PathLike[str], dpi: int = 150) -> None:
    """Render ``fig`` as PNG into ``path`` atomically (temp file beside it, then rename)."""
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")


def _finish(fig: Figure, path: str | os.PathLike[str] | None, dpi: int) -> Figure:
    if path is not None:
        save_png(fig, path, dpi)
    return fig


def _order_label(order: int | None) -> str:
    return "any" if order is None else str(order)


# ---- affinity heatmap --------------------------------------------------------------


def normalized_matrix(
    m: np.ndarray,
    normalize: Normalize,
    targets: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
) -> np.ndarray:
    """``m`` (targets × sources) after the heatmap's normalization.

    ``"row_max"``: each row divided by its largest finite value among *transfers from
    other tasks*: the baseline columns (``self``, ``random``, ``pixels``) and the diagonal
    (a target read out from its own encoder) are left out of the maximum when names are
    given, because they dwarf every real transfer and would hide the pattern. So each
    target's best transfer reads 1 and ``self``/the diagonal usually read above 1.
    Raw AHP affinities sum to 1 over *all* of a target's transfers and are too small to
    compare across targets; this makes rows comparable. A row with no usable positive
    value falls back to its overall maximum (or is left as is).
    ``"none"``: unchanged. NaN stays NaN.
    """
    if normalize not in NORMALIZE:
        raise input_error("normalize", normalize, one_of(NORMALIZE))
    out = np.array(m, dtype=float)  # (T, S)
    if normalize == "none" or out.size == 0:
        return out
    finite = np.where(np.isfinite(out), out, -np.inf)  # (T, S)
    usable = np.ones_like(out, dtype=bool)  # (T, S) cells that may set the row maximum
    if sources is not None:
        usable[:, [s in _BASELINES_LAST for s in sources]] = False
        if targets is not None:
            tgt = np.asarray(targets, dtype=object)[:, None]  # (T, 1)
            src = np.asarray(sources, dtype=object)[None, :]  # (1, S)
            usable &= tgt != src
    row_max = np.where(usable, finite, -np.inf).max(axis=1)  # (T,)
    row_max = np.where(row_max > 0, row_max, finite.max(axis=1))  # (T,) fallback
    scale = np.where(row_max > 0, row_max, 1.0)[:, None]  # (T, 1)
    return out / scale  # (T, S)


def _family_separators(ax: Axes, names: Sequence[str], axis: Literal["x", "y"]) -> None:
    """Thin white lines between consecutive family groups."""
    fams = [family_of(n) for n in names]
    for i in range(1, len(fams)):
        if fams[i] != fams[i - 1]:
            if axis == "x":
                ax.axvline(i - 0.5, color="white", lw=2)
            else:
                ax.axhline(i - 0.5, color="white", lw=2)


def _color_ticklabels(labels: Iterable[Any]) -> None:
    for lab in labels:
        lab.set_color(_FAMILY_COLOR.get(family_of(lab.get_text()), "black"))


def _task_matrix_axes(ax: Axes, src: Sequence[str], tg: Sequence[str]) -> None:
    """Tick labels coloured by family and family separators for a targets × sources image."""
    ax.set_xticks(range(len(src)), src, rotation=60, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_yticks(range(len(tg)), tg, fontsize=8)
    _color_ticklabels(ax.get_xticklabels())
    _color_ticklabels(ax.get_yticklabels())
    _family_separators(ax, src, "x")
    _family_separators(ax, tg, "y")


def _family_legend(ax: Axes, names: Iterable[str]) -> None:
    from matplotlib.patches import Patch

    fams = sorted({family_of(n) for n in names}, key=lambda f: _FAMILY_RANK.get(f, 9))
    handles = [Patch(color=_FAMILY_COLOR[f], label=f) for f in fams]
    # Below the colorbar, right of the rotated source labels: the one empty corner.
    ax.legend(
        handles=handles,
        title="task family\n(label colour)",
        loc="upper left",
        frameon=False,
        fontsize=8,
        title_fontsize=8,
        bbox_to_anchor=(1.0, -0.01),
    )


def tied_rows(m: np.ndarray, rtol: float = 1e-6) -> np.ndarray:
    """(T,) bool: rows of ``m`` (T, S) whose finite values are all equal (≥ 2 of them).

    A target whose transfers all have the same losses (e.g. a constant label) gets equal
    AHP affinities; normalized they would all read 1 and look like a perfect row.
    """
    out = np.zeros(m.shape[0], dtype=bool)
    for i, row in enumerate(np.asarray(m, dtype=float)):
        vals = row[np.isfinite(row)]
        if vals.size >= 2:
            out[i] = float(np.ptp(vals)) <= rtol * max(float(np.abs(vals).max()), 1e-300)
    return out


def affinity_heatmap(
    table: TransferTable,
    targets: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    *,
    normalize: Normalize = "row_max",
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
    dpi: int = 150,
    no_signal: Sequence[str] = (),
) -> Figure:
    """The first-order affinity matrix: one row per target, one column per source.

    Rows and columns are ordered by :func:`order_tasks` unless given explicitly.
    ``normalize="row_max"`` (default) divides each row by its largest value so each
    target's best source reads 1 (see :func:`normalized_matrix`); ``"none"`` shows the
    raw values. Missing transfers are grey; rows whose values are all equal (tied: no
    signal, see :func:`tied_rows`) and rows of ``no_signal`` (targets whose best transfer is
    not significantly better than ``random`` or the constant guess: their colours would only
    show noise) are blanked and labelled.
    """
    if not isinstance(table, TransferTable):
        raise input_error("table", type(table).__name__, "a TransferTable")
    if normalize not in NORMALIZE:
        raise input_error("normalize", normalize, one_of(NORMALIZE))
    tg = list(targets) if targets is not None else order_tasks(table.targets())
    if sources is not None:
        src = list(sources)
    else:
        src = order_tasks(tr.sources[0] for tr in table if tr.order == 1)
    raw, tg, src = table.first_order_matrix(tg, src)  # (T, S)
    if raw.size == 0:
        raise input_error(
            "affinity_heatmap", f"{len(tg)} targets × {len(src)} sources", "a non-empty matrix"
        )
    m = normalized_matrix(raw, normalize, tg, src)  # (T, S)
    tied = tied_rows(raw)  # (T,)
    blank = tied | np.isin(np.asarray(tg, dtype=object), list(no_signal))  # (T,)
    m[blank] = np.nan

    import matplotlib as mpl

    cmap = mpl.colormaps["viridis"].with_extremes(bad=_MISSING_COLOR)
    # Minimums keep the colorbar label and the family legend apart on tiny tables.
    fig = _new_figure(max(6.5, 1.6 + 0.3 * len(src)), max(5.0, 1.8 + 0.28 * len(tg)))
    ax = fig.add_subplot()
    # row_max: saturate above 1 (self, diagonal) so the transfers use the whole scale.
    vmax = 1.0 if normalize == "row_max" else None
    im = ax.imshow(
        np.ma.masked_invalid(m), cmap=cmap, vmin=0, vmax=vmax, aspect="auto",
        interpolation="nearest",
    )  # fmt: skip
    _task_matrix_axes(ax, src, tg)
    for i in np.flatnonzero(blank):
        mid = (len(src) - 1) / 2
        label = "no signal (tied)" if tied[i] else "within noise: no transfer beats random/guess"
        ax.text(mid, float(i), label, ha="center", va="center", fontsize=8)
    ax.set_xlabel("source task (frozen encoder)")
    ax.set_ylabel("target task")
    kind = table.kind.replace("_", " ")
    ax.set_title(title or f"First-order {kind} ({len(tg)} targets × {len(src)} sources)", pad=12)
    over = normalize == "row_max" and bool(np.isfinite(m).any() and np.nanmax(m) > 1)
    cbar = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02, extend="max" if over else "neither")
    cbar.set_label(
        f"{kind} / best transfer from another task" if normalize == "row_max" else kind,
        fontsize=9,
    )
    _family_legend(ax, [*tg, *src])
    return _finish(fig, path, dpi)


# ---- policy graph ------------------------------------------------------------------


def _spread(n: int, span: float) -> list[float]:
    """``n`` evenly spaced positions centred in ``[0, span]`` (top to bottom)."""
    if n == 0:
        return []
    if n == 1:
        return [span / 2]
    return list(np.linspace(0.0, span, n))


def _label_margin(chars: int, fontsize: float, axes_width_in: float) -> float:
    """Data-units margin a label of ``chars`` characters needs beside a column.

    The graph's columns sit at x=0 and x=1; labels grow outwards, so the x-range is
    ``[-m, 1+m]``. A character is ~0.6 em wide; solve ``m = w·(1+2m)/W`` for ``m``.
    """
    w = chars * fontsize * 0.62 / 72 + 0.15  # inches, incl. box padding
    ratio = min(w / axes_width_in, 0.45)
    return ratio / (1 - 2 * ratio)


def _arrow(
    ax: Axes, a: tuple[float, float], b: tuple[float, float], color: Any, alpha: float = 1.0
) -> None:
    from matplotlib.patches import FancyArrowPatch

    ax.add_patch(
        FancyArrowPatch(
            a,
            b,
            arrowstyle="-|>",
            mutation_scale=7,
            color=color,
            lw=0.9,
            shrinkA=0,
            shrinkB=0,
            alpha=alpha,
        )
    )


def _graph_columns(
    policy: Policy,
) -> tuple[list[str], dict[str, Choice], set[str], set[str]]:
    """``(left nodes, transfer choices, scratch-trained targets, untrained sources)``."""
    scratch_targets = {t for t, c in policy.choices.items() if c.kind == "scratch"}
    transfers = {t: c for t, c in policy.choices.items() if c.kind != "scratch"}
    trained = {*policy.scratch, *scratch_targets}
    # Sources a policy uses without training them (e.g. the free ``random`` encoder, or a
    # hand-made policy) still get a node, in grey, so no edge dangles.
    untrained = {s for c in transfers.values() for s in c.sources} - trained
    return order_tasks([*trained, *untrained]), transfers, scratch_targets, untrained


def _graph_rows(policy: Policy) -> int:
    left, transfers, _, _ = _graph_columns(policy)
    return max(len(left), len(transfers), 1)


def _draw_policy(
    ax: Axes,
    policy: Policy,
    *,
    fontsize: float,
    axes_width_in: float,
    show_scores: bool,
    stability: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Draw ``policy`` on ``ax``; return the layout (for tests and callers).

    ``stability``: target → share of bootstrap optima choosing the same edge; drawn as the
    edge's opacity (floor 0.15 so an unstable edge stays visible).
    """
    left, transfers, scratch_targets, untrained = _graph_columns(policy)
    span = max(len(left), len(transfers), 1) - 1.0
    y_left = dict(zip(left, _spread(len(left), span), strict=True))

    # Barycentric ordering of targets: each sits near the mean height of its sources,
    # which keeps edges short and crossings few.
    def bary(t: str) -> tuple[float, int, str]:
        ys = [y_left[s] for s in transfers[t].sources if s in y_left]
        return (float(np.mean(ys)) if ys else span, _FAMILY_RANK.get(family_of(t), 9), t)

    right = sorted(transfers, key=bary)
    y_right = dict(zip(right, _spread(len(right), span), strict=True))

    def right_label(t: str) -> str:
        c = transfers[t]
        if show_scores and (c.gain is not None or c.quality is not None):
            g = "–" if c.gain is None else f"{c.gain:.2f}"
            q = "–" if c.quality is None else f"{c.quality:.2f}"
            return f"{t}  G {g} Q {q}"
        return t

    def left_label(t: str) -> str:
        return f"{t} (scratch)" if t in scratch_targets else t

    left_labels = [left_label(t) for t in left]
    right_labels = [right_label(t) for t in right]
    longest = max((len(s) for s in [*left_labels, *right_labels]), default=4)
    margin = _label_margin(longest, fontsize, axes_width_in)
    ax.set_xlim(-margin, 1 + margin)
    ax.set_ylim(span + 0.8, -0.8)  # top to bottom
    ax.set_axis_off()

    box = {"boxstyle": "round,pad=0.25", "lw": 0.8}
    for t, lab in zip(left, left_labels, strict=True):
        ax.text(
            0.0, y_left[t], lab, ha="right", va="center", fontsize=fontsize,
            bbox={**box, **(_UNTRAINED_STYLE if t in untrained else _SCRATCH_STYLE)},
            fontweight="bold" if t in scratch_targets else "normal",
        )  # fmt: skip
    for t, lab in zip(right, right_labels, strict=True):
        ax.text(
            1.0, y_right[t], lab, ha="left", va="center", fontsize=fontsize,
            bbox={**box, **_TARGET_STYLE},
        )  # fmt: skip

    import matplotlib as mpl

    palette = mpl.colormaps["tab10"]
    junctions: list[tuple[str, float, float]] = []
    higher = [t for t in right if transfers[t].kind != "scratch" and len(transfers[t].sources) > 1]
    for i, t in enumerate(right):
        c = transfers[t]
        color = palette(i % 10)
        alpha = 1.0 if stability is None else 0.15 + 0.85 * float(stability.get(t, 1.0))
        srcs = [s for s in c.sources if s in y_left]
        yt = y_right[t]
        if len(c.sources) == 1:
            ys = y_left.get(c.sources[0], yt)
            _arrow(ax, (0.02, ys), (0.98, yt), color, alpha)
            continue
        # Junction x staggered so several higher-order transfers stay distinguishable.
        k = higher.index(t)
        jx = 0.45 + 0.2 * (k / max(len(higher) - 1, 1))
        jy = (float(np.mean([y_left[s] for s in srcs])) + yt) / 2 if srcs else yt
        for s in srcs:
            ax.plot([0.02, jx], [y_left[s], jy], color=color, lw=0.9, alpha=0.85 * alpha)
        _arrow(ax, (jx, jy), (0.98, yt), color, alpha)
        ax.plot([jx], [jy], "o", ms=4.5, mfc="white", mec=color, mew=1.4, zorder=5, gid=JUNCTION)
        junctions.append((t, jx, jy))
    return {"left": left, "right": right, "junctions": junctions, "untrained": untrained}


def _policy_title(policy: Policy) -> str:
    n_tr = sum(c.kind != "scratch" for c in policy.choices.values())
    return (
        f"budget {policy.budget:g}, max order {_order_label(policy.max_order)}, "
        f"objective {policy.objective:.4g}\n"
        f"{len(policy.scratch)} trained from scratch, {n_tr} targets by transfer"
    )


def _patch(style: Mapping[str, str], label: str) -> Any:
    from matplotlib.patches import Patch

    return Patch(facecolor=style["fc"], edgecolor=style["ec"], label=label)


def _graph_legend(fig: Figure, fontsize: float, untrained: bool) -> None:
    from matplotlib.lines import Line2D

    handles = [
        _patch(_SCRATCH_STYLE, "trained from scratch (bold: self edge)"),
        _patch(_TARGET_STYLE, "target served by a transfer"),
        Line2D([], [], marker="o", ls="", mfc="white", mec="black", label="higher-order junction"),
    ]
    if untrained:
        handles.insert(2, _patch(_UNTRAINED_STYLE, "source not trained by the policy"))
    fig.legend(
        handles=handles, loc="lower center", ncols=len(handles), frameon=False,
        fontsize=fontsize, bbox_to_anchor=(0.5, 0.0),
    )  # fmt: skip


def policy_graph(
    policy: Policy,
    path: str | os.PathLike[str] | None = None,
    *,
    show_scores: bool = True,
    title: str | None = None,
    dpi: int = 150,
) -> Figure:
    """Draw a policy: scratch-trained tasks (left), transfer targets (right), edges between.

    A first-order transfer is one arrow source → target. An order-k transfer is a small
    junction node (white dot) with a line from each of its k sources and one arrow into
    the target. Targets trained from scratch (the ``self`` edge) are bold and marked
    ``(scratch)`` in the left column. With ``show_scores`` and Gain/Quality attached, each
    transfer target shows ``G <gain> Q <quality>``.
    """
    if not isinstance(policy, Policy):
        raise input_error("policy", type(policy).__name__, "a taskonomy Policy")
    rows = _graph_rows(policy)
    width, height = 9.0, 1.6 + 0.3 * rows
    fig = _new_figure(width, height)
    bottom = 0.5 / height
    top = 1 - 0.75 / height
    fig.subplots_adjust(left=0.01, right=0.99, bottom=bottom, top=top)
    ax = fig.add_subplot()
    layout = _draw_policy(
        ax, policy, fontsize=9, axes_width_in=width * 0.98, show_scores=show_scores
    )
    ax.set_title(title or f"Taxonomy: {_policy_title(policy)}", fontsize=10)
    _graph_legend(fig, 8, bool(layout["untrained"]))
    return _finish(fig, path, dpi)


def taxonomy_grid(
    policies: Mapping[tuple[float, int | None], Policy],
    path: str | os.PathLike[str] | None = None,
    *,
    show_scores: bool = False,
    dpi: int = 150,
    stability: Mapping[tuple[float, int | None], Mapping[str, float]] | None = None,
) -> Figure:
    """Small multiples of policy graphs (the paper's Figure 8): rows = orders, cols = budgets.

    ``policies`` maps ``(budget, max_order)`` to a policy; missing cells stay empty.
    ``stability`` (same keys): target → bootstrap frequency of its chosen edge, drawn as the
    edge's opacity.
    """
    if not policies:
        raise input_error("taxonomy_grid", "no policies", "at least one (budget, order) → Policy")
    budgets = sorted({b for b, _ in policies})
    orders = sorted({k for _, k in policies}, key=lambda k: math.inf if k is None else k)
    rows = max(_graph_rows(p) for p in policies.values())
    panel_w, panel_h = 5.2, 0.8 + 0.2 * rows
    width, height = panel_w * len(budgets), panel_h * len(orders) + 1.0
    fig = _new_figure(width, height)
    fig.subplots_adjust(
        left=0.01, right=0.99, bottom=0.45 / height, top=1 - 0.75 / height, hspace=0.25,
        wspace=0.05,
    )  # fmt: skip
    grid = fig.add_gridspec(len(orders), len(budgets))
    any_untrained = False
    for i, k in enumerate(orders):
        for j, b in enumerate(budgets):
            ax = fig.add_subplot(grid[i, j])
            pol = policies.get((b, k))
            if pol is None:
                ax.set_axis_off()
                ax.set_title(f"budget {b:g}, order {_order_label(k)}: not solved", fontsize=8)
                continue
            layout = _draw_policy(
                ax, pol, fontsize=6, axes_width_in=panel_w * 0.95, show_scores=show_scores,
                stability=None if stability is None else stability.get((b, k)),
            )  # fmt: skip
            any_untrained |= bool(layout["untrained"])
            ax.set_title(
                f"budget {b:g}, max order {_order_label(k)} (objective {pol.objective:.3g})",
                fontsize=8,
            )
    fig.suptitle(
        "Taxonomies by supervision budget (columns) and transfer order (rows)",
        y=1 - 0.1 / height,
        va="top",
    )
    _graph_legend(fig, 8, any_untrained)
    return _finish(fig, path, dpi)


# ---- Gain / Quality over budgets (Figure 9) ----------------------------------------


def gain_quality_matrices(
    policies: Sequence[Policy],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[float]]:
    """``(gain, quality, scratch, targets, budgets)`` with arrays of shape (targets, budgets).

    Policies are sorted by budget; a missing value is NaN; ``scratch[i, j]`` is True when
    target ``i`` is trained from scratch at budget ``j``.
    """
    pols = sorted(policies, key=lambda p: p.budget)
    targets = order_tasks(t for p in pols for t in p.choices)
    idx = {t: i for i, t in enumerate(targets)}
    gain = np.full((len(targets), len(pols)), np.nan)  # (T, B)
    quality = np.full((len(targets), len(pols)), np.nan)  # (T, B)
    scratch = np.zeros((len(targets), len(pols)), dtype=bool)  # (T, B)
    for j, p in enumerate(pols):
        for t, c in p.choices.items():
            if c.gain is not None:
                gain[idx[t], j] = c.gain
            if c.quality is not None:
                quality[idx[t], j] = c.quality
            scratch[idx[t], j] = c.kind == "scratch"
    return gain, quality, scratch, targets, [p.budget for p in pols]


def gain_quality_curves(
    policies_by_order: Mapping[int | None, Sequence[Policy]],
    path: str | os.PathLike[str] | None = None,
    *,
    dpi: int = 150,
) -> Figure:
    """The paper's Figure 9: per-target Gain and Quality as the supervision budget grows.

    One row per transfer order, two columns (Gain, Quality). Each panel is a heatmap of
    targets × budgets (win rate; 0.5 = tie with the baseline, grey = unknown, dot =
    target trained from scratch) under a curve of the mean over targets.
    Build the input with ``taskonomy.evaluate.gain_quality.budget_sweep`` and
    ``group_by_order``; the policies need Gain/Quality attached.
    """
    groups = {k: list(v) for k, v in policies_by_order.items() if len(v)}
    if not groups:
        raise input_error("gain_quality_curves", "no policies", "at least one order with policies")
    data = {k: gain_quality_matrices(v) for k, v in groups.items()}
    if all(np.isnan(g).all() and np.isnan(q).all() for g, q, *_ in data.values()):
        raise input_error(
            "gain_quality_curves",
            "policies without gain/quality",
            "policies passed through attach_gain_quality()",
            "Attach win rates first (taskonomy.evaluate.gain_quality.attach_gain_quality).",
        )

    import matplotlib as mpl

    cmap = mpl.colormaps["RdBu"].with_extremes(bad=_MISSING_COLOR)
    n_t = max(len(d[3]) for d in data.values())
    n_b = max(len(d[4]) for d in data.values())
    panel_w = max(3.0, 0.26 * n_b + 1.6)
    block_h = 1.2 + 0.2 * n_t + 0.9
    fig = _new_figure(2 * panel_w + 1.2, block_h * len(groups) + 0.9)
    ratios: list[float] = []
    for _ in groups:
        ratios += [1.2, 0.2 * n_t, 0.9]  # mean curve, heatmap, gap for tick labels
    # The Quality panel's target names sit between the two columns: leave them room
    # (axes share 0.74 of the width after subplots_adjust; gap = wspace × axes width).
    longest = max((len(t) for d in data.values() for t in d[3]), default=8)
    label_in = longest * 7 * 0.62 / 72 + 0.3  # tick labels at 7 pt, plus ticks and pad
    usable = 0.74 * fig.get_figwidth()
    wspace = max(0.35, 2 * label_in / max(usable - label_in, 1e-6))
    grid = fig.add_gridspec(3 * len(groups), 2, height_ratios=ratios, hspace=0.08, wspace=wspace)
    im = None
    for r, (order, (gain, quality, scratch, targets, budgets)) in enumerate(data.items()):
        for c, (name, vals) in enumerate((("Gain", gain), ("Quality", quality))):
            top = fig.add_subplot(grid[3 * r, c])
            ax = fig.add_subplot(grid[3 * r + 1, c], sharex=top)
            xs = np.arange(len(budgets))
            with np.errstate(all="ignore"):
                counts = np.isfinite(vals).sum(axis=0)  # (B,)
                mean = np.where(counts > 0, np.nansum(vals, axis=0) / np.maximum(counts, 1), np.nan)
            top.plot(xs, mean, "o-", color="black", ms=3, lw=1.2, label="mean over targets")
            top.axhline(0.5, color="grey", ls="--", lw=0.8, label="tie (0.5)")
            top.set_ylim(0, 1)
            top.set_ylabel("mean", fontsize=8)
            top.tick_params(labelbottom=False, labelsize=7)
            top.set_title(f"{name} (win rate vs {'pixels' if c == 0 else 'self'}), "
                          f"max order {_order_label(order)}", fontsize=10)  # fmt: skip
            im = ax.imshow(
                np.ma.masked_invalid(vals), cmap=cmap, vmin=0, vmax=1, aspect="auto",
                interpolation="nearest",
            )  # fmt: skip
            ii, jj = np.nonzero(scratch)
            ax.plot(jj, ii, "o", ms=2.5, color="black", ls="", label="trained from scratch")
            ax.set_yticks(range(len(targets)), targets, fontsize=7)
            _color_ticklabels(ax.get_yticklabels())
            ax.set_xticks(xs, [f"{b:g}" for b in budgets], fontsize=7)
            ax.set_xlabel("supervision budget (tasks trained from scratch)", fontsize=8)
            if c == 0:
                ax.set_ylabel("target task", fontsize=8)
            if r == 0 and c == 0:
                dots = ax.get_lines()[:1] if len(ii) else []
                top.legend(
                    handles=[*top.get_legend_handles_labels()[0], *dots],
                    fontsize=7, loc="lower right", frameon=False,
                )  # fmt: skip
    height = fig.get_figheight()
    fig.subplots_adjust(left=0.13, right=0.87, top=1 - 0.95 / height, bottom=0.25 / height)
    fig.suptitle(
        "Gain and Quality of the taxonomy as the supervision budget grows",
        y=1 - 0.15 / height,
        va="top",
    )
    if im is not None:
        # A dedicated axes: colorbar(ax=...) would steal space that subplots_adjust resets.
        cax = fig.add_axes((0.915, 0.35, 0.015, 0.3))
        cbar = fig.colorbar(im, cax=cax)
        cbar.set_label("win rate (0.5 = as good as the baseline)", fontsize=9)
    return _finish(fig, path, dpi)


# ---- loss ratios before AHP ---------------------------------------------------------


def loss_ratio_matrix(
    losses: TransferTable,
    targets: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
) -> tuple[np.ndarray, list[str], list[str]]:
    """``(R, targets, sources)``: ``R[i, j]`` = loss(src j → target i) / loss(self → target i).

    ``losses`` is a ``"mean_test_loss"`` table (a run's ``tables/losses.csv``: the mean
    per-image test loss of every transfer, ``self`` and ``pixels`` included). Dividing by
    the fully supervised network's loss puts targets with very different loss scales on
    one axis: 1 = as good as full supervision, lower is better. Sources default to every
    first-order source but ``self`` (whose ratio is 1 by construction), ordered by
    :func:`order_tasks` (``random``/``pixels`` last). Missing transfers, and every cell of a
    target without a positive ``self`` loss, are NaN.
    """
    if not isinstance(losses, TransferTable):
        raise input_error("losses", type(losses).__name__, "a TransferTable")
    if losses.kind != "mean_test_loss":
        raise input_error(
            "losses table kind", losses.kind, "'mean_test_loss'",
            "Pass the run's tables/losses.csv (read_table(path, 'mean_test_loss')).",
        )  # fmt: skip
    tg = list(targets) if targets is not None else order_tasks(losses.targets())
    if sources is not None:
        src = list(sources)
    else:
        src = order_tasks(tr.sources[0] for tr in losses if tr.order == 1 and not tr.is_self)
    raw, tg, src = losses.first_order_matrix(tg, src)  # (T, S)
    ref = np.array([losses.value(["self"], t) or np.nan for t in tg])  # (T,)
    ref = np.where(ref > 0, ref, np.nan)  # (T,) a zero self loss gives no usable scale
    return raw / ref[:, None], tg, src  # (T, S)


def loss_ratio_heatmap(
    losses: TransferTable,
    targets: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    *,
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
    dpi: int = 150,
) -> Figure:
    """The first-order transfers *before* AHP: test-loss ratios to full supervision.

    Cell (target, source) = mean test loss of source → target divided by that of
    ``self`` → target (see :func:`loss_ratio_matrix`), on a log colour scale centred on 1
    (ratios are multiplicative). Low (better than full supervision) is blue, high red.
    The matrix shown is kept as ``fig.taskonomy_ratios`` = ``(R, targets, sources)``.
    """
    r, tg, src = loss_ratio_matrix(losses, targets, sources)  # (T, S)
    finite = r[np.isfinite(r) & (r > 0)]
    if finite.size == 0:
        raise input_error(
            "loss_ratio_heatmap", f"{len(tg)} targets × {len(src)} sources", "some finite ratios"
        )

    import matplotlib as mpl
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import NullLocator

    # Symmetric in log space around 1, so "twice as bad" and "twice as good" look alike.
    span = max(float(np.max(np.abs(np.log(finite)))), math.log(1.05))
    norm = LogNorm(vmin=math.exp(-span), vmax=math.exp(span))
    cmap = mpl.colormaps["RdBu_r"].with_extremes(bad=_MISSING_COLOR)
    fig = _new_figure(max(6.5, 1.6 + 0.3 * len(src)), max(5.0, 1.8 + 0.28 * len(tg)))
    ax = fig.add_subplot()
    im = ax.imshow(
        np.ma.masked_invalid(r), cmap=cmap, norm=norm, aspect="auto", interpolation="nearest"
    )
    _task_matrix_axes(ax, src, tg)
    if len(tg) * len(src) <= 150:  # small tables: print the numbers too
        for (i, j), v in np.ndenumerate(r):
            if np.isfinite(v):
                dark = abs(math.log(v)) > 0.6 * span if v > 0 else False
                ax.text(j, i, f"{v:.2g}", ha="center", va="center", fontsize=6.5,
                        color="white" if dark else "black")  # fmt: skip
    ax.set_xlabel("source task (frozen encoder)")
    ax.set_ylabel("target task")
    ax.set_title(
        title or f"Before AHP: test-loss ratio to full supervision ({len(tg)} × {len(src)})",
        pad=12,
    )
    cbar = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    # Plain ratios on the log axis (0.5, 1, 2), not matplotlib's default 5×10⁻¹ labels.
    nice = [0.1, 0.2, 0.25, 0.33, 0.5, 0.67, 0.8, 0.9, 1, 1.1, 1.25, 1.5, 2, 3, 4, 5, 10]
    ticks = [t for t in nice if norm.vmin <= t <= norm.vmax]  # type: ignore[operator]
    cbar.ax.yaxis.set_minor_locator(NullLocator())
    cbar.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
    cbar.set_label(
        "loss(source → target) / loss(self → target)\nlog scale, lower is better", fontsize=9
    )
    _family_legend(ax, [*tg, *src])
    fig.taskonomy_ratios = (r, tg, src)  # type: ignore[attr-defined]
    return _finish(fig, path, dpi)


# ---- task-similarity tree -----------------------------------------------------------


def task_tree_figure(
    linkage: np.ndarray,
    labels: Sequence[str],
    *,
    distance_label: str = "cosine distance between transfer-out patterns",
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
    dpi: int = 150,
) -> Figure:
    """A dendrogram of tasks (leaves left, root right), leaf names coloured by family.

    ``linkage`` is a SciPy linkage matrix over ``labels`` (see
    :class:`taskonomy.report.tree.TaskTree`). The links are drawn here from SciPy's
    layout (``dendrogram(no_plot=True)``) so no pyplot state is touched.
    """
    from scipy.cluster.hierarchy import dendrogram

    z = np.asarray(linkage, dtype=float)  # (n-1, 4)
    if z.ndim != 2 or z.shape[1] != 4 or z.shape[0] != len(labels) - 1:
        raise input_error(
            "task_tree_figure linkage", f"shape {z.shape} for {len(labels)} labels",
            "a SciPy linkage matrix of shape (len(labels) - 1, 4)",
        )  # fmt: skip
    layout = dendrogram(z, labels=list(labels), no_plot=True)
    leaves: list[str] = layout["ivl"]
    fig = _new_figure(7.5, max(3.0, 1.4 + 0.3 * len(leaves)))
    ax = fig.add_subplot()
    for xs, ys in zip(layout["icoord"], layout["dcoord"], strict=True):
        # SciPy puts leaf k at 5 + 10k; rescale to 0..n-1 so leaves sit on integer ticks.
        ax.plot(ys, (np.asarray(xs) - 5) / 10, color="#404040", lw=1.2)
    ax.set_yticks(range(len(leaves)), leaves, fontsize=9)
    _color_ticklabels(ax.get_yticklabels())
    ax.set_ylim(len(leaves) - 0.5, -0.5)
    ax.set_xlim(0, max(float(z[:, 2].max()) * 1.05, 1e-6) if len(z) else 1.0)
    ax.set_xlabel(distance_label)
    ax.set_ylabel("source task")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(title or f"Task-similarity tree ({len(leaves)} tasks)")
    from matplotlib.patches import Patch

    fams = sorted({family_of(n) for n in leaves}, key=lambda f: _FAMILY_RANK.get(f, 9))
    ax.legend(
        handles=[Patch(color=_FAMILY_COLOR[f], label=f) for f in fams],
        title="task family\n(label colour)", loc="lower left", bbox_to_anchor=(1.01, 0.0),
        fontsize=8, title_fontsize=8, frameon=False,
    )  # fmt: skip
    return _finish(fig, path, dpi)
