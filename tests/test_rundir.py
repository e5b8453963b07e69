from __future__ import annotations

from pathlib import Path

from taskonomy.pipeline.artifacts import RunDir
from taskonomy.rundir import RunFiles, affinity_candidates


def test_run_files_own_the_names(tmp_path: Path) -> None:
    f = RunFiles(tmp_path)
    assert f.table_path("affinity") == tmp_path / "tables" / "affinities.csv"
    assert f.table_path("wins_vs_self") == tmp_path / "tables" / "wins_vs_self.csv"
    assert f.table_path("wins_vs_pixels") == tmp_path / "tables" / "wins_vs_pixels.csv"
    assert f.table_path("mean_test_loss") == tmp_path / "tables" / "losses.csv"
    assert f.sanity_csv == tmp_path / "tables" / "sanity.csv"
    assert f.report_dir == tmp_path / "report"
    assert f.taxonomy_json("budget1_order2") == tmp_path / "taxonomies" / "budget1_order2.json"
    assert affinity_candidates(tmp_path) == [tmp_path / "affinities.csv", f.table_path("affinity")]
    f.tables_dir.mkdir()
    for task in ("normal", "depth_zbuffer"):
        f.novel_json(task).write_text("[]")
    assert list(f.novel_files()) == ["depth_zbuffer", "normal"]


def test_pipeline_run_dir_uses_the_same_names(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    assert isinstance(rd, RunFiles)
    assert rd.table_path("affinity") == RunFiles(tmp_path).table_path("affinity")
    assert rd.sub("tables") == rd.tables_dir and rd.tables_dir.is_dir()
