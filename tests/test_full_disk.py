"""Files that survive a full disk, two writers and hand-edited inputs: the previous content
stays whole, the rerun recovers, and the user reads one line naming the file and the fix."""

import errno
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from test_leaderboard import _board, _report, _row

from agents.bench.results import ResultsCSV
from agents.run.cli import main
from agents.run.folders import RunError, read_report
from decore_env import models
from decore_env.channels.gates import ChannelGates
from decore_env.channels.surgery import PrunedFileError, connected_keep, load_pruned, prune
from decore_env.common.disk import DiskFullError
from decore_env.common.files import CheckpointError, atomic_save, atomic_write, load_weights

TINY = ["--baseline-epochs", "1", "--policy-epochs", "1", "--finetune-epochs", "0"]


def fill_disk_after(monkeypatch, writes: int) -> None:
    """From the ``writes + 1``-th fsync on, the disk is full (ENOSPC), as on a real one."""
    real, calls = os.fsync, [0]

    def fsync(fd):
        calls[0] += 1
        if calls[0] > writes:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def test_an_atomic_write_on_a_full_disk_keeps_the_old_file_and_names_the_folder(tmp_path):
    path = tmp_path / "table.md"
    path.write_text("the old table")

    def half_then_full(f):
        f.write(b"half a new ta")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DiskFullError, match=f"no space left on {tmp_path}: free some space"):
        atomic_write(path, half_then_full)
    assert path.read_text() == "the old table"
    assert [p.name for p in tmp_path.iterdir()] == ["table.md"]  # no temp file left


def test_a_torch_save_on_a_full_disk_is_a_disk_full_error_not_torchs_zip_error(
    tmp_path, monkeypatch
):
    fill_disk_after(monkeypatch, 0)
    with pytest.raises(DiskFullError, match="no space left on"):
        atomic_save({"w": torch.zeros(1000)}, tmp_path / "state.pt")
    assert list(tmp_path.iterdir()) == []


def test_a_results_row_on_a_full_disk_leaves_the_csv_whole_and_the_rerun_appends_it(
    tmp_path, monkeypatch
):
    table = ResultsCSV(tmp_path / "r.csv", ["agent", "seed"], key=["agent", "seed"])
    table.append({"agent": "uniform", "seed": 0})
    before = (tmp_path / "r.csv").read_bytes()
    with monkeypatch.context() as patch:
        fill_disk_after(patch, 0)
        with pytest.raises(DiskFullError, match="no space left on"):
            table.append({"agent": "random", "seed": 0})
    assert (tmp_path / "r.csv").read_bytes() == before
    assert table.append({"agent": "random", "seed": 0})
    assert table.done() == {("uniform", "0"), ("random", "0")}


@pytest.mark.slow
def test_decore_compress_on_a_full_disk_ends_in_one_line_and_resumes(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        fill_disk_after(patch, 2)  # the run folder has started
        assert main(["compress", *TINY, "--no-progress", "--out", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: no space left on {run}: free some space there and run again (the "
                   "files written before are intact)"]  # fmt: skip
    assert main(["compress", "--resume", str(run), "--no-progress"]) == 0
    assert read_report(run)["pruned"]["params"] > 0


def test_report_on_a_full_disk_keeps_the_previous_markdown(tmp_path, monkeypatch, capsys):
    csv = _board(tmp_path, [_row("reinforce", 0, 0.97, 0.1), _row("l1_global", 0, 0.98, 0.1)])
    report = _report()
    assert report.main(["--csv", str(csv)]) == 0
    before = (tmp_path / "leaderboard.md").read_bytes()
    capsys.readouterr()
    with monkeypatch.context() as patch:
        fill_disk_after(patch, 0)
        assert report.main(["--csv", str(csv)]) == 2
    assert capsys.readouterr().err.startswith(f"error: no space left on {tmp_path}")
    assert (tmp_path / "leaderboard.md").read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--csv", "missing.csv"], "missing.csv does not exist: run benchmarks/compare_agents.py"),
        (["--out-dir", "/proc/board"], "--out-dir /proc/board: cannot write in /proc"),
    ],
)
def test_report_refuses_a_missing_csv_and_a_read_only_folder_in_one_line(
    tmp_path, monkeypatch, capsys, argv, message
):
    monkeypatch.chdir(tmp_path)
    csv = _board(tmp_path, [_row("reinforce", 0, 0.97, 0.1)])
    argv = argv if argv[0] == "--csv" else ["--csv", str(csv), *argv]
    assert _report().main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_follow_over_a_bad_row_is_refused_before_any_cell_runs(tmp_path, capsys):
    from envs import load_benchmark

    csv = _board(tmp_path, [_row("reinforce", 0, 0.97, 0.1)])
    text = csv.read_text().replace("embedded,reinforce,0,", "embedded,reinforce,zero,")
    csv.write_text(text)
    argv = ["--agents", "reinforce", "--seeds", "0", "--csv", str(csv), "--follow"]
    argv += ["--work-dir", str(tmp_path / "work")]
    assert load_benchmark("compare_agents").main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {csv} line 2 column seed: 'zero' is not a finite number; repair "
                   "or remove that line"]  # fmt: skip
    assert csv.read_text() == text and not (tmp_path / "work").exists()


