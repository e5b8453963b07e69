"""``taskonomy run``: the learning pipeline, from an image bank to a taxonomy."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from taskonomy.cli._common import user_errors
from taskonomy.rundir import RunFiles

EXIT_SIGTERM = 128 + signal.SIGTERM  # 143, as a shell reports a process ended by SIGTERM


def run(
    preset: str | None = typer.Option(
        None, "--preset", help="quick (default without --config), laptop, standard or paper."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="YAML overriding a preset (it may name `preset: …`)."
    ),
    out: Path = typer.Option(Path("runs/quick"), "--out", help="Run directory (resumable)."),
    novel: list[str] = typer.Option(
        [], "--novel", help="Hold a task out of the sources (all-for-one); repeatable."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Override the config's seed."),
    seeds: str | None = typer.Option(
        None, "--seeds", help="Training seeds, e.g. 0,1: one run each, sharing the data."
    ),
    executor: str = typer.Option(
        "auto",
        "--executor",
        help="auto (pool when workers > 1), inprocess, pool (local processes) or ray.",
    ),
    workers: int | None = typer.Option(None, "--workers", help="Processes for --executor pool."),
    device: str | None = typer.Option(
        None, "--device", help="auto (CUDA when present), cpu, cuda or cuda:N."
    ),
    precision: str | None = typer.Option(
        None, "--precision", help="fp32 (default) or bf16 (autocast; changes the job keys)."
    ),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="HOST:PORT of a running Ray head (with --executor ray)."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="Plain log lines, no progress bars."),
    report: bool = typer.Option(True, "--report/--no-report", help="Write RUN_DIR/report/."),
) -> None:
    """Train task networks, measure transfers, compute affinities and taxonomies."""
    from taskonomy.pipeline.config import load_config
    from taskonomy.pipeline.executors import make_executor
    from taskonomy.pipeline.progress import make_progress
    from taskonomy.pipeline.run import run_pipeline

    with user_errors(), _stop_on_sigterm(out):
        overrides: dict[str, object] = {}
        if seed is not None:
            overrides["seed"] = seed
        if workers is not None:
            overrides["workers"] = workers
        if seeds is not None:
            overrides["seeds"] = _parse_seeds(seeds)
        if novel:
            overrides["novel"] = novel
        if device is not None:
            overrides["device"] = device
        if precision is not None:
            overrides["precision"] = precision
        cfg = load_config(config, preset or (None if config else "quick"), overrides)
        if executor == "auto":
            executor = "pool" if cfg.workers > 1 else "inprocess"
        with make_executor(
            executor, cfg.workers, ray_address=ray_address, resources=cfg.resources
        ) as ex:
            result = run_pipeline(cfg, out, executor=ex, progress=make_progress(quiet))
        page = None
        if report:
            from taskonomy.report.html import build_report

            page = build_report(RunFiles(out).report_dir, run_dir=out)
    from taskonomy.pipeline.summary import print_summary

    print_summary(result)
    if page is not None:
        typer.echo(f"Report: {page}")


class _Terminated(BaseException):
    """Raised in the main thread by SIGTERM (a BaseException: no job records it as its own
    failure; the executor's exit kills the workers, finished jobs stay committed)."""


@contextmanager
def _stop_on_sigterm(out: Path) -> Iterator[None]:
    def handler(signum: int, frame: object) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    except _Terminated:
        print(
            f"taskonomy run: stopped by SIGTERM; finished jobs are kept in {out}, "
            "rerun the same command to resume.",
            file=sys.stderr,
        )
        raise typer.Exit(EXIT_SIGTERM) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _parse_seeds(text: str) -> list[int]:
    from taskonomy.errors import input_error

    try:
        return [int(s) for s in text.split(",") if s.strip()] or [int("")]
    except ValueError:
        raise input_error("--seeds", text, "comma-separated integers, e.g. 0,1",
                          "Pass --seeds 0,1.") from None  # fmt: skip


def register(app: typer.Typer) -> None:
    app.command("run")(run)
