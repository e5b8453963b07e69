"""Issue 14 (part B), items 6, 8, 9: the CLI refuses bad input in one line, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taskonomy.affinity.table import read_table
from taskonomy.cli import app
from taskonomy.errors import TaskonomyError

runner = CliRunner()

# Each target's values sum to 1.
GOOD = """# taskonomy-table v1
# kind: affinity
target,sources,value
normal,self,0.6
normal,depth_zbuffer,0.4
depth_zbuffer,self,0.5
depth_zbuffer,normal,0.5
"""


def _table(tmp_path: Path, text: str | bytes, name: str = "aff.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def _solve(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, ["solve", "--budget", "1", "--max-order", "1", *args])
    assert not (res.exception and not isinstance(res.exception, SystemExit)), res.exception
    return res.exit_code, res.stdout, res.stderr


def _one_line_error(code: int, err: str) -> None:
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err


# ---- item 6: encodings -------------------------------------------------------------------
def test_non_utf8_table_is_one_line(tmp_path: Path) -> None:
    path = _table(tmp_path, GOOD.encode().replace(b"normal,self", b"n\xf6rmal,self"))
    code, _, err = _solve("--affinities", str(path))
    _one_line_error(code, err)
    assert "UTF-8" in err


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    table = read_table(_table(tmp_path, b"\xef\xbb\xbf" + GOOD.encode()))
    assert table.value(["self"], "normal") == 0.6


# ---- item 8: what solve is given ---------------------------------------------------------
@pytest.mark.parametrize(
    ("old", "new", "word"),
    [
        ("normal,depth_zbuffer,0.4", "normal,depth_zbuffer,-0.4", "[0, 1]"),
        ("normal,depth_zbuffer,0.4", "normal,depth_zbuffer,8.2", "[0, 1]"),
        ("normal,depth_zbuffer,0.4", "normal,depth_zbuffer,nan", "finite"),
    ],
)
def test_affinity_outside_0_1_is_refused(tmp_path: Path, old: str, new: str, word: str) -> None:
    code, _, err = _solve("--affinities", str(_table(tmp_path, GOOD.replace(old, new))))
    _one_line_error(code, err)
    assert word in err and "line 5" in err


def test_unnormalized_target_warns(tmp_path: Path) -> None:
    path = _table(tmp_path, GOOD.replace("normal,depth_zbuffer,0.4", "normal,depth_zbuffer,0.1"))
    code, out, err = _solve("--affinities", str(path), "--json")
    assert code == 0 and json.loads(out)["budget"] == 1
    assert err.startswith("warning: ") and "normal" in err and "0.7" in err


def test_unknown_source_is_refused(tmp_path: Path) -> None:
    code, _, err = _solve("--affinities", str(_table(tmp_path, GOOD)), "--sources", "reshading")
    _one_line_error(code, err)
    assert "reshading" in err and "--sources" in err


def test_duplicate_importance_is_refused(tmp_path: Path) -> None:
    code, _, err = _solve(
        "--affinities", str(_table(tmp_path, GOOD)), "--importance", "normal=1,normal=5"
    )
    _one_line_error(code, err)
    assert "normal" in err and "once" in err


def test_huge_number_on_the_cli_is_one_line(tmp_path: Path) -> None:
    code, _, err = _solve(
        "--affinities", str(_table(tmp_path, GOOD)), "--label-cost", "normal=1e999"
    )
    _one_line_error(code, err)


# ---- item 9: messages that help ----------------------------------------------------------
def test_csv_errors_name_the_real_line(tmp_path: Path) -> None:
    text = GOOD.replace("depth_zbuffer,self,0.5", "depth_zbuffer,self,abc")
    with pytest.raises(TaskonomyError, match="line 6"):
        read_table(_table(tmp_path, text))


def test_renamed_pickle_names_no_python_argument(tmp_path: Path, published_dir: Path) -> None:
    src = published_dir / "affinities" / "all_affinities_16k.pkl"
    renamed = _table(tmp_path, src.read_bytes(), name="mine.pkl")
    code, _, err = _solve("--affinities", str(renamed))
    _one_line_error(code, err)
    assert "kind=" not in err and "all_affinities" in err


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "taskonomy.cli", "generate", "--out", str(tmp_path / "b"),
         "--scenes", "abc"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "--scenes" in proc.stderr and "integer" in proc.stderr


# ---- item 6/9: generate ------------------------------------------------------------------
def test_size_message_names_the_renderer_minimum(tmp_path: Path) -> None:
    res = runner.invoke(app, ["generate", "--out", str(tmp_path / "b"), "--size", "3"])
    _one_line_error(res.exit_code, res.stderr)
    assert "16" in res.stderr and "--size" in res.stderr


def test_huge_bank_is_refused_before_allocating(tmp_path: Path) -> None:
    res = runner.invoke(app, ["generate", "--out", str(tmp_path / "b"), "--scenes", str(10**12)])
    _one_line_error(res.exit_code, res.stderr)
    assert "--scenes" in res.stderr
    assert not any(tmp_path.iterdir())


def test_bank_larger_than_free_space_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: usage(10**9, 10**9 - 10**6, 10**6))
    res = runner.invoke(
        app, ["generate", "--out", str(tmp_path / "b"), "--scenes", "2000", "--size", "128"]
    )
    _one_line_error(res.exit_code, res.stderr)
    assert "free" in res.stderr and "GB" in res.stderr
    assert not any(tmp_path.iterdir())


def test_disk_estimate_bounds_a_real_bank(tmp_path: Path) -> None:
    from taskonomy.data.generate import estimate_bank_bytes, generate_bank

    out = generate_bank(
        tmp_path / "b", scenes=2, views=3, size=32, seed=0, workers=1, progress=False
    )
    used = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    estimate = estimate_bank_bytes(scenes=2, views=3, size=32)
    assert used <= estimate <= 3 * used


_INTERRUPT = """
import os, signal, sys
import taskonomy.data.generate as G
real = G._render_scene
def render(seed, config, _n=[0]):
    _n[0] += 1
    if _n[0] == 2:
        os.kill(os.getpid(), signal.SIGTERM)
    return real(seed, config)
G._render_scene = render
sys.argv = ["taskonomy", "generate", "--out", sys.argv[1], "--scenes", "3", "--views", "3",
            "--size", "16", "--workers", "1", "--quiet"]
from taskonomy.cli import main
main()
"""


def test_sigterm_during_generate_leaves_no_temp_folder(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    proc = subprocess.run(
        [sys.executable, "-c", _INTERRUPT, str(tmp_path / "bank")],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode != 0
    assert list(tmp_path.iterdir()) == []
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
