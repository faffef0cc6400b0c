"""The search track: contestants compared as searchers of a keep mask.

Every cell meets the same task through the env the pipeline builds (:func:`policy_env`): the
task's shipped baseline (the default task's or a suite task's), frozen (no weight changes
during the search), the task's pair budget (policy epochs x steps per epoch x pairs per
step), and a final architecture put on the target by one rule for every contestant
(:func:`agents.references.targets.project`): on target within 2% it passes unchanged,
otherwise the agent's own keep scores decide. The metric is the one-shot top-1 of the pruned
baseline, without any weight update (its BatchNorm statistics re-estimated on training
images under the mask, EagleEye's adaptive BN: a no-op on a network without BatchNorm such
as LeNet-5), on test (read once, at the end); along the search the val one-shot accuracy of
the agent's current projected architecture gives the anytime curve (``CURVE_POINTS``
points) and its mean.
Contestants that search in one call (the references, td3_layerwise) have one point: the end.
An on-policy SB3 agent (A2C, PPO) learns in rollouts sized to split the budget evenly
(:func:`agents.sb3.adapter.even_rollout`), so it spends the budget to within a step a rollout.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from agents.bench.cells import CELL_KEY, Cell, with_cell
from agents.bench.results import ResultsCSV
from agents.bench.sweep import (
    CONTESTANTS,
    MEAN_REWARD,
    CellsFailed,
    SweepError,
    each_outcome,
    grid,
)
from agents.bench.tuning import tuned
from agents.names import LAYERWISE_AGENTS, ON_POLICY, REFERENCES
from agents.references.reference import Reference
from agents.references.targets import TOLERANCE, Projected, kept_fraction, project
from agents.run.config import CompressConfig, demo_config
from agents.run.policy_phase import policy_env, run_agent
from agents.run.summary import command_line, provenance
from decore_env.common.seeds import derive_seed
from decore_env.task.weights import default_weights

CURVE_POINTS = 10
"""Points of the anytime curve: the budget is spent in this many equal chunks."""
TRACK_AGENTS = (
    "reinforce",
    "reinforce-plus",
    "a2c",
    "ppo",
    "sac",
    "td3",
    "td3_layerwise",
    "uniform",
    "l1_layer",
    "l1_global",
    "random",
    "random_search",
    "greedy",
)
"""The search track's contestants: every contestant of the leaderboard that searches on a
frozen network."""
SEARCH_COLUMNS = (
    *CELL_KEY,
    "agent_kept",
    "changed",
    "kept",
    "matched",
    "val_acc",
    "test_acc",
    "anytime_val",
    "pairs",
    "search_s",
    "mask",
    "versions",
    "commit",
    "command",
)
"""One row per cell: the agent's own kept fraction, channels the projection changed, the
projected kept fraction, one-shot val and test top-1, the mean val top-1 over the anytime
curve, pairs scored, search seconds (evaluations excluded), the projected mask in hex
(:func:`mask_to_hex`: the fine-tune track prunes the same architecture)."""
SEARCH_NUMBERS = ("seed", "target", "agent_kept", "kept", "val_acc", "test_acc", "pairs")
"""Columns every search-track row fills with a finite number."""
SEARCH_CURVE_COLUMNS = (*CELL_KEY, "pairs", "val_acc", "kept")


def search_config(task: CompressConfig, cell: Cell, checkpoint: str | Path) -> CompressConfig:
    """The settings of ``cell`` in the search track: the contestant's on the task's, on the
    frozen ``checkpoint``, with its frozen tuning choice (a mean-reward variant takes its
    contestant's); refused for a contestant that needs joint training."""
    settings = dict(CONTESTANTS[cell.agent]) | tuned(cell.agent.removesuffix(MEAN_REWARD))
    if settings.get("train_network") or settings.get("search_share", 1.0) < 1:
        raise SweepError(
            f"{cell.agent} trains the network during its search; the search track is frozen: "
            "compare it in the fine-tune track (benchmarks/compare_agents.py)"
        )
    return with_cell(task, cell, checkpoint, settings | {"train_network": False})


def _projected(agent: Any, env: Any, cell: Cell) -> Projected:
    """The agent's architecture on the target; an agent without keep scores is refused by
    name when its own architecture misses the target."""
    mask, _ = agent.predict(None, deterministic=True)
    seed = derive_seed(cell.seed, "actions")
    base = env.unwrapped
    if not hasattr(agent, "keep_scores"):
        mask = torch.as_tensor(mask).bool()
        if abs(kept_fraction(base.gates, mask, cell.resource) / cell.target - 1) > TOLERANCE:
            raise SweepError(
                f"{cell.agent} missed the target and exposes no keep_scores() to project by; "
                "give its agent class a keep_scores() method"
            )
        return Projected(mask, kept_fraction(base.gates, mask, cell.resource), 0)
    return project(base.gates, mask, agent.keep_scores(), cell.target, cell.resource, seed)


def search_cell(
    cell: Cell,
    config: CompressConfig,
    checkpoint: str | Path,
    command: str,
    share: float = 1.0,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Search ``cell`` with the run settings ``config`` for ``share`` of its search epochs'
    env steps (rounded; none with no search epochs: the agent's architecture before any
    pair); its row and anytime curve."""
    env = policy_env(config, checkpoint)
    steps = round(share * config.search_epochs * env.unwrapped.steps_per_epoch)
    if config.agent in ON_POLICY:  # whole rollouts that fill the budget: even_rollout
        from agents.sb3.adapter import even_rollout  # SB3 loads for its own cells only

        config = replace(config, sb3_n_steps=even_rollout(config.agent, steps, config.sb3_n_steps))
    env.reset(seed=config.seed)
    agent = run_agent(config, env)
    if isinstance(agent, Reference):  # greedy past the budget: its row shows what it needed
        agent.overrun = True
    base = env.unwrapped
    budget = steps * agent.pairs_per_step
    one_call = config.agent in (*REFERENCES, *LAYERWISE_AGENTS) or budget == 0
    # an on-policy SB3 agent learns in whole rollouts: no chunk may be shorter than one
    rollout = getattr(getattr(agent, "model", None), "n_steps", 1) * agent.pairs_per_step
    chunks = [budget] if one_call else _chunks(budget, agent.pairs_per_step, rollout)
    curve, searching, goal = [], 0.0, 0
    for chunk in chunks:
        goal += chunk  # what the agent should have spent by now: a rollout's overshoot is
        start = time.perf_counter()  # taken back from the next chunk
        if goal - agent.num_timesteps >= min(rollout, chunk):
            agent.learn(goal - agent.num_timesteps)
        searching += time.perf_counter() - start
        if curve and curve[-1]["pairs"] == agent.num_timesteps:
            continue  # this chunk was shorter than a rollout: no new point
        projected = _projected(agent, env, cell)
        kept = kept_fraction(base.gates, projected.mask, cell.resource)
        val = base.evaluate(projected.mask, "val", adapt_bn=True)
        curve.append(cell.key() | {"pairs": agent.num_timesteps, "val_acc": val, "kept": kept})
    test = base.evaluate(projected.mask, "test", adapt_bn=True)
    env.close()
    return _row(cell, projected, curve, test, searching, command), curve


def _chunks(budget: int, per_step: int, smallest: int) -> list[int]:
    """``budget`` pairs in CURVE_POINTS chunks of whole env steps, or fewer where a chunk
    would be below ``smallest`` pairs."""
    steps = budget // per_step
    points = max(1, min(CURVE_POINTS, budget // smallest))
    edges = [round(steps * k / points) for k in range(points + 1)]
    return [(b - a) * per_step for a, b in zip(edges, edges[1:], strict=False) if b > a]


def _row(
    cell: Cell,
    projected: Projected,
    curve: list[dict[str, Any]],
    test: float,
    seconds: float,
    command: str,
) -> dict[str, Any]:
    kept = curve[-1]["kept"]
    return cell.key() | {
        "agent_kept": projected.agent_kept,
        "changed": projected.changed,
        "kept": kept,
        "matched": abs(kept / cell.target - 1) <= TOLERANCE,
        "val_acc": curve[-1]["val_acc"],
        "test_acc": test,
        "anytime_val": sum(p["val_acc"] for p in curve) / len(curve),
        "pairs": curve[-1]["pairs"],
        "search_s": round(seconds, 1),
        "mask": mask_to_hex(projected.mask),
        **provenance(),
        "command": command,
    }


def mask_to_hex(mask: Tensor) -> str:
    """A bool mask (n_agents,) as hex digits, four agents a digit, the first agent in the
    highest bit of the first digit."""
    bits = "".join("1" if keep else "0" for keep in mask.tolist())
    bits += "0" * (-len(bits) % 4)
    return "".join(f"{int(bits[i : i + 4], 2):x}" for i in range(0, len(bits), 4))


def mask_from_hex(text: str, n_agents: int) -> Tensor:
    """The mask :func:`mask_to_hex` wrote, for a network of ``n_agents`` agents."""
    if len(text) != -(-n_agents // 4):
        raise ValueError(f"a mask of {n_agents} agents has {-(-n_agents // 4)} hex digits")
    bits = "".join(f"{int(digit, 16):04b}" for digit in text)
    return torch.tensor([b == "1" for b in bits[:n_agents]])


def open_search_tables(csv: Path) -> tuple[ResultsCSV, ResultsCSV]:
    """The search-track table at ``csv`` and its anytime curves beside it."""
    curves = csv.with_name(f"{csv.stem}-curves{csv.suffix}")
    return (
        ResultsCSV(csv, SEARCH_COLUMNS, CELL_KEY, SEARCH_NUMBERS),
        ResultsCSV(curves, SEARCH_CURVE_COLUMNS, (*CELL_KEY, "pairs")),
    )


def run_search_grid(
    cells: Sequence[Cell],
    tasks: Mapping[str, CompressConfig],
    checkpoints: Mapping[str, str | Path],
    csv: Path,
    command: str,
    progress: bool = True,
    use_ray: bool = False,
    gpus_per_cell: float = 0.0,
) -> int:
    """Run the cells with no row in ``csv`` yet (every setting checked first; a cell another
    process finished meanwhile is skipped, so two processes can share a grid); returns how
    many ran; cells that cannot run are raised together at the end (:class:`CellsFailed`).
    ``checkpoints``: the frozen baseline of each task. ``use_ray``: cells as Ray tasks of one
    CPU (and ``gpus_per_cell`` GPUs) each on a local Ray (rows written here, as they
    finish)."""
    calls = {}
    for cell in dict.fromkeys(cells):
        if cell.task not in tasks or cell.task not in checkpoints:
            raise SweepError(f"no settings or baseline for task {cell.task!r}")
        config = search_config(tasks[cell.task], cell, checkpoints[cell.task])
        calls[cell] = (cell, config, checkpoints[cell.task], command)
    return run_search_cells(calls, csv, progress, use_ray, gpus_per_cell)


def run_search_cells(
    calls: Mapping[Cell, tuple],
    csv: Path,
    progress: bool = True,
    use_ray: bool = False,
    gpus_per_cell: float = 0.0,
) -> int:
    """Run :func:`search_cell` on each cell's arguments in ``calls`` and append the rows and
    curves to ``csv`` as they come (a row another process wrote meanwhile wins); cells that
    cannot run are raised together at the end (:class:`CellsFailed`)."""
    table, curves = open_search_tables(csv)
    done = table.done()
    todo = [c for c in calls if table.key_of(c.key()) not in done]
    outcomes = each_outcome(search_cell, {c: calls[c] for c in todo}, use_ray, gpus_per_cell)
    ran, failed = 0, []
    for cell, outcome in tqdm(outcomes, total=len(todo), desc="search cells", unit="cell",
                              disable=not progress):  # fmt: skip
        if table.key_of(cell.key()) in table.done():  # another process ran it meanwhile
            continue
        try:
            row, curve = outcome()
        except ValueError as exc:  # one cell that cannot run does not stop the others
            failed.append(f"{cell.name}: {exc}")
            continue
        for point in curve:  # the curve first: a row means the cell is complete
            curves.append(point)
        ran += table.append(row)
    if failed:
        raise CellsFailed(failed, len(todo))
    return ran


SEARCH_TASK = "embedded"
"""The tracks' task: the default task (LeNet-5 on the embedded MNIST subset) with the demo's
phase lengths (30 policy epochs: 299,520 pairs at batch 256), on its shipped baseline."""


def run_track_cells(
    agents: Sequence[str],
    seeds: Sequence[int],
    targets: Sequence[float],
    csv: Path,
    argv: list[str],
    progress: bool = True,
) -> int:
    """The search cells agents x seeds x targets of the tracks' task, rows to ``csv``;
    ``argv`` is the script's command line, recorded with each row."""
    cells = grid([SEARCH_TASK], agents, seeds, targets)
    tasks = {SEARCH_TASK: demo_config(device="auto")}
    checkpoints = {SEARCH_TASK: default_weights()}
    return run_search_grid(cells, tasks, checkpoints, csv, command_line(argv), progress)
