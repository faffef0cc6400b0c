"""A benchmark sweep: a grid task x contestant x seed x target, one CSV row per cell.

Every cell is one run of the compress pipeline (:func:`agents.run.pipeline.compress`) under the
fair protocol of ``benchmarks/README.md``:

- the same baseline per (task, seed) for every contestant
  (:func:`agents.run.pipeline.run_baseline`,
  trained once, shared as the run's checkpoint);
- the same search budget in scored (mask, image) pairs: the task's policy phase;
- the same network-training epochs: an agent that trains the network jointly during its
  search (the RL agents on the main env) gets the task's fine-tuning; one that does not (the
  references) gets the policy phase's epochs as extra fine-tuning;
- the same budget target, enforced through the env's budget wrapper.

A cell's row is appended when it finishes (:class:`agents.bench.results.ResultsCSV`), and a cell
whose row exists is skipped, so an interrupted sweep resumes; a cell killed mid-run resumes
from its run folder. Cells run in this process, or as Ray tasks (``ray_address``): a local
Ray on one machine, a Ray cluster beyond it, one GPU (or a fraction) per cell when present.
Rows are written by the driver only.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from filelock import FileLock
from tqdm import tqdm

from agents.bench.cells import CELL_KEY, Cell, with_cell
from agents.bench.curves import CURVE_COLUMNS
from agents.bench.results import ResultsCSV
from agents.bench.tuning import variants
from agents.names import AGENTS, BUDGETED, REFERENCES
from agents.native.settings import PAPER_INIT_WEIGHT, PAPER_LR
from agents.references.targets import TOLERANCE
from agents.run.config import (
    ADDED_LEVERS,
    PLUS_LEVERS,
    PRESET_LEVERS,
    CompressConfig,
    frozen_finetune_epochs,
    preset,
    with_lever,
    without_lever,
)
from agents.run.folders import RunLocked, read_report, saved_config
from agents.run.summary import provenance
from decore_env.common.disk import DiskFullError

PAPER_AGENT = {"agent": "reinforce", "agent_lr": PAPER_LR, "init_weight": PAPER_INIT_WEIGHT}
"""The paper's agent settings (tasks may set others as their defaults)."""
MEAN_REWARD = "-mean-reward"
"""Suffix of an SB3 contestant on the scalar reward averaged over agents."""
CONTESTANTS: dict[str, dict[str, Any]] = {
    "reinforce": PAPER_AGENT,
    "reinforce-demo": PAPER_AGENT | PLUS_LEVERS["fast-start"],  # the demo's agent settings
    **{name: {"agent": name, **preset(name)} for name in AGENTS if name != "reinforce"},
    **{
        name + MEAN_REWARD: {"agent": name, **preset(name), "reward_reduction": "mean"}
        for name in ("a2c", "ppo")
    },
    **{
        f"reinforce+{lever}": PAPER_AGENT | settings
        for lever, settings in PLUS_LEVERS.items()
        if lever != "fast-start"  # that one alone is reinforce-demo
    },
    **{
        f"reinforce-plus-no-{lever}": {"agent": "reinforce-plus", **without_lever(lever)}
        for lever in PRESET_LEVERS
    },
    **{
        f"reinforce-plus+{lever}": {"agent": "reinforce-plus", **with_lever(lever)}
        for lever in ADDED_LEVERS
    },
}
"""Contestant name -> the run settings that make it (on top of the task's): every agent, the
native agent with the demo's settings, each SB3 agent on the reward averaged over agents
(``reward_reduction="mean"``), paper mode with each improvement alone, and
reinforce-plus with each of its improvements left out and each other one added (the
ablation)."""
CONTESTANTS |= {
    name: CONTESTANTS[contestant] | settings for name, (contestant, settings) in variants().items()
}
"""Tuning runs (:mod:`agents.bench.tuning`): each contestant with one of its configurations."""
PROTOCOL = "val-split"
"""Names the protocol's work folder: baselines trained on train minus val, run folders of
that protocol (a work dir of earlier runs is not read back)."""
NATIVE = "reinforce"
"""The contestant the others are compared with."""
RESULT_COLUMNS = (
    *CELL_KEY,
    "lam",
    "lam_final",
    "baseline_acc",
    "searched_acc",
    "final_acc",
    "drop_points",
    "params",
    "params_kept",
    "macs",
    "macs_kept",
    "matched",
    "pairs",
    "network_epochs",
    "finetune_epochs",
    "search_s",
    "prune_s",
    "finetune_s",
    "device",
    "versions",
    "commit",
    "command",
)
"""One row per cell."""
RESULT_NUMBERS = ("seed", "target", "baseline_acc", "final_acc", "params_kept", "pairs")
"""Columns of RESULT_COLUMNS that every row fills with a finite number (the report ranks and
matches by them)."""
CURVE_TABLE_COLUMNS = (*CELL_KEY, *CURVE_COLUMNS)
"""One row per learning-curve point of a cell."""