@pytest.mark.slow
def test_the_runner_on_a_full_disk_stops_in_one_line(tmp_path, monkeypatch, capsys):
    from envs import load_benchmark

    fill_disk_after(monkeypatch, 0)
    argv = ["--agents", "uniform", "--seeds", "0", "--csv", str(tmp_path / "board.csv")]
    argv += ["--work-dir", str(tmp_path), "--no-progress"]
    assert load_benchmark("compare_agents").main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: no space left on {tmp_path}")
    assert not (tmp_path / "board.csv").exists()


WRITER = """
import sys
from agents.bench.results import ResultsCSV

table = ResultsCSV(sys.argv[1], ["agent", "seed", "writer"], key=["agent", "seed"])
for seed in range(40):
    table.append({"agent": "uniform", "seed": seed, "writer": sys.argv[2]})
"""


def test_two_writer_processes_on_one_table_append_each_row_exactly_once(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(WRITER))
    csv = tmp_path / "r.csv"
    writers = [
        subprocess.Popen([sys.executable, str(script), str(csv), name]) for name in ("a", "b")
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    rows = ResultsCSV(csv, ["agent", "seed", "writer"], key=["agent", "seed"]).rows()
    assert sorted(int(r["seed"]) for r in rows) == list(range(40))


@pytest.mark.slow
def test_two_runner_processes_on_one_table_run_each_cell_once_and_both_succeed(tmp_path):
    from envs import BENCHMARKS

    argv = [sys.executable, str(BENCHMARKS / "compare_agents.py"), "--agents", "uniform"]
    argv += ["random", "--seeds", "0", "--csv", str(tmp_path / "b.csv"), "--no-progress"]
    argv += ["--work-dir", str(tmp_path / "work")]
    runners = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [r.communicate(timeout=600)[0] for r in runners]
    assert [r.returncode for r in runners] == [0, 0], outputs
    rows = (tmp_path / "b.csv").read_text().splitlines()[1:]
    assert sorted(r.split(",")[1] for r in rows) == ["random", "uniform"]


def test_a_corrupt_report_is_named_with_its_fix(tmp_path):
    (tmp_path / "report.json").write_text('{"pruned": \x01}')
    with pytest.raises(RunError, match=f"{tmp_path / 'report.json'} is not valid JSON .* delete"):
        read_report(tmp_path)


@pytest.fixture
def pruned_file(tmp_path):
    """A pruned LeNet-5 saved the way a run saves it, and its fields."""
    from decore_env.channels.surgery import save_pruned

    model = models.create("lenet5")
    x = torch.zeros(1, 1, 28, 28)
    gates = ChannelGates(model, x)
    keep = connected_keep(gates.split(torch.ones(gates.n_agents)), gates.groups, model)
    path = tmp_path / "pruned.pt"
    save_pruned(path, prune(model, keep, x), keep, (1, 28, 28), "lenet5", 10)
    return path, torch.load(path, weights_only=True)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s | {"version": "x"}, "field 'version' is 'x', not an int"),
        (lambda s: {k: v for k, v in s.items() if k != "input_shape"}, "no 'input_shape' field"),
        (lambda s: {k: v for k, v in s.items() if k != "state_dict"}, "no 'state_dict' field"),
        (lambda s: s | {"input_shape": [1, 28]}, "field 'input_shape' is [1, 28], not three"),
        (lambda s: s | {"keep": {"0": [1, 0]}}, "field 'keep' is"),
        (lambda s: s | {"keep": {"0": torch.ones(99, dtype=torch.bool)}}, "keep masks do not fit"),
    ],
)
def test_a_malformed_pruned_file_is_refused_naming_the_field(pruned_file, edit, message):
    path, saved = pruned_file
    torch.save(edit(saved), path)
    with pytest.raises(PrunedFileError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_pruned(path)


def test_a_state_dict_mismatch_names_every_key_and_shape(tmp_path):
    state = models.create("lenet5").state_dict()
    state["extra.weight"] = torch.zeros(1)
    state["0.weight"] = torch.zeros(6, 1, 3, 3)
    del state["0.bias"]
    with pytest.raises(CheckpointError) as error:
        load_weights(models.create("lenet5"), state)
    text = str(error.value)
    assert '"0.bias"' in text and '"extra.weight"' in text
    assert "size mismatch for 0.weight" in text and "torch.Size([6, 1, 3, 3])" in text
    assert "\n" not in text


def test_export_refuses_a_pruned_file_of_another_run(pruned_file, capsys):
    path, saved = pruned_file
    params = sum(v.numel() for k, v in saved["state_dict"].items() if "running" not in k)
    (path.parent / "report.json").write_text(json.dumps({"pruned": {"params": params + 1}}))
    assert main(["export", str(path.parent)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"pruned.pt has {params:,} params but" in err[0]
    assert f"records {params + 1}" in err[0] and not (path.parent / "pruned.pt2").exists()
