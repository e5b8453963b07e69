"""Report: planning figures (matplotlib, Agg, written atomically as PNG) and the HTML report."""

from taskonomy.report.figures import (
    affinity_heatmap,
    gain_quality_curves,
    loss_ratio_heatmap,
    policy_graph,
    task_tree_figure,
    taxonomy_grid,
)
from taskonomy.report.html import build_report
from taskonomy.report.tree import TaskTree

__all__ = [
    "TaskTree",
    "affinity_heatmap",
    "build_report",
    "gain_quality_curves",
    "loss_ratio_heatmap",
    "policy_graph",
    "task_tree_figure",
    "taxonomy_grid",
]
