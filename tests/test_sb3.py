"""Stable-Baselines3 agents: A2C, PPO, SAC and TD3 on the native vector env."""

import tempfile

import gymnasium as gym
import numpy as np
import pytest
import torch
from envs import PairCounter, load_benchmark
from gymnasium import spaces

from agents.make import make_agent
from agents.names import RELAXED, SB3_AGENTS, SHARED_AGENTS
from agents.run.config import demo_config
from agents.run.policy_phase import PolicyPhase
from agents.sb3.adapter import PPO_STEPS
from agents.sb3.policy import ScaledBernoulliPolicy
from agents.sb3.vec_env import SB3VectorEnv
from decore_env.common.seeds import derive_seed
from decore_env.data.sets import load_dataset
from decore_env.envs.relaxation import VectorKeepProbabilityWrapper, relax
from decore_env.task.weights import cached_baseline

N = 32
"""Sub-envs (masks per step) of the tests' vector envs: batch 32, one image per mask."""


def sb3_env(**fields) -> PairCounter:
    """The default task as an SB3 agent drives it, N masks per step, pairs counted."""
    env = gym.make_vec(
        "DecoreCompress-v0", num_envs=N, vectorization_mode="vector_entry_point", **fields
    )
    counted = PairCounter(env)
    counted.reset(seed=0)
    return counted


def acting_parameters(agent) -> list[torch.Tensor]:
    """The parameters that choose the actions: SAC's / TD3's actor, A2C's / PPO's head, the
    shared policy's network."""
    model = agent.model
    net = model.actor if hasattr(model, "actor") else model.policy.action_net
    net = getattr(model.policy, "shared_actor", net)
    return [p.detach().clone() for p in net.parameters()]


