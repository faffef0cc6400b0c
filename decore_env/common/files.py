"""Files and devices: atomic writes, loading trained weights, picking the device.

Every file the project writes goes through :func:`atomic_write`, so an interrupted run never
leaves half a file behind; every checkpoint is read through :func:`load_weights`, so a wrong
file gets one clear message wherever it is given.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import torch
from torch import nn

from decore_env.common.disk import disk_full_named

_FILE_MODE = 0o644
"""mkstemp creates owner-only files; outputs are meant to be read by others too."""


class CheckpointError(ValueError):
    """A checkpoint that is missing or does not fit the model."""


def atomic_write(path: str | os.PathLike, write_fn: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write_fn`` on a temp file beside ``path``, then rename it over ``path``.

    The rename is atomic on one file system, so readers (and a resumed run) see either the
    old file or the complete new one, never a partial write; on any error the temp file is
    removed and the error re-raised (a full disk as :class:`DiskFullError`).
    """
    path = Path(path)
    with disk_full_named(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                write_fn(f)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, _FILE_MODE)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path


def cache_dir() -> Path:
    """Where trained weights and decoded data are cached: ``$DECORE_CACHE``, else
    ``~/.cache/decore``."""
    return Path(os.environ.get("DECORE_CACHE", Path.home() / ".cache" / "decore"))


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) at ``path`` with :func:`atomic_write`: the old file stays whole
    until the new one is."""
    data = text.encode()
    return atomic_write(path, lambda f: f.write(data))


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete the temp files that writes killed mid-way left in ``folder``; returns them.

    Only call it while no other process writes to ``folder`` (for example under its run lock).
    """
    stale = [p for p in Path(folder).glob(".*.tmp") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` through :func:`atomic_write`. Serialised in memory first: torch's zip
    writer reports a full disk as an unnamed RuntimeError, a plain write as ENOSPC."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    data = buffer.getbuffer()
    return atomic_write(path, lambda f: f.write(data))


def read_tensors(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load`` with ``weights_only=True``: tensors and plain containers, never code.

    Raises ``OSError`` / ``ValueError`` subclasses only: any file that is not such a save
    (random bytes, truncated, empty, a pickled module) becomes :class:`UnreadableFileError`.
    """
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnreadableFileError(f"{path} is not a readable tensor file ({detail:.120})") from exc


class UnreadableFileError(ValueError):
    """A file that ``torch.load(..., weights_only=True)`` cannot read."""


PRUNED_FORMAT = "decore-pruned"
"""The ``format`` entry of a saved pruned network (see :mod:`decore_env.channels.surgery`)."""


def load_weights(model: nn.Module, checkpoint: str | os.PathLike | Mapping) -> None:
    """Load a state dict, or a file holding one (bare, or under "model" / "state_dict", as
    `decore train` writes it)."""
    source = "the given state dict" if isinstance(checkpoint, Mapping) else f"{checkpoint}"
    if isinstance(checkpoint, Mapping):
        state = checkpoint
    else:
        path = Path(checkpoint)
        if not path.is_file():
            raise CheckpointError(
                f"checkpoint {path} not found; pass the path of trained weights "
                "(e.g. the baseline.pt that `decore train` writes)"
            )
        try:
            state = read_tensors(path)
        except UnreadableFileError as exc:
            raise CheckpointError(
                f"checkpoint {exc}; pass trained weights such as the baseline.pt that "
                "`decore train` writes"
            ) from exc
    if not isinstance(state, Mapping):
        raise CheckpointError(
            f"checkpoint {source:.80} holds a {type(state).__name__}, not a state dict; "
            "pass trained weights such as the baseline.pt that `decore train` writes"
        )
    if state.get("format") == PRUNED_FORMAT:
        raise CheckpointError(
            f"checkpoint {source:.80} is a pruned network, not baseline weights; load it "
            "with decore_env.channels.surgery.load_pruned"
        )
    for key in ("model", "state_dict"):
        if isinstance(state.get(key), Mapping):
            state = state[key]
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(
            f"checkpoint {source:.80} does not fit the model: {mismatch_detail(exc)}"
        ) from exc


MISMATCH_CHARS = 600
"""Longest state-dict mismatch shown: the first keys and shapes name the problem."""


def mismatch_detail(exc: RuntimeError) -> str:
    """Torch's state-dict mismatch (missing and unexpected keys, shapes) on one line."""
    lines = [line.strip() for line in str(exc).strip().splitlines()]
    detail = "; ".join(line for line in lines[1:] if line) or lines[0]
    return detail if len(detail) <= MISMATCH_CHARS else detail[:MISMATCH_CHARS] + " ..."


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` or "auto": CUDA when available, else the CPU; a clear error for a device
    that is not a device or not there."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device {device!r} is not a device: use auto, cpu or cuda") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: CUDA is not available here; use cpu")
    return resolved
