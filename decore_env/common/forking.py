"""Forked children run PyTorch on one thread, so ``AsyncVectorEnv`` with fork never hangs.

A process that has run PyTorch's multi-threaded CPU kernels (Gymnasium's ``AsyncVectorEnv``
builds one env in the parent to read its spaces) leaves a thread pool behind that a forked
child inherits without its threads: the child's first multi-threaded kernel then waits
forever. Setting the child's thread count to one before it runs any kernel avoids the pool.
Importing :mod:`decore_env` installs the hook; it does nothing in a child of a process that
never imported torch, and spawn / forkserver children start fresh and are not affected.
A forked child may raise its thread count again only at its own risk.
"""

from __future__ import annotations

import os
import sys

_installed = False


def one_torch_thread() -> None:
    """Limit PyTorch's intra-op threads to one, if torch is loaded in this process."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def install_fork_hook() -> None:
    """Run :func:`one_torch_thread` in every child ``os.fork`` makes from now on (once)."""
    global _installed
    if not _installed and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=one_torch_thread)
        _installed = True
