"""Report: planning figures (matplotlib, Agg, written atomically as PNG)."""

from taskonomy.report.figures import (
    affinity_heatmap,
    gain_quality_curves,
    policy_graph,
    taxonomy_grid,
)

__all__ = ["affinity_heatmap", "gain_quality_curves", "policy_graph", "taxonomy_grid"]
