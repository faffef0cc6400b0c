"""Run folders: what one compression run owns, one writer at a time, checked before use.

A run folder is created only after every setting has been checked; from then on one process
at a time holds its lock (an OS file lock, released on exit and when the process dies), so
two runs can never interleave their files. Everything in it loads without running code.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from agents.run.config import CompressConfig
from decore_env.common.files import UnreadableFileError, read_tensors, remove_stale_temps


class RunError(ValueError):
    """A run folder that cannot be used as asked; the message says why and what to do."""


class RunLocked(RunError):
    """Another process holds the run folder's lock (it is running that run now)."""


@dataclass
class RunFiles:
    """The files of one run folder."""

    root: Path
    config: Path = field(init=False)
    state: Path = field(init=False)
    baseline: Path = field(init=False)
    lock: Path = field(init=False)

    def __post_init__(self) -> None:
        self.config = self.root / "config.json"
        self.state = self.root / "state.pt"
        self.baseline = self.root / "baseline.pt"
        self.lock = self.root / ".lock"


def default_run_dir(model: str, dataset: str) -> Path:
    """``runs/<model>-<dataset>-<time>-<random>``: unique even for runs started together."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = Path(dataset).name or "data"
    return Path("runs") / f"{model}-{name}-{stamp}-{secrets.token_hex(3)}"


def check_writable_dir(path: Path, option: str = "--out") -> None:
    """Refuse ``path`` as an output folder unless it is (or can become) a writable folder.

    Probes with a temp file in the nearest existing folder and removes it, so nothing is left
    behind; checked before any work, so no trained model is lost to a bad path.
    """
    path = Path(path)
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise RunError(f"{option} {path}: {existing} is a file, not a folder; choose a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".decore-probe-")
    except OSError as exc:
        raise RunError(
            f"{option} {path}: cannot write in {existing} ({exc.strerror}); "
            "choose a writable folder"
        ) from exc
    os.close(fd)
    os.unlink(probe)


def saved_config(out: Path) -> CompressConfig:
    """The settings a run folder was started with."""
    path = RunFiles(Path(out)).config
    if not path.is_file():
        raise RunError(f"cannot resume: {out} is not a run folder (no config.json in it)")
    try:
        return CompressConfig.from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise RunError(
            f"cannot resume: {path} is not a valid run config ({exc}); start a new run"
        ) from exc


def read_report(run_dir: Path) -> dict[str, Any]:
    """The ``report.json`` of a finished run, or a RunError naming the file and the fix."""
    path = Path(run_dir) / "report.json"
    try:
        report = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"{run_dir} holds no report.json: the run has not finished") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(
            f"{path} is not valid JSON ({exc}); delete the run folder {run_dir} to run it again"
        ) from exc
    if not isinstance(report, dict):
        raise RunError(f"{path} holds no report object; delete {run_dir} to run it again")
    return report


def check_run(
    config: CompressConfig | None, out: Path, resume: bool
) -> tuple[CompressConfig, RunFiles]:
    """The settings of the run in ``out``: the saved ones when resuming (``config``, if given,
    must match them), else ``config`` for a folder that holds no run yet. Writes nothing."""
    files = RunFiles(Path(out))
    if resume:
        saved = saved_config(files.root)
        if config is not None and config != saved:
            diff = sorted(k for k, v in config.to_dict().items() if saved.to_dict()[k] != v)
            raise RunError(
                f"cannot resume {out}: it was started with other settings ({', '.join(diff)} "
                "differ); resume with the same settings or start a new run with another --out"
            )
        return saved, files
    if config is None:
        raise RunError("no settings given for a new run")
    if files.config.exists():
        raise RunError(
            f"{out} already holds a run; continue it with --resume {out} or choose another --out"
        )
    check_writable_dir(files.root)
    return config, files


class RunLock:
    """Exclusive ownership of a run folder for the life of a ``with`` block.

    Creates the folder, takes an OS lock on ``.lock`` inside it without waiting, and removes
    temp files that a killed writer left. A second process gets :class:`RunError` at once.
    """

    def __init__(self, files: RunFiles) -> None:
        self.files = files
        self._lock: FileLock | None = None

    def __enter__(self) -> RunLock:
        self.files.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.files.lock, timeout=0, preserve_lock_file=True)
        try:
            lock.acquire()
        except Timeout:  # an OSError too: caught first
            raise RunLocked(
                f"another decore process is writing to {self.files.root}; wait for it to end "
                "or choose another --out"
            ) from None
        except OSError as exc:  # a read-only folder, say
            raise RunError(f"cannot lock {self.files.root}: {exc.strerror or exc}") from exc
        self._lock = lock
        remove_stale_temps(self.files.root)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def load_state(files: RunFiles) -> dict:
    """The saved progress of a run (empty for a new one); tensors only, never code."""
    if not files.state.is_file():
        return {}
    try:
        state = read_tensors(files.state)  # CPU: generator states load only from there
    except UnreadableFileError as exc:
        raise RunError(
            f"cannot resume {files.root}: {exc}. Delete it to restart the run from its saved "
            "baseline, or start a new run with another --out"
        ) from exc
    if not isinstance(state, dict):
        raise RunError(f"cannot resume {files.root}: {files.state} is not a run state")
    return state
