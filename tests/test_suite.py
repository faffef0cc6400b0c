"""The task suite: embedded data, shipped weights (sha256 and recorded accuracy), registered
ids that build offline, refusals in one line, and the suite's leaderboard arithmetic."""

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest
import torch

import decore_env  # noqa: F401  (registers the ids)
from agents.bench.suite import finetune_lengths, full_schedule_agents, suite_cells, tier_tasks
from agents.bench.suite_page import render_suite_from
from agents.bench.suite_report import aggregated, normalised_scores, paired_lines, task_lines
from agents.bench.sweep import SweepError
from decore_env.data import embedded
from decore_env.data.sets import load_dataset
from decore_env.envs.suite import SUITE, shipped_baselines, suite_task
from decore_env.task import weights

ROOT = Path(__file__).resolve().parents[1]
CPU_TIER = [t for t in SUITE if t.tier == "cpu"]
SLOW_SETS = ("embedded_cifar10",)
"""Data sets whose tasks take seconds to build (ResNet-20 on 13,000 colour images)."""


def _maybe_slow(dataset: str):
    return pytest.mark.slow if dataset in SLOW_SETS else ()


@pytest.mark.parametrize(("model", "dataset"), shipped_baselines())
def test_each_shipped_baseline_is_the_recorded_file_with_its_recorded_accuracy(model, dataset):
    """Every machine gets the same task: the file's sha256 is the one in the code, it loads
    tensor-only, and its accuracies are the ones the suite lists."""
    path = weights.shipped_weights(model, dataset)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == weights.SHIPPED_WEIGHTS[model, dataset]
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["command"].startswith(weights.REBUILD_WEIGHTS)
    assert (checkpoint["model"], checkpoint["dataset"]) == (model, dataset)
    for task in (t for t in CPU_TIER if (t.model, t.dataset) == (model, dataset)):
        assert checkpoint["val_accuracy"] == pytest.approx(task.baseline_val, abs=5e-5)
        assert checkpoint["accuracy"] == pytest.approx(task.baseline_test, abs=5e-5)


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """An empty $DECORE_CACHE, and no embedded set loaded in this process (before or after)."""
    monkeypatch.setenv("DECORE_CACHE", str(tmp_path))
    weights.embedded_data.cache_clear()
    yield tmp_path
    weights.embedded_data.cache_clear()


@pytest.mark.parametrize("task", [pytest.param(t, marks=_maybe_slow(t.dataset)) for t in CPU_TIER])
def test_each_cpu_suite_id_builds_offline_on_an_empty_cache_with_its_accuracy(task, empty_cache):
    """gym.make(id) with nothing cached: the task's network, data, budget and pairs, its
    shipped baseline scoring the recorded val accuracy on this machine (up to rounding)."""
    env = gym.make(task.id)
    env.reset(seed=0)
    base = env.unwrapped
    assert (base.task.spec.model, base.task.spec.dataset) == (task.model, task.dataset)
    assert getattr(base.task.spec, f"target_{task.resource}") == task.target
    steps = len(base.task.splits.train_y) // base.task.spec.batch_size
    assert task.pairs == task.search_epochs * steps * base.task.spec.batch_size
    val = base.task.evaluate(torch.ones(base.gates.n_agents, dtype=torch.bool), "val")
    assert abs(val - task.baseline_val) <= 2 / len(base.task.splits.val_y)


def test_embedded_sets_are_class_balanced_with_a_held_out_val_split():
    fashion = load_dataset("embedded_fashion_mnist")
    assert fashion.input_shape == (1, 28, 28)
    assert (len(fashion.train_y), len(fashion.val_y), len(fashion.test_y)) == (8000, 2000, 2000)
    assert torch.bincount(fashion.test_y).tolist() == [200] * 10
    assert torch.bincount(torch.cat([fashion.train_y, fashion.val_y])).tolist() == [1000] * 10


@pytest.mark.slow
def test_the_cifar_subset_is_decoded_once_into_the_cache(empty_cache, monkeypatch):
    tmp_path = empty_cache
    first = load_dataset("embedded_cifar10")
    (cached,) = (tmp_path / "data").iterdir()
    assert first.input_shape == (3, 32, 32) and len(first.test_y) == 3000
    monkeypatch.setattr("PIL.Image.open", None)  # a second load must not decode
    second = load_dataset("embedded_cifar10")
    assert torch.equal(first.train_x, second.train_x) and cached.is_file()


