"""Run artefacts: atomic file writes, the report's markdown summary, hardware and versions.

A run's numbers are only worth keeping with the machine, the library versions and the commit
that produced them, so every report carries ``hardware_info()`` and ``versions()``. Files are
written through ``atomic_write`` so that an interrupted run never leaves half a file behind.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from decore_env.common.files import atomic_write

# Distribution name on the package index -> key in ``versions()``.
_DISTRIBUTIONS = {
    "torch": "torch",
    "torchvision": "torchvision",
    "gymnasium": "gymnasium",
    "numpy": "numpy",
    "torch-pruning": "torch_pruning",
    "stable-baselines3": "stable_baselines3",
    "decore-env": "decore_env",
}
VERSION_KEYS = ("python", *_DISTRIBUTIONS.values(), "git_commit")
"""The keys of :func:`versions`, in order (for tables with one column each)."""


def _jsonable(obj: Any) -> Any:
    """Numpy/torch scalars and arrays (``.tolist()``) and paths, which ``json`` cannot encode."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON through ``atomic_write``."""
    text = json.dumps(obj, indent=2, default=_jsonable) + "\n"
    return atomic_write(path, lambda f: f.write(text.encode()))


def _millions(n: float) -> str:
    """A count in millions with enough decimals that small networks (LeNet) stay readable."""
    m = n / 1e6
    return f"{m:.2f}M" if m >= 1 else f"{m:.4f}M"


def _reduction(before: float, after: float) -> str:
    return f"{100 * (1 - after / before):.1f}%" if before else "n/a"


def _row(name: str, run: Mapping[str, Any], base: Mapping[str, Any] | None) -> str:
    cells = [name, f"{100 * run['accuracy']:.2f}"]
    for key in ("params", "macs"):
        cell = _millions(run[key])
        if base is not None:
            cell += f" ({_reduction(base[key], run[key])})"
        cells.append(cell)
    latency = run.get("latency_ms")
    cells.append("n/a" if latency is None else f"{latency:.2f}")
    return "| " + " | ".join(cells) + " |"


def summary_markdown(report: Mapping[str, Any]) -> str:
    """The run as the paper reports it: top-1, params and MACs with their reductions.

    ``report`` follows DESIGN.md's report.json schema. MACs are multiply-accumulates, which is
    what the paper calls FLOPs.
    """
    base, pruned = report["baseline"], report["pruned"]
    lines = [
        f"# DECORE: {report['model']} on {report['dataset']}",
        "",
        "| | top-1 (%) | params (reduction) | MACs (reduction) | latency (ms) |",
        "|---|---|---|---|---|",
        _row("Base", base, None),
        _row("Pruned", pruned, base),
        "",
    ]
    if pruned["params"]:
        factor = base["params"] / pruned["params"]
        lines.append(
            f"Compression: {factor:.1f}x fewer parameters "
            f"({base['params']:,} -> {pruned['params']:,}); "
            f"MACs {base['macs']:,} -> {pruned['macs']:,}."
        )
        lines.append("")
    lines += [
        "## Settings",
        "",
        f"- agent: {report['agent']}, lambda: {report['lam']}, seed: {report['seed']}",
    ]
    for key, value in (report.get("settings") or {}).items():
        lines.append(f"- {key}: {value}")
    if report.get("phases_s"):
        phases = ", ".join(f"{k} {v:.1f}s" for k, v in report["phases_s"].items())
        lines.append(f"- phases: {phases}")
    lines += ["", "Command:", "", "```", str(report["command"]), "```", ""]
    return "\n".join(lines)


def _cpu_model() -> str:
    """The CPU's marketing name; ``platform.processor()`` is often empty on Linux."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware_info() -> dict[str, Any]:
    """The machine a run's timings and latencies come from."""
    import torch  # deferred: keeps this module cheap to import for the CLI

    cuda = torch.cuda.is_available()
    return {
        "cpu": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "platform": platform.platform(),
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "cuda": torch.version.cuda if cuda else None,
    }


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


RESULTS_PATHSPEC = ":(top,exclude)benchmarks/results"
"""The committed results, left out of the dirty check."""


def _git_commit() -> str | None:
    """The commit of this checkout, ``-dirty`` appended when tracked files differ from it
    (numbers from uncommitted code are not that commit's); None outside a git checkout. The
    committed results (``benchmarks/results``), which a benchmark run itself appends to, do
    not count."""
    commit = _git("rev-parse", "HEAD")
    if not commit:
        return None
    changed = _git(
        "status", "--porcelain", "--untracked-files=no", "--", ":(top)", RESULTS_PATHSPEC
    )
    return commit + "-dirty" if changed else commit


REPO_ROOT = Path(__file__).resolve().parents[2]
"""The checkout's root: commands recorded beside results are relative to it."""


def command_line(argv: list[str]) -> str:
    """``python`` and ``argv`` as one shell line, paths inside the checkout made relative to
    its root, so a result records how to rerun it and nothing of the machine it ran on."""

    def relative(arg: str) -> str:
        path = Path(arg)
        if path.is_absolute() and path.resolve().is_relative_to(REPO_ROOT):
            return str(path.resolve().relative_to(REPO_ROOT))
        return arg

    return shlex.join(["python", *map(relative, argv)])


def versions() -> dict[str, str | None]:
    """Python, the libraries whose behaviour the numbers depend on, and the git commit."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for dist, key in _DISTRIBUTIONS.items():
        try:
            found[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[key] = None
    found["git_commit"] = _git_commit()
    return found


def provenance(found: dict[str, str | None] | None = None) -> dict[str, str]:
    """The ``versions`` and ``commit`` columns of a result row: the libraries as one text,
    the commit apart (``found``: a run's recorded :func:`versions`, default this process's)."""
    found = versions() if found is None else found
    text = ", ".join(f"{k} {v}" for k, v in found.items() if k != "git_commit" and v is not None)
    return {"versions": text, "commit": found.get("git_commit") or ""}
