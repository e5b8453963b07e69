"""The file names of a run directory: one owner for every layer that reads or writes them.

The pipeline writes these (``pipeline.artifacts.RunDir`` adds the job bookkeeping on top);
the report, the solver page and the CLI read them. Layout (besides ``jobs/`` and ``logs/``)::

    <run>/
      config.yaml
      tables/affinities.csv, wins_vs_self.csv, wins_vs_pixels.csv, losses.csv, sanity.csv,
             effects.csv, diagnostics.json, novel_<task>.json, per_image_losses.npz,
             affinities_ci.csv, significance.json,
             estimated_affinities_<estimator>.csv (``taskonomy estimate``: one table of kind
             ``estimated_affinity`` per estimator), estimates_vs_measured.csv (their
             calibration against the measured affinities, when the run has them)
      taxonomies/budget<B>_order<K>.json
      report/index.html
"""

from __future__ import annotations

import os
from pathlib import Path

TABLES = "tables"
TAXONOMIES = "taxonomies"
REPORT = "report"
AFFINITIES_CSV = "affinities.csv"
WINS_VS_SELF_CSV = "wins_vs_self.csv"
WINS_VS_PIXELS_CSV = "wins_vs_pixels.csv"
LOSSES_CSV = "losses.csv"
SANITY_CSV = "sanity.csv"
EFFECTS_CSV = "effects.csv"
DIAGNOSTICS_JSON = "diagnostics.json"
SEEDS = "seeds"
NOVEL_PREFIX = "novel_"
# Uncertainty (issue 13): per-image test losses, bootstrap intervals, significance tests.
PER_IMAGE_LOSSES_NPZ = "per_image_losses.npz"
AFFINITIES_CI_CSV = "affinities_ci.csv"
SIGNIFICANCE_JSON = "significance.json"
SELECTION_JSON = "selection.json"  # transfer.selection: active
# Estimates (issue 12): affinities estimated without training transfers, and calibration.
ESTIMATED_PREFIX = "estimated_affinities_"
ESTIMATES_VS_MEASURED_CSV = "estimates_vs_measured.csv"
#: table kind → its file in ``tables/`` (also the layout of a packaged table set)
TABLE_FILES: dict[str, str] = {
    "affinity": AFFINITIES_CSV,
    "wins_vs_self": WINS_VS_SELF_CSV,
    "wins_vs_pixels": WINS_VS_PIXELS_CSV,
    "mean_test_loss": LOSSES_CSV,
}


class RunFiles:
    """Paths of one run directory's outputs (nothing is created or checked here)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.root = Path(path)

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    @property
    def tables_dir(self) -> Path:
        return self.root / TABLES

    @property
    def taxonomies_dir(self) -> Path:
        return self.root / TAXONOMIES

    @property
    def report_dir(self) -> Path:
        return self.root / REPORT

    def table_path(self, kind: str) -> Path:
        """``tables/<file>`` of a table kind (``affinity``, ``wins_vs_self``, …)."""
        return self.tables_dir / TABLE_FILES[kind]

    @property
    def sanity_csv(self) -> Path:
        return self.tables_dir / SANITY_CSV

    @property
    def effects_csv(self) -> Path:
        return self.tables_dir / EFFECTS_CSV

    @property
    def diagnostics_json(self) -> Path:
        return self.tables_dir / DIAGNOSTICS_JSON

    @property
    def per_image_losses(self) -> Path:
        return self.tables_dir / PER_IMAGE_LOSSES_NPZ

    @property
    def affinities_ci_csv(self) -> Path:
        return self.tables_dir / AFFINITIES_CI_CSV

    @property
    def significance_json(self) -> Path:
        return self.tables_dir / SIGNIFICANCE_JSON

    @property
    def selection_json(self) -> Path:
        return self.tables_dir / SELECTION_JSON

    def estimated_affinities_csv(self, estimator: str) -> Path:
        return self.tables_dir / f"{ESTIMATED_PREFIX}{estimator}.csv"

    def estimated_files(self) -> dict[str, Path]:
        """``{estimator: tables/estimated_affinities_<estimator>.csv}`` present, sorted."""
        found = sorted(self.tables_dir.glob(f"{ESTIMATED_PREFIX}*.csv"))
        return {p.stem[len(ESTIMATED_PREFIX) :]: p for p in found}

    @property
    def estimates_vs_measured_csv(self) -> Path:
        return self.tables_dir / ESTIMATES_VS_MEASURED_CSV

    def novel_json(self, task: str) -> Path:
        return self.tables_dir / f"{NOVEL_PREFIX}{task}.json"

    def novel_files(self) -> dict[str, Path]:
        """``{task: tables/novel_<task>.json}`` of the files present, sorted by task."""
        found = sorted(self.tables_dir.glob(f"{NOVEL_PREFIX}*.json"))
        return {p.stem[len(NOVEL_PREFIX) :]: p for p in found}

    def taxonomy_json(self, name: str) -> Path:
        return self.taxonomies_dir / f"{name}.json"

    def taxonomy_files(self) -> list[Path]:
        return sorted(self.taxonomies_dir.glob("*.json"))


def affinity_candidates(folder: str | os.PathLike[str]) -> list[Path]:
    """Where a folder's affinity table may be: ``affinities.csv`` or ``tables/affinities.csv``."""
    f = Path(folder)
    return [f / AFFINITIES_CSV, RunFiles(f).table_path("affinity")]
