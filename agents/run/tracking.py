"""Experiment tracking behind one small interface, so the pipeline never checks a flag.

``open_tracker(False, ...)`` returns ``Tracker``, which does nothing; ``open_tracker(True, ...)``
returns ``WandbTracker``. wandb is imported only when a ``WandbTracker`` is created: it is slow
to import and starts a service process, which runs without tracking should not pay for.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch


class Tracker:
    """The no-op tracker: every method accepts its arguments and records nothing."""

    def log(self, metrics: dict[str, float], step: int) -> None:
        """Scalars at ``step``, keyed by namespaced names such as ``policy/keep_frac``."""

    def log_histogram(self, key: str, values: np.ndarray | torch.Tensor, step: int) -> None:
        """The distribution of ``values`` (for example all keep probabilities) at ``step``."""

    def log_table(self, key: str, columns: list[str], rows: list[list]) -> None:
        """A small table, such as the baseline/pruned comparison."""

    def summary(self, metrics: dict) -> None:
        """Final values of the run, shown in place of the last logged ones."""

    def log_artifact(self, name: str, kind: str, paths: list[Path]) -> None:
        """Files that belong to the run (pruned model, report), versioned under ``name``."""

    def finish(self) -> None:
        """Flush and close the run; safe to call more than once."""


INIT_TIMEOUT_S = 15.0
"""Seconds W&B may take to start a run online. Measured with the server address on a closed
port: 15 s here gave up after about 25 s in all (the service start and login add to it), so a
missing network costs at most 30 s before the run goes on offline."""
LOGIN_TIMEOUT_S = 5.0
"""Seconds W&B may take to check the API key."""


def _mode() -> str | None:
    """Offline unless the user chose a mode or configured an API key: runs must work with no
    network. None lets wandb read WANDB_MODE itself."""
    if os.environ.get("WANDB_MODE"):
        return None
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


class WandbTracker(Tracker):
    """Logs to Weights & Biases; the run's files go under ``run_dir/wandb``."""

    def __init__(
        self,
        project: str,
        config: dict,
        run_dir: Path,
        name: str | None = None,
        group: str | None = None,
    ) -> None:
        import wandb

        self._wandb = wandb
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        settings = wandb.Settings(init_timeout=INIT_TIMEOUT_S, login_timeout=LOGIN_TIMEOUT_S)

        def start(mode: str | None):
            return wandb.init(
                project=project,
                config=config,
                dir=run_dir,
                name=name,
                group=group,
                mode=mode,
                reinit="create_new",
                settings=settings,
            )

        mode = _mode()
        try:
            self._run = start(mode)
        except wandb.errors.Error as exc:
            if mode == "offline":
                raise
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            print(
                f"W&B: no connection ({reason:.100}); logging offline in {run_dir / 'wandb'}, "
                f"upload later with: wandb sync {run_dir / 'wandb'}/offline-run-*",
                file=sys.stderr,
            )
            self._run = start("offline")

    def log(self, metrics: dict[str, float], step: int) -> None:
        self._run.log(metrics, step=step)

    def log_histogram(self, key: str, values: np.ndarray | torch.Tensor, step: int) -> None:
        if isinstance(values, torch.Tensor):
            values = values.detach().cpu().numpy()
        self._run.log({key: self._wandb.Histogram(np.asarray(values).ravel())}, step=step)

    def log_table(self, key: str, columns: list[str], rows: list[list]) -> None:
        self._run.log({key: self._wandb.Table(columns=columns, data=rows)})

    def summary(self, metrics: dict) -> None:
        self._run.summary.update(metrics)

    def log_artifact(self, name: str, kind: str, paths: list[Path]) -> None:
        artifact = self._wandb.Artifact(name, type=kind)
        for path in paths:  # referenced in place: no staged or cached copies outside the run
            artifact.add_file(str(path), policy="immutable", skip_cache=True)
        self._run.log_artifact(artifact)

    def finish(self) -> None:
        if self._run is not None:
            self._run.finish()
            self._run = None


def open_tracker(
    enabled: bool,
    project: str,
    config: dict,
    run_dir: Path,
    name: str | None = None,
    group: str | None = None,
) -> Tracker:
    """A ``WandbTracker`` when tracking is ``enabled``, else the no-op ``Tracker``;
    ``group`` gathers the runs of one sweep."""
    if not enabled:
        return Tracker()
    return WandbTracker(project, config, run_dir, name, group)