@pytest.mark.parametrize("name", SB3_AGENTS)
def test_every_sb3_agent_learns_from_python_and_counts_its_pairs(name, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where SB3's logger makes folders
    counter = sb3_env(episode_steps=10, target_params=0.5)
    env = relax(counter, seed=0) if name in RELAXED else counter
    agent = make_agent(name, env, seed=0)
    before = acting_parameters(agent)
    assert before
    steps = PPO_STEPS if "ppo" in name else 8  # one PPO rollout; the others train at once
    agent.learn(steps * N)
    after = acting_parameters(agent)
    assert all(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert agent.num_timesteps == counter.pairs  # every pair SB3 counts was scored, no more
    rollout = 5 if name == "a2c" else 1  # A2C finishes its 5-step rollout
    assert steps * N <= counter.pairs < (steps + rollout) * N
    mask, _ = agent.predict(None)
    assert mask.shape == (226,) and set(np.unique(mask)) <= {0, 1}
    reported = env.unwrapped.task.architecture
    if name in SHARED_AGENTS:  # the budget rule steers on its sampled masks
        assert reported is None
    else:  # the budget rule steers on this mask
        np.testing.assert_array_equal(reported.cpu().numpy(), mask)
    assert env.unwrapped.lam != demo_config().lam  # ... and has moved lambda
    assert not list(tmp_path.glob("SB3-*"))  # no SB3 log folder left in the temporary dir


def test_a_truncation_step_resets_at_once_and_keeps_the_last_observation():
    """SB3 gets the next episode's first observation from the step that ended the episode;
    the native env's reset step happens inside it and scores nothing."""
    counter = sb3_env(episode_steps=2)
    twin = sb3_env(episode_steps=2)  # the same episode, stepped natively
    vec_env = SB3VectorEnv(counter)
    vec_env.seed(0)
    first = vec_env.reset()
    twin.reset(seed=0)
    masks = np.random.default_rng(0).random((3, N, 226)) > 0.3
    obs, rewards, dones, infos = vec_env.step(masks[0])
    assert not dones.any() and counter.pairs == N
    twin.step(masks[0])
    last = twin.step(masks[1])[0]
    obs, rewards, dones, infos = vec_env.step(masks[1])
    assert dones.all() and counter.pairs == 2 * N  # the reset step scored no pairs
    assert np.all(rewards != 0)  # the rewards of the scored step, not of the reset step
    np.testing.assert_array_equal(obs, first)  # a fresh episode's first observation
    assert not np.array_equal(last, first)
    for k, info in enumerate(infos):
        np.testing.assert_array_equal(info["terminal_observation"], last[k])
        assert info["TimeLimit.truncated"] is True
    obs, _, dones, _ = vec_env.step(masks[2])  # the new episode scores at once
    assert not dones.any() and counter.pairs == 3 * N


def test_ppo_approx_kl_does_not_grow_with_the_number_of_agents():
    """One PPO update (64 steps, two minibatches, one epoch) on a synthetic task with
    VGG16-BN's 4,736 agents against 10: approx-KL within 3x with the scaled Bernoulli;
    SB3's summed log-prob makes it hundreds of times larger."""
    bench = load_benchmark("ppo_approx_kl")

    def ratio(policy) -> float:
        return bench.update(policy, 4736, 1, 0)[0] / bench.update(policy, 10, 1, 0)[0]

    scaled, stock = ratio(ScaledBernoulliPolicy), ratio("MlpPolicy")
    assert 1 / 3 <= scaled <= 3, scaled
    assert stock > 100, stock


def test_the_pipeline_gives_sac_and_td3_keep_probabilities_and_n_masks_per_step():
    splits = load_dataset("embedded")
    checkpoint = cached_baseline("lenet5", splits, 0, "cpu")
    config = demo_config(agent="td3", batch_size=N, train_network=False)
    phase = PolicyPhase(config, checkpoint, splits)
    assert isinstance(phase.task_env, VectorKeepProbabilityWrapper)
    assert phase.env.num_envs == N and phase.agent.pairs_per_step == N
    phase.agent.learn(4 * N)
    assert phase.agent.num_timesteps == 4 * N
    assert phase.architecture().shape == (226,)


def test_keep_probabilities_become_bernoulli_masks_drawn_from_the_action_seed():
    env = relax(gym.make("DecoreCompress-v0", batch_size=N), seed=3)
    assert env.action_space == spaces.Box(0.0, 1.0, (226,), np.float32)
    p = np.linspace(0.0, 1.0, 226, dtype=np.float32)
    masks = np.stack([env.action(p) for _ in range(1000)])
    assert not masks[:, 0].any() and masks[:, -1].all()
    np.testing.assert_allclose(masks.mean(0), p, atol=0.08)  # 1,000 draws: std <= 0.016
    first = np.random.default_rng(derive_seed(3, "actions")).random(226) < p
    np.testing.assert_array_equal(masks[0], first)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        env.action(p + 0.5)


def test_unknown_agents_and_agents_on_the_wrong_action_space_are_refused():
    env = sb3_env()
    names = r"unknown agent 'dqn'; one of reinforce, .*a2c, ppo, sac, td3"
    with pytest.raises(ValueError, match=names):
        make_agent("dqn", env)
    with pytest.raises(ValueError, match=r"sac acts in Box\(0, 1\).*relaxation.relax"):
        make_agent("sac", env)
    tensors = gym.make_vec(
        "DecoreCompress-v0", num_envs=2, vectorization_mode="vector_entry_point", tensors=True
    )
    with pytest.raises(ValueError, match="tensors=False"):
        make_agent("a2c", tensors)


def test_a_budget_below_one_rollout_is_refused():
    venv = gym.make_vec(
        "DecoreCompress-v0", num_envs=N, vectorization_mode="vector_entry_point", observe=True
    )
    venv.reset(seed=0)
    agent = make_agent("ppo", venv, seed=0)
    with pytest.raises(ValueError, match="less than one ppo rollout"):
        agent.learn(N)
    assert agent.mask is None
