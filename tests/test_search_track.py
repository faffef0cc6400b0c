"""The search track: one projection rule for every contestant, rows and curves per cell."""

import csv
from dataclasses import replace

import pytest
import torch
from envs import agent_env, load_benchmark
from random_nets import random_net

from agents.bench.cells import Cell
from agents.bench.search import mask_from_hex, mask_to_hex, run_search_grid, search_config
from agents.bench.search_report import render_search_track
from agents.bench.sweep import SweepError
from agents.references.targets import TOLERANCE, drop_until, kept_fraction, project
from agents.run.config import demo_config
from agents.sb3.adapter import PPO_STEPS, even_rollout
from decore_env.channels.gates import ChannelGates
from decore_env.task.weights import default_weights

TINY = demo_config(policy_epochs=1, device="cpu")
"""The default task with one policy epoch: 9,984 pairs."""


@pytest.fixture(scope="module")
def gates():
    return agent_env(2).unwrapped.gates


def test_an_architecture_on_target_passes_unchanged(gates):
    order = torch.randperm(gates.n_agents, generator=torch.Generator().manual_seed(0))
    mask = drop_until(gates, order, 0.3, "params")
    projected = project(gates, mask, torch.rand(gates.n_agents), 0.3, "params", seed=0)
    assert torch.equal(projected.mask, mask) and projected.changed == 0


def test_an_architecture_off_target_keeps_the_highest_scores_that_meet_it(gates):
    scores = torch.rand(gates.n_agents, generator=torch.Generator().manual_seed(1))
    everything = torch.ones(gates.n_agents, dtype=torch.bool)
    projected = project(gates, everything, scores, 0.1, "params", seed=0)
    kept = kept_fraction(gates, projected.mask, "params")
    assert 0.1 * (1 - TOLERANCE) <= kept <= 0.1 and projected.agent_kept == 1.0
    assert projected.changed == int((~projected.mask).sum())
    assert gates.kept_per_group(projected.mask)[0].min() >= 1
    # dropped in ascending score: only a group's last channel or a skipped drop breaks it
    below = int((scores[projected.mask] < scores[~projected.mask].max()).sum())
    assert below <= len(gates.groups) + 2


def test_when_every_single_drop_overshoots_the_window_a_trade_lands_in_it(monkeypatch):
    """A small network near a low target: dropping channels in order stalls above the window
    (each drop left falls below it); one more drop and the best-ranked channels back land."""
    from torch import nn

    from agents.references import targets

    torch.manual_seed(0)
    layers = [nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 6, 3), nn.ReLU(), nn.Flatten()]
    model = nn.Sequential(*layers, nn.Linear(96, 5), nn.ReLU(), nn.Linear(5, 3))
    small = ChannelGates(model, torch.randn(1, 1, 8, 8))
    order = torch.randperm(small.n_agents, generator=torch.Generator().manual_seed(0))
    landed = drop_until(small, order, 0.16, "params")
    assert 0.16 * (1 - TOLERANCE) <= kept_fraction(small, landed, "params") <= 0.16
    assert small.kept_per_group(landed)[0].min() >= 1
    monkeypatch.setattr(targets, "_land_from_above", lambda gates, mask, *rest: mask)
    stalled = drop_until(small, order, 0.16, "params")
    assert kept_fraction(small, stalled, "params") > 0.16  # the plain order cannot


def _walk(gates, order: torch.Tensor, target: float, resource: str, mask=None) -> torch.Tensor:
    """drop_until as its docstring states it, one drop at a time: the reference it must equal."""
    from agents.references.targets import _land_from_above

    mask = torch.ones(gates.n_agents, dtype=torch.bool) if mask is None else mask.clone()
    left = gates.kept_per_group(mask)[0].long()
    kept = kept_fraction(gates, mask, resource)
    for agent in order.tolist():
        if kept <= target:
            break
        group = int(gates.group_of_agent[agent])
        if not mask[agent] or left[group] <= 1:
            continue
        mask[agent] = False
        after = kept_fraction(gates, mask, resource)
        if after < target * (1 - TOLERANCE):
            mask[agent] = True
            continue
        kept, left[group] = after, left[group] - 1
    if kept > target * (1 + TOLERANCE):
        return _land_from_above(gates, mask, order, target, resource)
    return mask


EXACT_NETS = [s for s in range(40) if random_net(s).expect_exact][:8]
"""Random networks the grouping prunes exactly (the others are refused by design)."""


