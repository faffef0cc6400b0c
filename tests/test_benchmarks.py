"""The benchmark scripts measure what they say: tiny runs on the CPU."""

import torch
from envs import agent_env, load_benchmark

from agents.reinforce import DecoreAgent, ReinforceConfig


def _agent() -> DecoreAgent:
    return DecoreAgent(agent_env(32), ReinforceConfig(lr=0.1, init_weight=1.0))


def test_the_bare_core_update_is_the_agents_update_without_the_env():
    """So that the env-vs-core row compares the same work."""
    bench = load_benchmark("env_throughput")
    through_env, on_core = _agent(), _agent()
    for _ in range(3):
        through_env.train_step()
        bench.bare_core_update(on_core)
    assert torch.equal(through_env.weights, on_core.weights)


def test_agent_rows_measure_both_paths():
    bench = load_benchmark("env_throughput")
    times = bench.measure_agent("lenet5", steps=1, rounds=1)
    assert set(times) == {"env", "core"} and all(t > 0 for t in times.values())
