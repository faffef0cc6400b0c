"""The benchmark scripts measure what they say: tiny runs on the CPU."""

import csv

import pytest
import torch
from envs import agent_env, load_benchmark


def test_the_bare_core_update_is_the_agents_update_without_the_env():
    """So that the policy_step_core row compares the same work."""
    bench = load_benchmark("throughput")
    spec = agent_env(32).unwrapped.task_spec
    (through_env, _), (on_core, task) = (bench.task_agent(spec, 32) for _ in range(2))
    for _ in range(3):
        through_env.train_step()
        bench.bare_core_update(on_core, task)
    assert torch.equal(through_env.weights, on_core.weights)
    assert not torch.equal(through_env.weights, torch.full_like(on_core.weights, 6.9))


def test_throughput_writes_one_row_per_measurement_with_its_ratio(tmp_path, capsys):
    bench = load_benchmark("throughput")
    out = tmp_path / "throughput.csv"
    argv = ["--models", "lenet5", "--batches", "8", "--repeats", "1", "--device", "cpu"]
    bench.main([*argv, "--out", str(out)])
    with out.open(newline="") as f:
        rows = {r["measurement"]: r for r in csv.DictReader(f)}
    assert tuple(rows) == bench.MEASUREMENTS
    rate = {key: float(r["images_per_s"]) for key, r in rows.items()}
    assert all(v > 0 for v in rate.values())
    for key, row in rows.items():
        assert (row["model"], row["batch"], row["device"]) == ("lenet5", "8", "cpu")
        assert row["git_commit"] and row["cpu"] and torch.__version__.startswith(row["torch"])
        assert row["command"].startswith("python benchmarks/throughput.py --models lenet5")
        base = bench.RELATIVE_TO.get(key)
        assert row["relative_to"] == (base or "")
        if base:
            ratio = rate[key] / rate[base]  # from rates rounded to 0.1, ratio to 4 decimals
            slack = ratio * (0.05 / rate[key] + 0.05 / rate[base]) + 5e-5
            assert float(row["ratio"]) == pytest.approx(ratio, rel=1e-3, abs=slack)
    printed = capsys.readouterr().out + capsys.readouterr().err
    assert "policy_step" in printed and "x bare_step" in printed
