"""The benchmark sweep: one row per cell, resumable, one baseline per seed, fair epochs."""

import csv
from pathlib import Path

import pytest
import torch
from envs import EPOCH_STEPS, load_benchmark

from agents.bench.results import SchemaError
from agents.bench.sweep import SweepError, grid, open_tables, run_grid
from agents.run.config import demo_config
from agents.run.pipeline import compress, run_baseline

TINY = demo_config(baseline_epochs=1, policy_epochs=1, finetune_epochs=1, log_every=5)
"""The default task, one epoch per phase."""


def _rows(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_a_grid_writes_one_row_per_cell_and_resumes(tmp_path):
    cells = grid(["embedded"], ["reinforce-demo", "l1_global"], [0], [0.3])
    table = tmp_path / "board.csv"
    ran = run_grid(cells, {"embedded": TINY}, table, tmp_path / "work", "cmd", progress=False)
    assert ran == 2
    rows = {r["agent"]: r for r in _rows(table)}
    assert set(rows) == {"reinforce-demo", "l1_global"}
    # the same baseline for both, the same network-training epochs (joint 1 + fine-tune 1
    # for the agent that trains the network, 2 fine-tune epochs for the reference)
    assert rows["reinforce-demo"]["baseline_acc"] == rows["l1_global"]["baseline_acc"]
    assert rows["reinforce-demo"]["network_epochs"] == rows["l1_global"]["network_epochs"] == "2"
    assert rows["l1_global"]["finetune_epochs"] == "2" and rows["l1_global"]["pairs"] == "0"
    assert rows["reinforce-demo"]["pairs"] == str(
        EPOCH_STEPS * 256
    )  # one epoch of the embedded set
    assert rows["l1_global"]["matched"] == "True"
    assert abs(float(rows["l1_global"]["params_kept"]) / 0.3 - 1) <= 0.02
    curve = _rows(tmp_path / "board-curves.csv")
    pairs = [int(r["pairs"]) for r in curve if r["agent"] == "reinforce-demo"]
    assert pairs == [5 * 256 * k for k in range(1, EPOCH_STEPS // 5 + 1)]  # every log_every steps
    assert not any(r["agent"] == "l1_global" for r in curve)  # it scores no masks
    before = table.read_text()
    assert run_grid(cells, {"embedded": TINY}, table, tmp_path / "work", "cmd") == 0
    assert table.read_text() == before


def test_the_shared_baseline_is_the_one_a_run_trains_itself(tmp_path):
    config = demo_config(baseline_epochs=1, policy_epochs=1, finetune_epochs=1, seed=3)
    shared = torch.load(run_baseline(config, tmp_path / "b.pt", progress=False), weights_only=True)
    compress(config, tmp_path / "run", progress=False)
    own = torch.load(tmp_path / "run" / "baseline.pt", weights_only=True)
    for name, tensor in own["state_dict"].items():
        assert torch.equal(tensor, shared["state_dict"][name]), name


def test_bad_grids_are_refused_before_any_cell_runs(tmp_path):
    with pytest.raises(SweepError, match="unknown agents"):
        grid(["embedded"], ["dqn"], [0], [0.1])
    other = tmp_path / "other.csv"
    other.write_text("agent,accuracy\nppo,0.9\n")
    with pytest.raises(SchemaError):
        open_tables(other)
    cells = grid(["embedded"], ["l1_global"], [0], [0.1])
    with pytest.raises(SweepError, match="no settings for tasks"):
        run_grid(cells, {}, tmp_path / "a.csv", tmp_path / "work", "cmd")
    assert not (tmp_path / "work").exists() and not (tmp_path / "a.csv").exists()


def test_the_command_line_refuses_an_unknown_agent_and_another_schema(tmp_path, capsys):
    main = load_benchmark("compare_agents").main
    with pytest.raises(SystemExit) as exit_info:
        main(["--agents", "dqn", "--csv", str(tmp_path / "a.csv")])
    assert exit_info.value.code == 2 and "unknown agents ['dqn']" in capsys.readouterr().err
    other = tmp_path / "other.csv"
    other.write_text("agent,accuracy\n")
    assert main(["--agents", "l1_global", "--csv", str(other)]) == 2
    assert "another results file" in capsys.readouterr().err
    assert other.read_text() == "agent,accuracy\n"


def test_two_cells_run_as_tasks_of_a_local_ray(tmp_path):
    ray = pytest.importorskip("ray")
    cells = grid(["embedded"], ["l1_global"], [0, 1], [0.3])
    table = tmp_path / "board.csv"
    try:
        ran = run_grid(
            cells, {"embedded": TINY}, table, tmp_path / "work", "cmd", use_ray=True, progress=False
        )
    finally:
        ray.shutdown()
    assert ran == 2
    rows = _rows(table)
    assert sorted(r["seed"] for r in rows) == ["0", "1"] and all(
        r["matched"] == "True" for r in rows
    )


def test_cells_are_unique_and_followers_sit_at_the_rl_rows_fractions():
    from agents.bench.cells import Cell
    from agents.bench.sweep import follower_cells

    assert grid(["embedded"], ["l1_global", "l1_global"], [0, 0], [0.1]) == [
        Cell("embedded", "l1_global", 0, 0.1)
    ]
    rows = [
        {"task": "embedded", "agent": "reinforce", "seed": "1", "target": "0.1",
         "resource": "params", "params_kept": "0.123456"},
        {"task": "embedded", "agent": "ppo", "seed": "1", "target": "0.1",
         "resource": "params", "params_kept": "0.123456"},
        {"task": "embedded", "agent": "uniform", "seed": "1", "target": "0.1",
         "resource": "params", "params_kept": "0.3"},
    ]  # fmt: skip
    assert follower_cells(rows, "embedded", 0.1) == [Cell("embedded", "l1_global", 1, 0.1235)]


def test_a_cell_that_cannot_run_is_reported_and_the_others_run(tmp_path):
    from agents.bench.sweep import CellsFailed

    cells = grid(["embedded"], ["l1_global"], [0], [0.001, 0.3])  # 0.1%: below any mask
    tiny = demo_config(baseline_epochs=1, policy_epochs=1, finetune_epochs=0)
    table = tmp_path / "board.csv"
    with pytest.raises(CellsFailed, match="1 of 2 cells failed") as failed:
        run_grid(cells, {"embedded": tiny}, table, tmp_path / "work", "cmd", progress=False)
    assert "params0.001" in failed.value.failed[0] and "cannot reach" in failed.value.failed[0]
    assert [r["target"] for r in _rows(table)] == ["0.3"]


def test_frozen_searchers_get_the_policy_epochs_as_fine_tuning_and_ablations_differ_by_one_lever():
    from agents.bench.cells import Cell
    from agents.bench.sweep import CONTESTANTS, cell_config
    from agents.run.config import ADDED_LEVERS, PLUS_LEVERS, PLUS_PRESET, PRESET_LEVERS

    task = demo_config()
    epochs = task.finetune_epochs + task.policy_epochs
    joint_training = {
        "reinforce-plus": False,
        "reinforce+frozen-search": False,
        "reinforce-plus-no-frozen-search": True,
        "reinforce-demo": True,
    }
    for agent, joint in joint_training.items():
        config = cell_config(task, Cell("embedded", agent, 0, 0.1), "b.pt")
        assert config.train_network is joint, agent
        assert (config.search_epochs if joint else 0) + config.tuning_epochs == epochs, agent
    paper = {"agent_lr": 0.01, "init_weight": 6.9, "reward_baseline": False}
    paper |= {"normalize_rewards": False, "final_architecture": "threshold", "train_network": True}
    for lever in PRESET_LEVERS:  # left out: that lever alone back at paper mode's values
        settings = CONTESTANTS[f"reinforce-plus-no-{lever}"]
        changed = {k for k in PLUS_PRESET if settings[k] != PLUS_PRESET[k]}
        assert changed == set(PLUS_LEVERS[lever]), lever
        assert all(settings[k] == paper[k] for k in changed), lever
    for lever in ADDED_LEVERS:
        settings = CONTESTANTS[f"reinforce-plus+{lever}"]
        assert settings == {"agent": "reinforce-plus", **PLUS_PRESET, **PLUS_LEVERS[lever]}
        assert not set(PLUS_LEVERS[lever]) & set(PLUS_PRESET), lever


def test_a_frozen_network_cannot_hand_search_epochs_to_fine_tuning():
    with pytest.raises(ValueError, match="search_share < 1 .* needs --train-network"):
        demo_config(train_network=False, search_share=0.5)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", "-1"], "--seeds must be ints >= 0"),
        (["--csv", "."], "is a folder; give the path of a .csv file"),
        (["--csv", "/proc/board.csv"], "cannot write in /proc"),
    ],
)
def test_bad_sweep_arguments_are_one_line_before_any_work(tmp_path, capsys, argv, message):
    main = load_benchmark("compare_agents").main
    with pytest.raises(SystemExit) as exit_info:
        main(["--agents", "l1_global", "--work-dir", str(tmp_path / "work"), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and message in err[-1] and "Traceback" not in "".join(err)
    assert not (tmp_path / "work").exists()