def test_a_missing_or_mismatched_shipped_file_names_itself_and_the_rebuild_command(monkeypatch):
    monkeypatch.setattr(weights, "weights_file", lambda model, dataset: "lenet5-embedded.pt")
    with pytest.raises(weights.MissingWeightsError) as info:
        weights.load_shipped(decore_env.create("resnet20"), "resnet20", "embedded_cifar10")
    message = str(info.value)
    assert "\n" not in message
    assert "lenet5-embedded.pt do not fit resnet20" in message
    assert "python scripts/train_default_weights.py resnet20-embedded_cifar10" in message
    monkeypatch.setattr(weights, "weights_file", lambda model, dataset: "nothing-here.pt")
    with pytest.raises(weights.MissingWeightsError, match="nothing-here.pt of lenet5 on embedded"):
        weights.shipped_weights("lenet5", "embedded")


def test_unknown_task_ids_list_the_suite():
    with pytest.raises(ValueError, match="unknown suite task 'Nope'; the suite: DecoreSuite-"):
        suite_task("Nope")
    with pytest.raises(SweepError, match="unknown cpu-tier tasks \\['Nope'\\]"):
        tier_tasks("cpu", ["Nope"])


def test_the_gpu_tier_is_refused_in_one_line_without_a_gpu(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    csv = tmp_path / "s.csv"
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "suite.py"), "--tier", "gpu", "--csv", str(csv)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "error: --tier gpu needs a CUDA GPU and none is visible here; nothing ran"
    )
    assert not csv.exists()


