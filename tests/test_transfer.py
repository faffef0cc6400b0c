"""The transfer track: its cells, its refusals, a zero-shot cell end to end, its tables."""

import pytest
import torch
from envs import load_benchmark

from agents.bench.results import ResultsCSV
from agents.bench.search import search_cell
from agents.bench.sweep import SweepError
from agents.bench.transfer import (
    FEW_SHOT,
    HELD_OUT,
    TRAIN_SEARCHES,
    TRAIN_TASKS,
    TRAINING_COLUMNS,
    check_held_out,
    policy_path,
    train_missing,
    transfer_calls,
)
from agents.bench.transfer_report import transfer_lines
from agents.native.shared_net import SharedKeepNet
from decore_env.envs.suite import suite_task

FASHION = "DecoreSuite-LeNet5-Fashion-Params10-v0"


def test_a_training_task_cannot_be_held_out():
    with pytest.raises(SweepError, match="is a training task of the transfer track"):
        check_held_out(TRAIN_TASKS, [FASHION, TRAIN_TASKS[0]])
    with pytest.raises(SweepError, match="cannot be held out"):
        transfer_calls([TRAIN_TASKS[1]], [0], None, "")
    assert not set(HELD_OUT) & set(TRAIN_TASKS)


def test_each_held_out_cell_gets_its_seeds_policy_and_its_share_of_the_budget(tmp_path):
    calls = transfer_calls([FASHION], [3], tmp_path, "cmd")
    by_agent = {cell.agent: args for cell, args in calls.items()}
    zero = by_agent["shared-native:zero-shot"][1]
    assert by_agent["shared-native:zero-shot"][4] == 0.0  # no step of the search
    assert zero.policy_file == str(policy_path(tmp_path, "shared-native", 3).resolve())
    few = by_agent["shared-ppo:few-shot"]
    assert few[1].agent == "shared-reinforce" and few[1].policy_epochs > 0
    assert few[4] == FEW_SHOT and by_agent["greedy:few-shot"][4] == FEW_SHOT
    assert by_agent["l1_global"][1].policy_file is None and by_agent["l1_global"][4] == 1.0
    assert {cell.seed for cell in calls} == {3}
    assert {(c.task, c.target, c.resource) for c in calls} == {("lenet5-fashion", 0.1, "params")}


def test_a_zero_shot_cell_scores_no_pair_and_takes_the_files_architecture(tmp_path):
    torch.manual_seed(0)
    net = SharedKeepNet()
    torch.nn.init.normal_(net.head.weight)  # a policy that ranks channels by their inputs
    masks = []
    for sign in (1, -1):  # the file's ranking, then its reverse
        with torch.no_grad():
            net.head.weight.mul_(sign)
        net.save(policy_path(tmp_path, "shared-native", 0))
        calls = transfer_calls([FASHION], [0], tmp_path, "cmd")
        args = next(a for c, a in calls.items() if c.agent == "shared-native:zero-shot")
        row, curve = search_cell(*args)
        assert row["pairs"] == 0 and len(curve) == 1 and row["changed"] == 0  # its own mask
        assert row["kept"] == pytest.approx(0.1, rel=0.02)
        masks.append(row["mask"])
    assert masks[0] != masks[1]


def _record_training(tmp_path, searches: int) -> None:
    table = ResultsCSV(tmp_path / "t.csv", TRAINING_COLUMNS, ("trainer", "seed", "task"))
    row = {"trainer": "shared-native", "seed": 0, "task": "x", "searches": searches}
    table.append(row | {"pairs": 1, "seconds": 1, "sha256": "0", "commit": "", "command": ""})


def test_recorded_training_without_its_policy_file_is_refused(tmp_path):
    _record_training(tmp_path, TRAIN_SEARCHES["shared-native"])
    with pytest.raises(SweepError, match="shared-native-seed0.pt is missing: restore"):
        train_missing([0], tmp_path / "policies", tmp_path / "t.csv", "")


def test_a_policy_trained_with_other_training_budgets_is_refused(tmp_path):
    _record_training(tmp_path, TRAIN_SEARCHES["shared-native"] + 1)
    policy_path(tmp_path, "shared-native", 0).write_bytes(b"")
    with pytest.raises(SweepError, match=r"trained with \d+x .* TRAIN_SEARCHES now gives"):
        train_missing([0], tmp_path, tmp_path / "t.csv", "")


def _row(agent: str, seed: int, acc: float) -> dict[str, str]:
    task = suite_task(FASHION)
    return {"task": task.track_task, "agent": agent, "seed": str(seed), "target": "0.1",
            "resource": "params", "test_acc": str(acc), "pairs": "0"}  # fmt: skip


def test_the_transfer_tables_pair_each_policy_with_each_reference_by_seed():
    rows = [_row("shared-native:zero-shot", s, 0.5 + 0.01 * s) for s in range(3)]
    rows += [_row("l1_global", s, 0.4 + 0.01 * s) for s in range(3)]  # 10 points below, each seed
    rows += [_row("uniform", s, 0.3) for s in range(2)]  # two seeds only
    text = "\n".join(transfer_lines(rows, []))
    assert f"### `{FASHION}`" in text
    line = next(x for x in text.splitlines() if x.startswith("| shared-native:zero-shot | +"))
    cells = [c.strip() for c in line.split("|")[2:-1]]
    assert cells[2] == "+10.00 [+10.00, +10.00]"  # vs l1_global: the same 10 points each seed
    assert cells[0].startswith("+20.50 [") and cells[3] == "-"  # uniform: seeds 0-1; random: none
    assert "| shared-native:zero-shot | 0 | 51.00 [" in text
    assert transfer_lines([], []) == []
    few = [_row("shared-native:few-shot", s, 0.5) | {"pairs": "3840"} for s in range(2)]
    few += [_row("greedy:few-shot", s, 0.6) | {"pairs": str(3840 + 512 * s)} for s in range(2)]
    text = "\n".join(transfer_lines(few, []))
    assert "| greedy:few-shot | 4,352 **over budget** | 60.00" in text
    assert "| shared-native:few-shot | 3,840 | 50.00" in text
    assert "| vs greedy:few-shot (over budget) |" in text  # the differences say so too
    ppo = [r | {"agent": r["agent"].replace("shared-native", "shared-ppo")} for r in few]
    assert "4,352 **over budget**" in "\n".join(transfer_lines(ppo, []))  # either trainer's


def test_rows_of_a_task_outside_held_out_are_shown():
    other = suite_task("DecoreSuite-LeNet5-MNIST-Params3-v0")
    rows = [_row("l1_global", s, 0.4) | {"task": other.track_task, "target": "0.03"}
            for s in range(2)]  # fmt: skip
    assert f"### `{other.id}`" in "\n".join(transfer_lines(rows, []))


def test_a_policy_is_not_trained_again_beside_rows_of_the_one_it_replaces(tmp_path):
    rows = [_row("shared-native:zero-shot", 0, 0.5)]
    with pytest.raises(SweepError, match="rows of shared-native seed 0 but its training is not"):
        train_missing([0], tmp_path, tmp_path / "t.csv", "", held_out_rows=rows)
    assert not (tmp_path / "t.csv").exists() and not list(tmp_path.glob("*.pt"))


def test_the_script_refuses_a_training_task_as_held_out_before_any_work(tmp_path, capsys):
    script = load_benchmark("transfer")
    assert script.main(["--held-out", TRAIN_TASKS[0], "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is a training task" in err
    assert script.main(["--held-out", "Nope-v0", "--results", str(tmp_path)]) == 2
    assert "unknown suite task 'Nope-v0'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
