"""CI runs exactly the README's commands, and nothing in the repo reaches outside it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    test_cmd = next(b for b in _bash_blocks(readme) if "pytest" in b)
    assert test_cmd == "bash .ci/test-deps.sh .venv && .venv/bin/python -m pytest -q"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_cmd in ci  # a line of its own


def test_main_job_needs_no_root_and_no_dev_extra() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    main_job = next(b for b in _bash_blocks(readme) if "taskonomy run" in b)
    assert "sudo" not in main_job and "apt-get" not in main_job and ".ci/" not in main_job
    assert "[dev]" not in main_job


def test_nothing_names_the_folder_beside_the_checkout() -> None:
    pattern = re.compile(r"\.\./sha" r"red|/sha" r"red/(data|design)")
    hits = [
        str(p.relative_to(ROOT))
        for folder in ("src", "tests", "benchmarks", ".ci")
        for p in (ROOT / folder).rglob("*")
        # build outputs (an editable install's egg-info) are not part of the code
        if p.is_file()
        and p.suffix != ".pyc"
        and not any(part.endswith(".egg-info") for part in p.parts)
        and pattern.search(p.read_text(errors="ignore"))
    ]
    assert hits == []