class SweepError(ValueError):
    """A grid that cannot run as asked."""


def trains_network(contestant: str) -> bool:
    """Whether the contestant trains the network jointly during its search (the RL agents on
    the main env, unless set not to); the others get the search's epochs as extra
    fine-tuning."""
    settings = CONTESTANTS[contestant]
    return settings["agent"] not in BUDGETED and settings.get("train_network", True)


def is_rl(contestant: str) -> bool:
    """Whether the contestant learns a policy (not a reference; a name this version does not
    know counts as itself)."""
    return CONTESTANTS.get(contestant, {"agent": contestant})["agent"] not in REFERENCES


def cell_config(task: CompressConfig, cell: Cell, checkpoint: str | Path) -> CompressConfig:
    """The run settings of ``cell`` on ``task`` (the task's settings, seed, shared baseline,
    budget target, the contestant's settings, the protocol's epochs)."""
    settings = dict(CONTESTANTS[cell.agent])
    if not trains_network(cell.agent):
        settings |= {"train_network": False, "finetune_epochs": frozen_finetune_epochs(task)}
    return with_cell(task, cell, checkpoint, settings)


def grid(
    tasks: Iterable[str], agents: Iterable[str], seeds: Iterable[int], targets: Iterable[float]
) -> list[Cell]:
    """Every cell of the grid, contestants checked."""
    agents = list(agents)
    unknown = [a for a in agents if a not in CONTESTANTS]
    if unknown:
        raise SweepError(f"unknown agents {unknown}; known: {', '.join(CONTESTANTS)}")
    cells = [
        Cell(task, agent, seed, target)
        for task in tasks
        for target in targets
        for seed in seeds
        for agent in agents
    ]
    return list(dict.fromkeys(cells))


def follow_target(reached: float) -> float:
    """The target of an l1_global cell that follows an RL row: its reached fraction, rounded
    to 4 digits (the reference then meets it within 2%)."""
    return round(reached, 4)


def follower_cells(rows: Iterable[Mapping[str, str]], task: str, target: float) -> list[Cell]:
    """l1_global cells at the fraction each RL row of ``task`` at ``target`` reached (its own
    resource, same seed), so each RL row has a reference at exactly its compression."""
    cells = []
    for row in rows:
        if row["task"] == task and float(row["target"]) == target and is_rl(row["agent"]):
            reached = follow_target(float(row[f"{row['resource']}_kept"]))
            cells.append(Cell(task, "l1_global", int(row["seed"]), reached, row["resource"]))
    return sorted(set(cells), key=lambda c: (c.seed, c.target))


def shared_baseline(task: CompressConfig, seed: int, folder: Path, name: str) -> Path:
    """The baseline of ``task`` at ``seed`` every contestant starts from, trained on first use
    (one process at a time: an OS lock per baseline file)."""
    from agents.run.pipeline import run_baseline  # torch loads in the process that runs cells

    path = folder / "baselines" / f"{name}-seed{seed}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{path}.lock"):
        if not path.is_file():
            run_baseline(replace(task, seed=seed), path, progress=False)
    return path


