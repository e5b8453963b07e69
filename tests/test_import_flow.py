"""Imports point down the data flow: a module imports only from folders to its left.

data/ → tasks/ → nn/ → train/ → transfer/ → affinity/ → taxonomy/ → evaluate/ → report/ →
pipeline/ → cli/; top-level modules (errors.py, io.py, registry.py, rundir.py, …) are below
every folder. Lazy imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "taskonomy"
FLOW = ["data", "tasks", "nn", "train", "transfer", "affinity", "taxonomy", "evaluate",
        "report", "pipeline", "cli"]  # fmt: skip
# Known back-edges, each to be removed by the owner of the importing folder (listed so that
# no new one slips in): data/ reads the task dictionary (names, label layouts) from tasks/,
# which imports nothing from data/.
KNOWN = {("data", "tasks")}


def _layer(module: str) -> int:
    """-1 for top-level modules, else the folder's position in FLOW."""
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "taskonomy":
        raise ValueError(module)
    if len(parts) == 2 and parts[1] not in FLOW:
        return -1  # errors, io, registry, rundir, … (or the package itself)
    return FLOW.index(parts[1]) if parts[1] in FLOW else -1


def _module_name(path: Path, root: Path = PKG) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, root: Path = PKG) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pkg = _module_name(path, root).split(".")
    if path.name != "__init__.py":
        pkg = pkg[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against this package
                base = pkg[: len(pkg) - node.level + 1]
                mod = ".".join([*base, *([node.module] if node.module else [])])
            else:
                mod = node.module or ""
            out.append((node.lineno, mod))
    return [(n, m) for n, m in out if m == "taskonomy" or m.startswith("taskonomy.")]


def back_edges(root: Path = PKG) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.py")):
        me = _module_name(path, root)
        mine = _layer(me) if me != "taskonomy" else len(FLOW)
        for lineno, mod in _imports(path, root):
            if mod == "taskonomy":
                continue
            if _layer(mod) > mine and (FLOW[mine], FLOW[_layer(mod)]) not in KNOWN:
                bad.append(f"{path.relative_to(root)}:{lineno} imports {mod}")
    return bad


def test_no_import_points_up_the_flow() -> None:
    assert back_edges() == []


def test_the_check_catches_a_back_edge(tmp_path: Path) -> None:
    fake = tmp_path / "taskonomy"
    (fake / "taxonomy").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "errors.py").write_text("from taskonomy.affinity.table import X\n")
    (fake / "taxonomy" / "plan.py").write_text(
        "def f():\n    from taskonomy.evaluate.gain_quality import g\n"
        "from taskonomy.affinity.table import T\n"
    )
    (fake / "taxonomy" / "ok.py").write_text("from . import plan\nfrom ..errors import E\n")
    assert back_edges(fake) == [
        "errors.py:1 imports taskonomy.affinity.table",
        "taxonomy/plan.py:2 imports taskonomy.evaluate.gain_quality",
    ]


@pytest.mark.parametrize("module", ["taskonomy.errors", "taskonomy.cli.solve"])
def test_layers(module: str) -> None:
    assert _layer(module) in (-1, FLOW.index("cli"))
