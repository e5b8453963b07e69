"""Issue 14 (part B), item 9: a layout without its metadata is not read with guessed scales."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskonomy.data.generate import generate_bank
from taskonomy.data.taskonomy_layout import (
    EXPORT_INFO,
    TaskonomyLayout,
    export_taskonomy_layout,
    import_taskonomy_layout,
)
from taskonomy.errors import TaskonomyError
from taskonomy.pipeline.config import load_config


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lay")
    generate_bank(root / "bank", scenes=3, views=3, size=16, seed=1, workers=1, progress=False)
    return export_taskonomy_layout(root / "bank", root / "layout")


def test_layout_without_metadata_needs_explicit_scales(layout: Path, tmp_path: Path) -> None:
    info = layout / EXPORT_INFO
    z_max = TaskonomyLayout(layout).z_max
    saved = info.read_bytes()
    info.unlink()
    try:
        with pytest.raises(TaskonomyError, match=r"data\.z_max.*data\.curvature_scale"):
            import_taskonomy_layout(layout, tmp_path / "back")
        assert not (tmp_path / "back").exists()
        explicit = TaskonomyLayout(layout, z_max=z_max, curvature_scale=32.0)
        assert explicit.z_max == z_max
    finally:
        info.write_bytes(saved)


def test_run_config_carries_the_scales(tmp_path: Path) -> None:
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(
        "preset: quick\ndata: {source: taskonomy, path: x, z_max: 20, curvature_scale: 32,"
        " on_missing: skip}\n"
    )
    cfg = load_config(cfg_file)
    assert (cfg.data.z_max, cfg.data.curvature_scale, cfg.data.on_missing) == (20, 32, "skip")