def run_cell(
    cell: Cell,
    task: CompressConfig,
    folder: Path,
    command: str,
    wandb_group: str | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run one cell (resuming its run folder if an earlier attempt was stopped, with the same
    settings or not at all; a finished run's report is read back); returns its result row and
    its learning-curve rows."""
    from agents.run.pipeline import compress

    checkpoint = shared_baseline(task, cell.seed, folder, cell.task)
    config = cell_config(task, cell, checkpoint)
    out = folder / "runs" / cell.name
    if (out / "report.json").is_file() and saved_config(out) == config:
        report = read_report(out)
    else:
        report = compress(
            config,
            out,
            resume=(out / "config.json").is_file(),  # refused if its settings differ
            wandb=wandb_group is not None,
            progress=False,
            command=command,
            wandb_group=wandb_group,
        )
    curve = [cell.key() | dict(zip(CURVE_COLUMNS, p, strict=True)) for p in report["curve"] or []]
    return result_row(cell, report, command), curve


def result_row(cell: Cell, report: Mapping[str, Any], command: str) -> dict[str, Any]:
    """The CSV row of a cell from its run's report."""
    base, pruned, phases = report["baseline"], report["pruned"], report["phases_s"]
    params_kept = pruned["params"] / base["params"]
    kept = params_kept if cell.resource == "params" else pruned["macs"] / base["macs"]
    epochs = report["epochs"]
    joint = epochs["policy"] if report["settings"]["train_network"] else 0
    versions = report["versions"]
    return cell.key() | {
        "lam": report["lam_initial"],
        "lam_final": report["lam"],
        "baseline_acc": base["accuracy"],
        "searched_acc": report["searched"]["accuracy"],
        "final_acc": pruned["accuracy"],
        "drop_points": 100 * (base["accuracy"] - pruned["accuracy"]),
        "params": pruned["params"],
        "params_kept": params_kept,
        "macs": pruned["macs"],
        "macs_kept": pruned["macs"] / base["macs"],
        "matched": abs(kept / cell.target - 1) <= TOLERANCE,
        "pairs": report["searched"]["pairs"],
        "network_epochs": joint + epochs["finetune"],
        "finetune_epochs": epochs["finetune"],
        "search_s": round(phases.get("policy", 0.0), 1),
        "prune_s": round(phases.get("prune", 0.0), 2),
        "finetune_s": round(phases.get("finetune", 0.0), 1),
        "device": report["hardware"]["gpu"] or report["hardware"]["cpu"],
        **provenance(versions),
        "command": command,
    }


def open_tables(csv: Path) -> tuple[ResultsCSV, ResultsCSV]:
    """The results table at ``csv`` and its learning curves beside it (``*-curves.csv``);
    a file with another schema is refused before any cell runs."""
    curves = csv.with_name(f"{csv.stem}-curves{csv.suffix}")
    return (
        ResultsCSV(csv, RESULT_COLUMNS, CELL_KEY, RESULT_NUMBERS),
        ResultsCSV(curves, CURVE_TABLE_COLUMNS, (*CELL_KEY, "pairs")),
    )


def pending(cells: Sequence[Cell], table: ResultsCSV) -> list[Cell]:
    """The cells without a row yet."""
    done = table.done()
    return [c for c in cells if table.key_of(c.key()) not in done]


def ray_remote(fn: Callable[..., Any], address: str | None, gpus_per_cell: float) -> Any:
    """``fn`` as a Ray task of one CPU (and ``gpus_per_cell`` GPUs), on the cluster at
    ``address`` (None: a local Ray started here)."""
    try:
        import ray
    except ImportError:
        raise SweepError(
            'running cells on Ray needs Ray: pip install -e ".[ray]" (or run without --ray)'
        ) from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    return ray.remote(num_cpus=1, num_gpus=gpus_per_cell)(fn)


def each_outcome(
    fn: Callable[..., Any],
    calls: Mapping[Hashable, tuple],
    use_ray: bool = False,
    gpus_per_cell: float = 0.0,
    ray_address: str | None = None,
) -> Iterator[tuple[Any, Callable[[], Any]]]:
    """Each key of ``calls`` (key -> arguments of ``fn``) with the call that returns its
    result: run here, in order, when called; or, ``use_ray``, as Ray tasks (one CPU and
    ``gpus_per_cell`` GPUs each) in the order they finish."""
    if use_ray:
        yield from ray_results(ray_remote(fn, ray_address, gpus_per_cell), calls)
        return
    for key, args in calls.items():
        yield key, lambda args=args: fn(*args)


def ray_results(remote: Any, calls: Mapping[Hashable, tuple]) -> Iterator[tuple[Any, Callable]]:
    """Each key of ``calls`` (key -> a Ray task's arguments) with the call that returns its
    task's result, in the order the tasks finish."""
    import ray

    waiting = {remote.remote(*args): cell for cell, args in calls.items()}
    while waiting:
        (ready,), _ = ray.wait(list(waiting), num_returns=1)
        yield waiting.pop(ready), lambda ready=ready: _ray_result(ray, ready)


def run_grid(
    cells: Sequence[Cell],
    tasks: Mapping[str, CompressConfig],
    csv: Path,
    folder: Path,
    command: str,
    *,
    ray_address: str | None = None,
    use_ray: bool = False,
    gpus_per_cell: float = 0.0,
    wandb_group: str | None = None,
    progress: bool = True,
) -> int:
    """Run the cells of ``cells`` that have no row in ``csv``; returns how many ran here (a
    cell another runner on the same work dir is running is left to it).

    :param use_ray: run cells as Ray tasks on the cluster at ``ray_address`` (None: a local
        Ray started here).
    """
    table, curves = open_tables(csv)
    folder = Path(folder) / PROTOCOL  # never the baselines or runs of an earlier protocol
    missing = sorted({c.task for c in cells} - set(tasks))
    if missing:
        raise SweepError(f"no settings for tasks {missing}; known: {', '.join(tasks)}")
    todo = list(dict.fromkeys(pending(cells, table)))  # each cell once, in order
    for cell in todo:  # every cell's settings checked before the first runs
        cell_config(tasks[cell.task], cell, folder / "baseline.pt")
    bar = tqdm(total=len(todo), desc="cells", unit="cell", disable=not progress)
    failed: list[str] = []
    busy: list[str] = []

    def record(cell: Cell, run: Callable[[], tuple[dict, list[dict]]]) -> None:
        try:
            row, curve = run()
        except RunLocked:  # another runner on this work dir runs it and appends its row
            busy.append(cell.name)
            return
        except ValueError as exc:  # one cell that cannot run does not stop the others
            failed.append(f"{cell.name}: {exc}")
            return
        finally:
            bar.update()
        for point in curve:  # the curve first: a row means the cell is complete
            curves.append(point)
        table.append(row)
        bar.set_postfix_str(f"{row['agent']} seed {row['seed']}: {row['final_acc']:.4f}")

    with bar:
        calls = {cell: (cell, tasks[cell.task], folder, command, wandb_group) for cell in todo}
        for cell, run in each_outcome(run_cell, calls, use_ray, gpus_per_cell, ray_address):
            record(cell, run)
    if failed:
        raise CellsFailed(failed, len(todo))
    return len(todo) - len(busy)


def _ray_result(ray: Any, ref: Any) -> tuple[dict, list[dict]]:
    """A Ray task's result, its ValueError (a cell that cannot run) and DiskFullError raised
    as such."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, ValueError | DiskFullError):
            raise exc.cause from None
        raise


class CellsFailed(SweepError):
    """Cells that could not run (the others ran and have their rows)."""

    def __init__(self, failed: list[str], ran: int) -> None:
        self.failed = failed
        lines = "\n  ".join(failed)
        super().__init__(f"{len(failed)} of {ran} cells failed (the rest have rows):\n  {lines}")
