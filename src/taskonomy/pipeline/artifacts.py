"""The run directory and its atomic, content-addressed job folders.

Layout of one run directory (everything a run produces lives under it)::

    <run>/
      config.yaml              resolved config (written by the pipeline)
      jobs/<kind>/<key>/       one finished job: its artifacts + job.json
      jobs/<kind>/.<key>.tmp-<host>-<pid>-<nonce>/   a job being written
      logs/<kind>-<key>.log    one log per job (appended across attempts)
      data/ tables/ taxonomies/  pipeline-level outputs (see ``RunDir.sub``)

Why folders and renames: a job writes its files into a hidden temporary folder; the engine
adds ``job.json`` last and renames the folder to its final name. A rename of a folder onto a
missing name is atomic on POSIX, so a job folder is either absent or complete: *a job is
finished iff ``jobs/<kind>/<key>/job.json`` exists*. A SIGKILL leaves at most a temporary
folder, which the next run removes (``remove_stale_temps``) once its writer is gone.

Why checksums: a finished folder can still be damaged later (a full disk, a copy cut short,
a hand edit). ``job.json`` records the size and BLAKE2b digest of every artifact file at
commit time (``files``); :meth:`RunDir.verify` compares them (sizes only: a ``stat`` per
file, or sizes and digests), and the engine treats a job that fails it as unfinished.

One writer at a time: :meth:`RunDir.locked` holds an exclusive ``flock`` on ``<run>/.lock``
(with the holder's pid inside) for a whole pipeline run; the kernel drops it when the
process dies, so a killed run never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from taskonomy.errors import TaskonomyError, input_error
from taskonomy.io import atomic_write_text
from taskonomy.rundir import RunFiles

JOB_RECORD = "job.json"
LOCK_FILE = ".lock"
_TMP_MARK = ".tmp-"
#: Digest of artifact files recorded in ``job.json`` (fast in pure C, in hashlib).
DIGEST = "blake2b"


def file_digest(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, DIGEST).hexdigest()


def artifact_files(folder: Path) -> dict[str, dict[str, Any]]:
    """``{relative path: {"size", DIGEST}}`` of every file under ``folder`` but ``job.json``."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if rel == JOB_RECORD or not path.is_file():
            continue
        out[rel] = {"size": path.stat().st_size, DIGEST: file_digest(path)}
    return out


