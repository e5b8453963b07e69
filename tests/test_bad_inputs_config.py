"""Issue 14 (part B): bad run configs are refused before anything is written (items 5, 6)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from taskonomy.cli import app
from taskonomy.errors import TaskonomyError
from taskonomy.pipeline.config import load_config

runner = CliRunner()

BAD_CONFIGS = {
    "no tasks": "preset: quick\ntasks: []\n",
    "random as a task": "preset: quick\ntasks: [random]\n",
    "negative budget": "preset: quick\ntaxonomy: {budgets: [-1]}\n",
    "order 0": "preset: quick\ntaxonomy: {orders: [0]}\n",
    "bool as steps": "preset: quick\ntrain: {steps: true}\n",
    "bool as seed": "preset: quick\nseed: false\n",
    "negative seed": "preset: quick\nseed: -1\n",
    "negative split": "preset: quick\ndata: {splits: {large: 1.2, small: 0.2, test: -0.4}}\n",
    "zero split": "preset: quick\ndata: {splits: {large: 1.0, small: 0.0, test: 0.0}}\n",
    "infinite lr": "preset: quick\ntrain: {lr: .inf}\n",
    "nan weight decay": "preset: quick\ntrain: {weight_decay: .nan}\n",
}


def _write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "cfg.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
def test_bad_config_is_refused_at_load(tmp_path: Path, name: str) -> None:
    with pytest.raises(TaskonomyError) as err:
        load_config(_write(tmp_path, BAD_CONFIGS[name]))
    assert "\n" not in str(err.value)


def test_good_config_still_loads(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, "preset: quick\nseed: 3\ntrain: {steps: 7, lr: 0.01}\n"))
    assert (cfg.seed, cfg.train.steps, cfg.train.lr) == (3, 7, 0.01)


@pytest.mark.parametrize("name", ["negative seed", "infinite lr", "negative split"])
def test_cli_refuses_before_writing_the_run_folder(tmp_path: Path, name: str) -> None:
    out = tmp_path / "run"
    cfg = _write(tmp_path, BAD_CONFIGS[name])
    res = runner.invoke(app, ["run", "--config", str(cfg), "--out", str(out), "--no-report"])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1
    assert not out.exists()


def test_non_utf8_config_is_one_line(tmp_path: Path) -> None:
    cfg = _write(tmp_path, b"preset: quick\nseed: \xff\xfe\n")
    res = runner.invoke(app, ["run", "--config", str(cfg), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "UTF-8" in res.stderr and res.stderr.count("\n") == 1
    assert not isinstance(res.exception, UnicodeDecodeError)


def _alias_bomb(levels: int = 7) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + f"\ntasks: *a{levels}\n"


def test_yaml_alias_bomb_is_refused_with_a_short_message(tmp_path: Path) -> None:
    text = _alias_bomb()
    assert len(text.encode()) < 700
    with pytest.raises(TaskonomyError) as err:
        load_config(_write(tmp_path, text))
    message = str(err.value).replace(str(tmp_path), "")
    assert "alias" in message and len(message) < 400


def test_long_bad_value_gives_a_bounded_message(tmp_path: Path) -> None:
    # Not an alias: a long list, its repr must still be cut short in the message.
    names = ", ".join(["nonexistent_task"] * 20000)
    with pytest.raises(TaskonomyError) as err:
        load_config(_write(tmp_path, f"preset: quick\ntaxonomy: {{budgets: [{names}]}}\n"))
    assert len(str(err.value)) < 400