@pytest.mark.parametrize("seed", EXACT_NETS)
def test_the_bisecting_drop_gives_the_walks_mask_on_random_networks(seed):
    """Random networks, orders, targets and starting masks, skips and trades included."""
    net = random_net(seed)
    gates = ChannelGates(net.model, torch.randn(1, 3, net.side, net.side))
    draw = torch.Generator().manual_seed(seed)
    for case, target in enumerate((0.03, 0.1, 0.3, 0.5, 0.8) * 2):
        resource = ("params", "macs")[case % 2]
        order, start = torch.randperm(gates.n_agents, generator=draw), None
        if case >= 5:  # a prefix of the order on a partly dropped mask, as greedy asks
            start = torch.rand(gates.n_agents, generator=draw) > 0.3
            start |= gates.kept_per_group(start)[0][gates.group_of_agent] == 0
            order = order[: gates.n_agents // 2]
        expected = _walk(gates, order, target, resource, start)
        assert torch.equal(drop_until(gates, order, target, resource, start), expected)
    with pytest.raises(ValueError, match="names an agent twice"):
        drop_until(gates, torch.tensor([0, 1, 0]), 0.5, "params")


def test_ties_are_broken_by_the_seed(gates):
    flat = torch.full((gates.n_agents,), 0.5)
    everything = torch.ones(gates.n_agents, dtype=torch.bool)
    masks = [project(gates, everything, flat, 0.3, "params", seed=s).mask for s in (0, 0, 1)]
    assert torch.equal(masks[0], masks[1]) and not torch.equal(masks[0], masks[2])


def test_a_mask_survives_its_hex_text(gates):
    mask = torch.rand(gates.n_agents, generator=torch.Generator().manual_seed(2)) > 0.5
    assert torch.equal(mask_from_hex(mask_to_hex(mask), gates.n_agents), mask)
    with pytest.raises(ValueError, match="hex digits"):
        mask_from_hex("ff", gates.n_agents)


def test_an_on_policy_rollout_splits_the_budget_evenly():
    assert even_rollout("ppo", 75) == 25  # 3 rollouts: 32 would leave 11 steps or overrun 21
    assert even_rollout("ppo", 1170) == PPO_STEPS  # 37 rollouts, 14 steps over
    assert even_rollout("a2c", 1178) == 5 and even_rollout("ppo", 7) == 7
    assert even_rollout("ppo", 100, longest=10) == 10


def test_a_contestant_that_trains_the_network_is_sent_to_the_fine_tune_track():
    cell = Cell("embedded", "reinforce+early-settle", 0, 0.1)
    with pytest.raises(SweepError, match="fine-tune track"):
        search_config(TINY, cell, default_weights())


def test_every_contestant_lands_on_target_and_a_rerun_runs_nothing(tmp_path, gates):
    cells = [Cell("embedded", a, 0, 0.1) for a in ("reinforce", "l1_global", "ppo")]
    table = tmp_path / "search.csv"
    args = ({"embedded": TINY}, {"embedded": default_weights()}, table, "cmd", False)
    assert run_search_grid(cells, *args) == 3
    with table.open() as f:
        rows = {r["agent"]: r for r in csv.DictReader(f)}
    assert all(r["matched"] == "True" for r in rows.values())
    for row in rows.values():  # the row's mask is the architecture it measured
        mask = mask_from_hex(row["mask"], gates.n_agents)
        assert kept_fraction(gates, mask, "params") == pytest.approx(float(row["kept"]))
    assert rows["l1_global"]["changed"] == "0" and rows["l1_global"]["pairs"] == "0"
    assert int(rows["reinforce"]["changed"]) > 0  # paper mode keeps almost all at 1 epoch
    assert int(rows["reinforce"]["pairs"]) == 39 * 256  # the budget, spent exactly
    assert int(rows["ppo"]["pairs"]) == 40 * 256  # 2 rollouts of 20 steps (even_rollout)
    with (tmp_path / "search-curves.csv").open() as f:
        curve = [r for r in csv.DictReader(f) if r["agent"] == "reinforce"]
    assert len(curve) == 10 and int(curve[-1]["pairs"]) == 39 * 256
    assert run_search_grid(cells, *args) == 0
    with table.open() as f:
        written = render_search_track(list(csv.DictReader(f)), [], tmp_path, "search")
    text = written[0].read_text()
    assert all(f"| {agent} | 1/1 |" in text for agent in rows)
    assert all(p.is_file() for p in written)


def test_the_fine_tune_track_prunes_each_searched_architecture_and_ranks_both_tracks(
    tmp_path, gates
):
    from agents.bench import finetune

    cells = [Cell("embedded", a, s, 0.1) for a in ("l1_global", "random") for s in (0, 1)]
    search = tmp_path / "search.csv"
    args = ({"embedded": TINY}, {"embedded": default_weights()}, search, "cmd", False)
    run_search_grid(cells, *args)
    with search.open() as f:
        rows = list(csv.DictReader(f))
    table = tmp_path / "tuned.csv"
    lengths = {1: None, 2: {"l1_global"}}  # the longer length for one contestant only
    grid = (rows, [0, 1], TINY, default_weights(), table, "cmd", False)
    assert finetune.run_finetune_grid(*grid, lengths=lengths) == 6
    assert finetune.run_finetune_grid(*grid, lengths=lengths) == 0
    with table.open() as f:
        tuned = list(csv.DictReader(f))
    assert {r["agent"] for r in tuned if r["epochs"] == "2"} == {"l1_global"}
    searched = {(r["agent"], r["seed"]): r for r in rows}
    for row in tuned:
        mask = searched[row["agent"], row["seed"]]["mask"]
        params, _ = gates.cost(mask_from_hex(mask, gates.n_agents)[None])
        assert int(row["params"]) == round(float(params[0]))  # the searched architecture
        assert float(row["test_acc"]) > float(row["search_test_acc"])  # an epoch repairs it
    one_epoch = [r for r in tuned if r["epochs"] == "1"]
    (key,) = finetune.rank_correlations(one_epoch)
    assert key == ("0.1", 1)
    assert finetune.render_finetune_track(one_epoch, tmp_path / "tuned.md").is_file()


@pytest.mark.slow
def test_paper_mode_with_joint_training_is_a_labelled_row_not_ranked(tmp_path, monkeypatch):
    from agents.bench import finetune

    monkeypatch.setattr(finetune, "JOINT_FINETUNE_EPOCHS", 1)
    table, work = tmp_path / "tuned.csv", tmp_path / "work"
    args = (TINY, default_weights(), table, work, "cmd", False)
    assert finetune.run_joint_rows("embedded", [0], *args) == 1
    assert finetune.run_joint_rows("embedded", [0], *args) == 0  # resumable
    (row,) = finetune.ResultsCSV(table, finetune.FINETUNE_COLUMNS, ("agent",)).rows()
    assert row["agent"] == finetune.JOINT and row["epochs"] == "2"  # 1 joint + 1 fine-tune
    assert 0 < float(row["test_acc"]) <= 1 and int(row["params"]) > 0
    text = finetune.render_finetune_track([row], tmp_path / "tuned.md").read_text()
    assert "## Paper-mode DECORE with its own joint training (labelled, not ranked)" in text
    assert "Spearman" not in text  # one labelled row: nothing ranked


def test_a_cell_another_process_finished_meanwhile_is_not_run_again(tmp_path, monkeypatch):
    from agents.bench import search

    first, second = (Cell("embedded", "uniform", seed, 0.1) for seed in (0, 1))
    table = search.open_search_tables(tmp_path / "s.csv")[0]

    def row(cell):
        return dict.fromkeys(search.SEARCH_COLUMNS, "0") | cell.key()

    def other_process_runs_the_second(cell, *args):
        table.append(row(second))  # meanwhile, another process appended the second cell
        return row(cell), []

    monkeypatch.setattr(search, "search_cell", other_process_runs_the_second)
    args = ({"embedded": TINY}, {"embedded": default_weights()}, tmp_path / "s.csv", "cmd")
    assert run_search_grid([first, second], *args, progress=False) == 1
    assert len(table.rows()) == 2


def test_a_mean_reward_contestant_differs_only_in_its_reward_and_renders_paired(tmp_path):
    plain = search_config(TINY, Cell("embedded", "a2c", 0, 0.1), default_weights())
    mean = search_config(TINY, Cell("embedded", "a2c-mean-reward", 0, 0.1), default_weights())
    assert mean.reward_reduction == "mean" and replace(mean, reward_reduction="sum") == plain
    rows = [
        {"agent": agent, "seed": str(seed), "val_acc": str(acc + seed / 100 - 1)}
        | {"agent_kept": "0.2", "anytime_val": "0.4"}
        for agent, acc in (("a2c", 0.5), ("a2c-mean-reward", 0.6))
        for seed in (100, 101)
    ]
    text = load_benchmark("reward_scale").render(rows, tmp_path / "scale.md").read_text()
    assert "| a2c | 100, 101 | 50.50 / 60.50 | +10.00 [+10.00, +10.00] | 0.200 / 0.200 |" in text
    assert "| ppo |" not in text  # no rows, no line


def test_an_agent_off_target_without_keep_scores_is_refused_by_name(monkeypatch, gates):
    from agents.bench import search

    class Blind:
        """Keeps everything and cannot say which channels it values."""

        pairs_per_step, num_timesteps = 256, 0

        def learn(self, pairs):
            self.num_timesteps += pairs

        def predict(self, observation=None, deterministic=True):
            return torch.ones(gates.n_agents, dtype=torch.int8).numpy(), None

    monkeypatch.setattr(search, "run_agent", lambda config, env: Blind())
    with pytest.raises(SweepError, match="reinforce missed the target and exposes no keep"):
        cell = Cell("embedded", "reinforce", 0, 0.1)
        search.search_cell(
            cell, search_config(TINY, cell, default_weights()), default_weights(), ""
        )
