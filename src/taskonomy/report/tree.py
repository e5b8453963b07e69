"""The task-similarity tree: tasks clustered by how they transfer *out* (the paper's Figure 13).

Each source task is described by its column of the first-order affinity matrix: how well
its frozen encoder serves every target. Two tasks whose encoders help the same targets
(and fail the same ones) are similar. The steps, in :meth:`TaskTree.fit`:

1. ``M`` (targets × sources) from the affinity table; the diagonal (a target read out
   from its own encoder) is dropped, because it dwarfs every other cell of its row and
   would make each task look like nothing but itself.
2. Each target row is normalized so targets are comparable (raw AHP affinities of a hard
   target are all small): ``"row_max"`` divides by the row's largest transfer (the best
   source reads 1); ``"rank"`` replaces values by their rank in the row, scaled to [0, 1]
   (robust to a single outlier source).
3. Each row is centred on its mean, and missing cells (the diagonal, untested transfers)
   are set to 0 = that mean, so they pull no task towards or away from another.
4. Cosine distance between the source columns, SciPy average linkage.

Baselines that are not tasks (``self``, ``pixels``) are never leaves; ``random`` (a
random encoder) is kept as a reference leaf when the table has it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from taskonomy.affinity.table import TransferTable
from taskonomy.errors import input_error, one_of

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TreeNormalize = Literal["row_max", "rank"]
TREE_NORMALIZE: tuple[TreeNormalize, ...] = ("row_max", "rank")
LINKAGE_METHODS = ("average", "complete", "single", "weighted")
_NOT_TASKS = ("self", "pixels")


def _normalize_rows(m: np.ndarray, how: TreeNormalize) -> np.ndarray:
    """Row-wise normalization of ``m`` (T, S) over its finite cells; NaN stays NaN."""
    out = np.full_like(m, np.nan)  # (T, S)
    for i, row in enumerate(m):
        ok = np.isfinite(row)  # (S,)
        if not ok.any():
            continue
        vals = row[ok]
        if how == "row_max":
            top = float(vals.max())
            out[i, ok] = vals / top if top > 0 else vals
        else:
            from scipy.stats import rankdata

            # average ranks for ties; 0 = worst source of this target, 1 = best
            out[i, ok] = (rankdata(vals) - 1) / max(len(vals) - 1, 1)
    return out


class TaskTree:
    """Agglomerative clustering of source tasks by their transfer-out pattern.

    Parameters: ``normalize`` (``"row_max"`` or ``"rank"``, see the module docstring) and
    ``method`` (SciPy linkage method, default ``"average"``).

    After :meth:`fit`: ``tasks_`` (leaf names, S), ``targets_`` (feature axes, T),
    ``features_`` (S, T) the centred, normalized columns, ``distances_`` (S, S) cosine
    distances, ``linkage_`` (S-1, 4) the SciPy linkage matrix.
    """

    def __init__(self, normalize: TreeNormalize = "row_max", method: str = "average") -> None:
        self.normalize = normalize
        self.method = method

    def fit(
        self,
        table: TransferTable,
        targets: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
    ) -> TaskTree:
        """Cluster ``sources`` (default: every first-order source but self/pixels)."""
        from scipy.cluster.hierarchy import linkage
        from scipy.spatial.distance import squareform

        if self.normalize not in TREE_NORMALIZE:
            raise input_error("TaskTree normalize", self.normalize, one_of(TREE_NORMALIZE))
        if self.method not in LINKAGE_METHODS:
            raise input_error("TaskTree method", self.method, one_of(LINKAGE_METHODS))
        if not isinstance(table, TransferTable):
            raise input_error("table", type(table).__name__, "a TransferTable")
        if sources is None:
            from taskonomy.report.figures import order_tasks

            src = order_tasks(
                tr.sources[0] for tr in table if tr.order == 1 and tr.sources[0] not in _NOT_TASKS
            )
        else:
            src = list(sources)
        m, tg, src = table.first_order_matrix(list(targets) if targets else None, src)  # (T, S)
        m = np.where(np.asarray(tg)[:, None] == np.asarray(src)[None, :], np.nan, m)  # (T, S)
        norm = _normalize_rows(m, self.normalize)  # (T, S)
        keep = np.isfinite(norm).sum(axis=1) >= 2  # (T,) a row with < 2 values says nothing
        norm, tg = norm[keep], [t for t, k in zip(tg, keep, strict=True) if k]
        if len(src) < 2 or not tg:
            raise input_error(
                "task-similarity tree input",
                f"{len(src)} sources, {len(tg)} targets with ≥ 2 measured transfers",
                "at least 2 source tasks and 1 target",
                "Use a table with first-order transfers between several tasks.",
            )
        with np.errstate(all="ignore"):
            mean = np.nanmean(norm, axis=1, keepdims=True)  # (T, 1)
        feats = np.nan_to_num(norm - mean, nan=0.0).T  # (S, T) missing = the row mean
        length = np.linalg.norm(feats, axis=1)  # (S,)
        unit = feats / np.where(length > 0, length, 1.0)[:, None]  # (S, T)
        dist = np.clip(1.0 - unit @ unit.T, 0.0, 2.0)  # (S, S)
        # A task with no pattern at all (all cells at the mean) is equally far from all.
        flat = length <= 1e-12  # (S,)
        dist[flat, :] = 1.0
        dist[:, flat] = 1.0
        dist = (dist + dist.T) / 2  # (S, S) exact symmetry for squareform
        np.fill_diagonal(dist, 0.0)
        self.tasks_ = src
        self.targets_ = tg
        self.features_ = feats
        self.distances_ = dist
        self.linkage_ = linkage(squareform(dist, checks=False), method=self.method)  # (S-1, 4)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "linkage_"):
            raise input_error("TaskTree", "an unfitted tree", "a tree after fit(table)")

    def clusters(self, n_clusters: int) -> dict[str, int]:
        """``{task: cluster id in 1..n}`` from cutting the tree into ``n_clusters``."""
        from scipy.cluster.hierarchy import fcluster

        self._check_fitted()
        if not isinstance(n_clusters, int) or not 1 <= n_clusters <= len(self.tasks_):
            raise input_error("n_clusters", n_clusters, f"an integer in [1, {len(self.tasks_)}]")
        ids = fcluster(self.linkage_, n_clusters, criterion="maxclust")  # (S,)
        return {t: int(i) for t, i in zip(self.tasks_, ids, strict=True)}

    def figure(self, path: str | os.PathLike[str] | None = None, dpi: int = 150) -> Figure:
        """The dendrogram (see :func:`taskonomy.report.figures.task_tree_figure`)."""
        from taskonomy.report.figures import task_tree_figure

        self._check_fitted()
        how = "row-max" if self.normalize == "row_max" else "rank"
        return task_tree_figure(
            self.linkage_,
            self.tasks_,
            distance_label=(
                f"cosine distance of transfer-out patterns ({how}-normalized rows, "
                f"{self.method} linkage)"
            ),
            title=f"Task-similarity tree ({len(self.tasks_)} source tasks, "
            f"{len(self.targets_)} targets)",
            path=path,
            dpi=dpi,
        )


__all__ = ["TREE_NORMALIZE", "TaskTree", "TreeNormalize"]
