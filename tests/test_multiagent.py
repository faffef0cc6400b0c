"""The PettingZoo view: one agent per channel group, passing PettingZoo's parallel API test."""

import gymnasium as gym
import numpy as np
import pytest

import decore_env  # noqa: F401  (registers the envs)

pytest.importorskip("pettingzoo")
from pettingzoo.test import parallel_api_test  # noqa: E402

from decore_env.envs.multiagent import DecoreCompressParallelEnv  # noqa: E402

SIZES = {"0": 6, "3": 16, "7": 120, "9": 84}


def make(**kwargs) -> DecoreCompressParallelEnv:
    return DecoreCompressParallelEnv("DecoreCompress-v0", batch_size=32, **kwargs)


def test_parallel_api_test_passes_and_the_view_renders_the_architecture():
    env = make(episode_steps=4, render_mode="rgb_array")
    parallel_api_test(env, num_cycles=10)
    assert env.render().shape == (360, 640, 3)


def test_one_agent_per_group_with_its_own_spaces():
    env = make()
    assert env.possible_agents == list(SIZES)
    for agent, size in SIZES.items():
        assert env.action_space(agent).n == size
        assert env.observation_space(agent).shape == (5 + 5 + 3 * size,)


def test_group_rewards_sum_to_the_single_env_reward_and_observations_are_slices():
    masks = {a: np.random.default_rng(1).integers(0, 2, s) for a, s in SIZES.items()}
    multi = make()
    obs, infos = multi.reset(seed=5)
    assert set(infos) == set(SIZES)
    obs, rewards, terminated, truncated, infos = multi.step(masks)

    single = gym.make("DecoreCompress-v0", batch_size=32).unwrapped
    single.reset(seed=5)
    full_obs, reward, _, _, info = single.step(np.concatenate(list(masks.values())))

    assert sum(rewards.values()) == pytest.approx(reward, rel=1e-6)
    assert [rewards[a] for a in SIZES] == pytest.approx(info["group_rewards"].tolist())
    assert [infos[a]["kept"] for a in SIZES] == [int(m.sum()) for m in masks.values()]
    assert not any(terminated.values()) and not any(truncated.values())
    np.testing.assert_array_equal(multi.state(), full_obs)
    parts = single.layout.unpack(full_obs)
    np.testing.assert_array_equal(obs["3"][:5], parts["global"])
    np.testing.assert_array_equal(obs["3"][5:10], parts["groups"][1])
    np.testing.assert_array_equal(obs["3"][10:], parts["agents"][6:22].reshape(-1))
    assert all(obs[a] in multi.observation_space(a) for a in SIZES)


def test_all_agents_leave_together_at_truncation():
    env = make(episode_steps=2)
    env.reset(seed=0)
    ones = {a: np.ones(s, dtype=np.int8) for a, s in SIZES.items()}
    env.step(ones)
    _, _, _, truncated, _ = env.step(ones)
    assert all(truncated.values()) and env.agents == []


def test_bad_actions_name_the_agent():
    env = make()
    env.reset(seed=0)
    actions = {a: np.ones(s) for a, s in SIZES.items()}
    with pytest.raises(ValueError, match=r"agent '7': action has shape \(3,\)"):
        env.step({**actions, "7": np.ones(3)})
    with pytest.raises(ValueError, match=r"missing \['9'\]"):
        env.step({a: m for a, m in actions.items() if a != "9"})
