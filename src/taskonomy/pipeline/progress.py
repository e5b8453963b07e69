"""Progress reporting for ``run_jobs``: a rich bar, plain log lines, or nothing.

Progress is cosmetic: the engine never depends on it, and it sees only job labels and
timings. ``make_progress(quiet)`` picks the CLI's flavour (``--quiet`` → plain lines).
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    from taskonomy.pipeline.jobs import Job


class Progress(Protocol):
    """What the engine reports: a stage with ``total`` jobs, ``done`` of them already finished."""

    def start(self, stage: str, total: int, done: int) -> None: ...

    def job_started(self, job: Job) -> None: ...

    def job_finished(self, job: Job, wall_s: float, ok: bool) -> None: ...

    def close(self) -> None: ...


class NullProgress:
    """Reports nothing (the library default)."""

    def start(self, stage: str, total: int, done: int) -> None:
        pass

    def job_started(self, job: Job) -> None:
        pass

    def job_finished(self, job: Job, wall_s: float, ok: bool) -> None:
        pass

    def close(self) -> None:
        pass


class LogProgress:
    """One plain line per event, for logs and ``--quiet`` (no terminal control codes)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.stage = ""
        self.total = 0
        self.done = 0
        self._t0 = 0.0

    def _print(self, text: str) -> None:
        stream = self.stream if self.stream is not None else sys.stderr
        print(f"[{self.stage}] {text}", file=stream, flush=True)

    def start(self, stage: str, total: int, done: int) -> None:
        self.stage, self.total, self.done = stage, total, done
        self._t0 = time.perf_counter()
        self._print(f"{total} jobs, {done} already finished, {total - done} to run")

    def job_started(self, job: Job) -> None:
        pass

    def job_finished(self, job: Job, wall_s: float, ok: bool) -> None:
        if ok:
            self.done += 1
        status = "done" if ok else "FAILED"
        self._print(f"{self.done}/{self.total} {status}: {job.label} ({wall_s:.2f} s)")

    def close(self) -> None:
        self._print(f"stage finished in {time.perf_counter() - self._t0:.1f} s")


class RichProgress:
    """A rich progress bar: stage, jobs done/total, elapsed time and ETA."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self._bar: Any = None
        self._task: Any = None

    def start(self, stage: str, total: int, done: int) -> None:
        from rich.console import Console  # lazy: only interactive runs pay for rich
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        console = Console(file=self.stream if self.stream is not None else sys.stderr)
        self._bar = Bar(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("jobs"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self._bar.start()
        self._task = self._bar.add_task(stage, total=total, completed=done)

    def job_started(self, job: Job) -> None:
        pass

    def job_finished(self, job: Job, wall_s: float, ok: bool) -> None:
        if self._bar is None:
            return
        if ok:
            self._bar.advance(self._task)
        else:
            self._bar.console.print(f"[red]failed:[/red] {job.label}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def make_progress(quiet: bool = False, stream: TextIO | None = None) -> Progress:
    """The CLI's progress: a rich bar, or plain log lines with ``quiet``."""
    return LogProgress(stream) if quiet else RichProgress(stream)