def test_decore_tasks_lists_the_suite_with_its_baselines():
    out = subprocess.run(
        [sys.executable, "-m", "agents.run.cli", "tasks"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    for task in SUITE:
        assert task.id in out.stdout
    assert "85.60 / 84.55" in out.stdout


def test_suite_cells_take_each_tasks_seeds_and_the_full_schedule_goes_to_the_best_on_val():
    cifar = suite_task("DecoreSuite-ResNet20-CIFAR10-MACs25-v0")
    cells = suite_cells([cifar], ["ppo", "greedy"])
    assert {c.seed for c in cells} == set(range(5)) and len(cells) == 10
    assert {(c.task, c.target, c.resource) for c in cells} == {("resnet20-cifar10", 0.25, "macs")}
    rows = [
        {"agent": agent, "val_acc": str(val), "matched": "True"}
        for agent, val in [("a", 0.5), ("b", 0.9), ("c", 0.7), ("d", 0.8), ("uniform", 0.99)]
    ]  # "uniform" is in the full schedule anyway: it takes no place of the best three
    rows.append({"agent": "e", "val_acc": "0.95", "matched": "False"})  # off target: not ranked
    assert full_schedule_agents(rows) == {"b", "d", "c", "uniform", "l1_global"}


def test_the_full_schedule_waits_for_the_whole_search_of_its_task():
    cifar = suite_task("DecoreSuite-ResNet20-CIFAR10-MACs50-v0")
    agents = ["ppo", "greedy", "uniform"]
    rows = [
        {"agent": a, "seed": str(s), "val_acc": str(v), "matched": "True"}
        for s in range(5)
        for a, v in zip(agents, (0.3, 0.4, 0.1), strict=True)
    ]
    assert finetune_lengths(cifar, rows[:-1], agents) == {1: None}  # one cell short
    plan = finetune_lengths(cifar, rows, agents)
    assert plan == {1: None, cifar.finetune_epochs: {"ppo", "greedy", "uniform", "l1_global"}}


def _row(agent: str, seed: int, acc: float, pairs: int = 100) -> dict[str, str]:
    return {
        "task": "lenet5-fashion",
        "agent": agent,
        "seed": str(seed),
        "target": "0.1",
        "resource": "params",
        "test_acc": str(acc),
        "matched": "True",
        "pairs": str(pairs),
    }


def test_the_normalised_score_is_zero_at_the_random_mask_and_one_at_the_baseline():
    task = suite_task("DecoreSuite-LeNet5-Fashion-Params10-v0")
    rows = [_row("random", 0, 0.2), _row("random", 1, 0.4), _row("x", 0, task.baseline_test)]
    rows += [_row("y", 0, 0.3)]
    scores = normalised_scores(rows, task)
    span = task.baseline_test - 0.3  # the random reference's mean is 0.3
    assert scores["random"] == pytest.approx({0: -0.1 / span, 1: 0.1 / span})
    assert scores["x"] == pytest.approx({0: 1.0}) and scores["y"] == pytest.approx({0: 0.0})
    assert normalised_scores([_row("x", 0, 0.5)], task) == {}  # no random reference: no zero


def test_a_contestant_over_the_pair_budget_is_flagged_not_dropped():
    task = suite_task("DecoreSuite-LeNet5-Fashion-Params10-v0")
    rows = [_row("greedy", 0, 0.7, task.pairs + 256), _row("random", 0, 0.2)]
    rows += [_row("ppo", 0, 0.5, task.pairs + 512)]
    lines = task_lines(rows, task, normalised_scores(rows, task))
    (greedy,) = [line for line in lines if line.startswith("| greedy")]
    assert f"**over budget** (needed up to {task.pairs + 256:,})" in greedy
    (ppo,) = [line for line in lines if line.startswith("| ppo")]
    assert "(up to 512 more: its last rollout)" in ppo and "over budget" not in ppo
    short = [_row("a2c", 0, 0.5, task.pairs // 2), _row("random", 0, 0.2)]
    (a2c,) = [line for line in task_lines(short, task, {}) if line.startswith("| a2c")]
    assert "(as few as 50% of the budget: whole rollouts only)" in a2c


def test_paired_differences_show_both_tracks_side_by_side_over_common_seeds():
    search = [_row("reinforce-plus", s, 0.6 + 0.01 * s) for s in range(3)]
    search += [_row("l1_global", s, 0.5 + 0.01 * s) for s in range(2)]  # seeds 0-1 only
    tuned = [_row("reinforce-plus", s, 0.80) | {"epochs": "1"} for s in range(2)]
    tuned += [_row("l1_global", s, 0.82) | {"epochs": "1"} for s in range(2)]
    lines = paired_lines(search, tuned)
    assert "| search track (one-shot) | fine-tuned 1 epoch(s) |" in lines[0]
    row = next(x for x in lines if x.startswith("| reinforce-plus - l1_global |"))
    assert row == "| reinforce-plus - l1_global | +10.00 [+10.00, +10.00] | -2.00 [-2.00, -2.00] |"
    assert next(x for x in lines if x.startswith("| greedy - l1_global |")).endswith("| - | - |")


def test_the_suite_score_weighs_every_task_the_same_and_labels_it_by_its_place():
    tasks = [suite_task(i) for i in ("DecoreSuite-LeNet5-Fashion-Params10-v0",
                                     "DecoreSuite-ResNet20-CIFAR10-MACs50-v0")]  # fmt: skip
    per_task = {tasks[1].id: {"x": {s: 0.1 * s for s in range(10)}}}
    suite = aggregated(tasks, per_task)
    assert suite == {"T2": {"x": pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])}}  # seeds 0-4 only


def test_the_committed_suite_page_regenerates_byte_for_byte(tmp_path):
    results = ROOT / "benchmarks" / "results"
    if not (results / "suite.md").is_file():
        pytest.skip("no suite page committed yet")
    render_suite_from(results, tmp_path)
    assert (tmp_path / "suite.md").read_text() == (results / "suite.md").read_text()


def _score_rows(lines: list[str], first: int) -> dict[str, list[str]]:
    """contestant -> its suite IQM (without interval) and per-task means, from a table whose
    IQM is column ``first``."""
    rows = {}
    for line in lines:
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) > first and re.match(r"-?\d", cells[first]):
            rows[cells[0].split(" ")[0]] = [cells[first].split(" ")[0], *cells[-5:]]
    return rows


def test_the_readme_suite_table_carries_the_committed_pages_numbers():
    page = (ROOT / "benchmarks" / "results" / "suite.md").read_text().splitlines()
    readme = (ROOT / "README.md").read_text().splitlines()
    start = readme.index("| contestant | suite IQM [95% CI] | T1 | T2 | T3 | T4 | T5 |")
    end = readme.index("", start)
    ours = _score_rows(readme[start:end], 1)
    table = page[page.index("## Search track over the suite") :]
    theirs = _score_rows(table[: table.index("![performance profiles](suite-profiles.png)")], 3)
    assert len(ours) == 13 and ours == {name: theirs[name] for name in ours}


def test_the_embedded_files_are_the_ones_the_package_names():
    assets = ROOT / "decore_env" / "assets"
    for name in embedded.EMBEDDED_FILES.values():
        licence = f"LICENSE-{Path(name).stem.replace('_', '-')}.txt"
        assert (assets / name).is_file() and (assets / licence).is_file()