def _host() -> str:
    return socket.gethostname().replace(os.sep, "_") or "localhost"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunDir(RunFiles):
    """Paths and bookkeeping of one run directory (created on demand).

    Job folders are addressed by ``(kind, key)``; see :class:`taskonomy.pipeline.jobs.Job`.
    The output file names (tables, taxonomies, report) are :class:`taskonomy.rundir.RunFiles`'.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        if self.root.exists() and not self.root.is_dir():
            raise TaskonomyError(
                f"run directory: got {str(self.root)!r}, which is a file; expected a directory "
                f"(new or from an earlier run). Pass another --run-dir."
            )

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r})"

    # -- fixed places -------------------------------------------------------------------
    @property
    def jobs_dir(self) -> Path:
        return self.root / "jobs"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def sub(self, name: str) -> Path:
        """A top-level folder of the run (``data``, ``tables``, ``taxonomies``…), created."""
        if not name or "/" in name or name.startswith(".") or name in ("jobs", "logs"):
            raise TaskonomyError(
                f"run sub-folder: got {name!r}; expected a plain folder name other than "
                f"'jobs' and 'logs'. Use a single path component such as 'tables'."
            )
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def ensure(self) -> None:
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)

    # -- job folders --------------------------------------------------------------------
    def job_dir(self, kind: str, key: str) -> Path:
        """The final folder of a job (it may not exist yet)."""
        return self.jobs_dir / kind / key

    def log_path(self, kind: str, key: str) -> Path:
        return self.logs_dir / f"{kind}-{key}.log"

    def is_finished(self, kind: str, key: str) -> bool:
        return (self.job_dir(kind, key) / JOB_RECORD).is_file()

    def read_record(self, kind: str, key: str) -> dict[str, Any]:
        """The ``job.json`` of a finished job."""
        path = self.job_dir(kind, key) / JOB_RECORD
        try:
            record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TaskonomyError(
                f"job record: got no {path}; expected a finished job there. "
                f"Run the job (rerun the pipeline on this run directory) first."
            ) from None
        return record

    def verify(self, kind: str, key: str, digests: bool = True) -> str | None:
        """What is wrong with a finished job's folder (None: intact, or not finished).

        Compares the files against the sizes (and, with ``digests``, the checksums) that
        ``job.json`` recorded at commit. Records written before checksums existed pass.
        """
        folder = self.job_dir(kind, key)
        path = folder / JOB_RECORD
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            files = record.get("files")
        except (ValueError, AttributeError, UnicodeDecodeError):
            return f"{JOB_RECORD} is not a readable JSON record"
        if files is None:
            return None
        for rel, want in sorted(files.items()):
            f = folder / rel
            try:
                size = f.stat().st_size
            except FileNotFoundError:
                return f"{rel} is missing"
            if size != want["size"]:
                return f"{rel} has {size} bytes, {want['size']} were written"
            if digests and file_digest(f) != want[DIGEST]:
                return f"{rel} does not match its recorded {DIGEST} checksum"
        return None

    def discard(self, kind: str, key: str) -> None:
        """Remove a finished job's folder (a corrupt one): rename it away first, so the job
        is unfinished at once even if deleting its files is interrupted."""
        folder = self.job_dir(kind, key)
        if not folder.exists():
            return
        trash = folder.parent / f".{key}{_TMP_MARK}{_host()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        os.rename(folder, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def finished_records(self) -> dict[str, dict[str, Any]]:
        """``job.json`` of every finished job by key (unreadable records are left out)."""
        out: dict[str, dict[str, Any]] = {}
        if not self.jobs_dir.is_dir():
            return out
        for kind_dir in sorted(self.jobs_dir.iterdir()):
            if not kind_dir.is_dir():
                continue
            for key in self.finished_keys(kind_dir.name):
                try:
                    out[key] = self.read_record(kind_dir.name, key)
                except (ValueError, UnicodeDecodeError):
                    continue
        return out

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the run directory's writer lock, or refuse naming the other writer's pid."""
        import fcntl  # POSIX only; imported here so the module stays importable elsewhere

        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                other = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
                raise input_error(
                    f"run directory {self.root}",
                    f"another run writing there (pid {other})",
                    "one run at a time per directory",
                    "Wait for that run to end (or stop it), or pass another --out.",
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    def new_temp_dir(self, kind: str, key: str) -> Path:
        """A fresh hidden folder to write a job's artifacts into before commit."""
        parent = self.jobs_dir / kind
        parent.mkdir(parents=True, exist_ok=True)
        tmp = parent / f".{key}{_TMP_MARK}{_host()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        return tmp

    def commit(self, tmp: Path, kind: str, key: str, record: Mapping[str, Any]) -> bool:
        """Write ``job.json`` into ``tmp`` and rename it to the final job folder.

        Returns False when the final folder already existed (another worker finished the same
        job first); ``tmp`` is then discarded and the existing result is kept.
        """
        record = {**record, "files": artifact_files(tmp)}
        atomic_write_text(tmp / JOB_RECORD, json.dumps(record, indent=2, sort_keys=True) + "\n")
        final = self.job_dir(kind, key)
        try:
            os.rename(tmp, final)
        except OSError:
            if self.is_finished(kind, key):
                shutil.rmtree(tmp, ignore_errors=True)
                return False
            raise
        _fsync_dir(final.parent)
        return True

    def remove_stale_temps(self) -> list[Path]:
        """Delete temporary job folders whose writing process (on this host) is gone."""
        removed: list[Path] = []
        if not self.jobs_dir.is_dir():
            return removed
        host = _host()
        for kind_dir in self.jobs_dir.iterdir():
            if not kind_dir.is_dir():
                continue
            for entry in kind_dir.iterdir():
                if not (entry.name.startswith(".") and _TMP_MARK in entry.name):
                    continue
                # "<host>-<pid>-<nonce>"; the host itself may contain '-'.
                parts = entry.name.split(_TMP_MARK, 1)[1].rsplit("-", 2)
                if len(parts) != 3:
                    continue
                owner_host, pid_text, _nonce = parts
                # Folders of other hosts (shared run dir, cluster executor) are left alone.
                if owner_host != host or not pid_text.isdigit():
                    continue
                if int(pid_text) == os.getpid() or _pid_alive(int(pid_text)):
                    continue
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
        return removed

    def finished_keys(self, kind: str) -> list[str]:
        """Keys of every finished job of one kind, sorted."""
        kind_dir = self.jobs_dir / kind
        if not kind_dir.is_dir():
            return []
        return sorted(
            p.name
            for p in kind_dir.iterdir()
            if not p.name.startswith(".") and p.is_dir()
            if (p / JOB_RECORD).is_file()
        )


def _fsync_dir(path: Path) -> None:
    # Durability of the rename itself; best effort (not every filesystem allows it).
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
