"""``taskonomy generate``, ``show`` and ``export`` through typer."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from taskonomy.cli import export as export_cmd
from taskonomy.cli import generate as generate_cmd
from taskonomy.cli import show as show_cmd
from taskonomy.data.bank import Bank
from taskonomy.report.contact_sheet import contact_sheet_figure

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
    for mod in (generate_cmd, show_cmd, export_cmd):
        mod.register(app)
    return app


APP = _app()


@pytest.fixture(scope="module")
def bank_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "bank"
    res = runner.invoke(APP, ["generate", "--out", str(out), "--scenes", "3", "--views", "3",
                              "--size", "32", "--seed", "4", "--workers", "1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "3 scenes, 9 views" in res.stdout and "large/small/test = 1/1/1" in res.stdout
    return out


def _one_line_error(res: object, needle: str) -> None:
    assert res.exit_code == 2  # type: ignore[attr-defined]
    err = res.stderr  # type: ignore[attr-defined]
    assert needle in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err


def test_generate_refuses_to_overwrite_and_validates(bank_dir: Path) -> None:
    before = (bank_dir / "manifest.json").read_bytes()
    res = runner.invoke(APP, ["generate", "--out", str(bank_dir), "--scenes", "3", "-q"])
    _one_line_error(res, "--force")
    assert (bank_dir / "manifest.json").read_bytes() == before
    res = runner.invoke(APP, ["generate", "--out", str(bank_dir.parent / "x"), "--splits", "1,2"])
    _one_line_error(res, "--splits")
    res = runner.invoke(APP, ["generate", "--out", str(bank_dir.parent / "x"), "--scenes", "0"])
    _one_line_error(res, "--scenes")
    assert not (bank_dir.parent / "x").exists()


def test_generate_force_replaces(tmp_path: Path) -> None:
    out = tmp_path / "b"
    args = ["generate", "--out", str(out), "--scenes", "2", "--views", "3", "--size", "32", "-q"]
    args += ["--workers", "1"]
    assert runner.invoke(APP, [*args, "--seed", "1"]).exit_code == 0
    first = Bank(out).get("rgb", 0)
    res = runner.invoke(APP, [*args, "--seed", "2", "--force"])
    assert res.exit_code == 0 and res.stdout == ""  # quiet
    assert not np.array_equal(Bank(out).get("rgb", 0), first)


def test_show_writes_a_panel_per_task(bank_dir: Path, tmp_path: Path) -> None:
    res = runner.invoke(APP, ["show", str(bank_dir), "--view", "4"])
    assert res.exit_code == 0, res.output
    img = iio.imread(bank_dir / "contact_sheet.png")
    assert img.shape[0] > 800 and img.shape[1] > 800
    assert len(np.unique(img.reshape(-1, img.shape[-1]), axis=0)) > 1000  # pictures, not blank
    bank = Bank(bank_dir)
    fig = contact_sheet_figure(bank, 4)
    titles = {ax.get_title() for ax in fig.axes if ax.get_title()}
    assert titles == {"rgb", *bank.tasks()}
    _one_line_error(runner.invoke(APP, ["show", str(bank_dir), "--view", "99"]), "--view")
    _one_line_error(runner.invoke(APP, ["show", str(tmp_path)]), "manifest")


def test_export_layout(bank_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "tk"
    res = runner.invoke(APP, ["export", str(bank_dir), "--layout", "taskonomy", "--out", str(out)])
    assert res.exit_code == 0, res.output
    b = Bank(bank_dir).scenes[0]["name"]
    assert (out / "rgb" / b / "point_0_view_0_domain_rgb.png").is_file()
    assert len(list((out / "depth_zbuffer" / b).glob("point_*_view_0_domain_*.png"))) == 3
    res = runner.invoke(APP, ["export", str(bank_dir), "--layout", "coco", "--out", str(out)])
    _one_line_error(res, "--layout")
    res = runner.invoke(APP, ["export", str(bank_dir), "--out", str(out)])
    _one_line_error(res, "--force")
