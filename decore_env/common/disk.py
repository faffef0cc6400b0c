"""A full disk as one error that names the folder (torch-free, so the CLI can catch it)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager


class DiskFullError(OSError):
    """No space left where the project was writing; every file there kept its previous
    content. Not a ValueError on purpose: a benchmark grid stops at it instead of failing
    cell after cell."""


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
"""The errnos of a full disk (or a full quota)."""


@contextmanager
def disk_full_named(folder: str | os.PathLike) -> Iterator[None]:
    """Re-raise a full disk inside the block as :class:`DiskFullError` naming ``folder``."""
    try:
        yield
    except DiskFullError:
        raise
    except OSError as exc:
        if exc.errno not in NO_SPACE:
            raise
        raise DiskFullError(
            f"no space left on {folder}: free some space there and run again (the files "
            "written before are intact)"
        ) from exc
