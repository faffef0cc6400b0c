"""Run artefacts: atomic JSON, the markdown summary in the paper's columns, and the plots."""

import json

import numpy as np
import pytest

from agents.run.plots import plot_keep_probabilities, plot_kept_channels
from agents.run.summary import (
    atomic_write,
    hardware_info,
    summary_markdown,
    versions,
    write_json_atomic,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

REPORT = {
    "model": "lenet5",
    "dataset": "mnist",
    "agent": "reinforce",
    "lam": 4.0,
    "seed": 0,
    "command": "decore compress --model lenet5 --dataset mnist --lam 4",
    "baseline": {"accuracy": 0.9912, "params": 60000, "macs": 400000, "latency_ms": 1.5},
    "pruned": {"accuracy": 0.9876, "params": 10000, "macs": 100000, "latency_ms": 0.5},
    "kept": {"conv1": [3, 6], "conv2": [8, 16]},
    "phases_s": {"baseline": 1.0, "policy": 2.5},
    "settings": {"policy_epochs": 3},
}


def test_summary_markdown_has_paper_columns_and_numbers():
    text = summary_markdown(REPORT)
    assert "| | top-1 (%) | params (reduction) | MACs (reduction) | latency (ms) |" in text
    base = next(line for line in text.splitlines() if line.startswith("| Base "))
    pruned = next(line for line in text.splitlines() if line.startswith("| Pruned "))
    assert "99.12" in base and "%" not in base.split("|", 3)[3]
    assert "98.76" in pruned
    assert "0.0100M (83.3%)" in pruned and "0.1000M (75.0%)" in pruned
    assert "6.0x" in text
    assert "policy_epochs: 3" in text and REPORT["command"] in text


def test_write_json_atomic_round_trips_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "out" / "report.json"
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {**REPORT, "x": np.float32(0.5), "y": np.arange(3)})
    loaded = json.loads(path.read_text())
    assert loaded["baseline"] == REPORT["baseline"]
    assert loaded["x"] == 0.5 and loaded["y"] == [0, 1, 2]
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]


def test_atomic_write_failure_keeps_old_file(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("old")

    def fail(f):
        f.write(b"half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        atomic_write(path, fail)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_plots_write_png_files(tmp_path):
    kept = {name: tuple(v) for name, v in REPORT["kept"].items()}
    out = plot_kept_channels(kept, tmp_path / "kept.png")
    steps = np.arange(5)
    probs = np.linspace(1.0, 0.2, 10).reshape(5, 2)
    out2 = plot_keep_probabilities(steps, probs, list(kept), tmp_path / "probs.png")
    for p in (out, out2):
        data = p.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.png", "probs.png"]
    with pytest.raises(ValueError, match="expected"):
        plot_keep_probabilities(steps, probs, ["only-one"], tmp_path / "bad.png")


def test_hardware_and_versions_are_recorded():
    assert hardware_info()["cpu_cores"] >= 1
    found = versions()
    assert found["python"].count(".") == 2
    assert found["numpy"] == np.__version__
    assert "torch" in found and "git_commit" in found


def test_recorded_commands_carry_no_paths_of_this_machine():
    from agents.run.summary import REPO_ROOT, command_line

    script = str(REPO_ROOT / "benchmarks" / "lenet_mnist.py")
    line = command_line([script, "--runs", str(REPO_ROOT / "benchmarks" / ".runs"), "--seeds", "0"])
    assert line == "python benchmarks/lenet_mnist.py --runs benchmarks/.runs --seeds 0"
