"""The layer-wise env (AMC's framing) and td3_layerwise, its TD3 agent."""

import json
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from envs import EPOCH_STEPS
from gymnasium.utils.env_checker import check_env

import decore_env  # noqa: F401  (registers the envs)
from agents.references.targets import kept_fraction
from agents.run.config import CompressConfig
from agents.sb3.td3_layerwise import LayerwiseAgent
from decore_env.envs.layerwise import DEFAULT_TARGET, FEATURES, LayerwiseCompressEnv

SIZES = (6, 16, 120, 84)  # LeNet-5's groups
BATCH = 32  # images per episode in these tests (fast)


def make(**kwargs) -> LayerwiseCompressEnv:
    return gym.make("DecoreCompressLayerwise-v0", **{"batch_size": BATCH, **kwargs}).unwrapped


def episode(env: LayerwiseCompressEnv, actions, seed: int | None = None) -> list[tuple]:
    """reset, then one step per action; the transitions (obs, reward, terminated, ..., info)."""
    out = [env.reset(seed=seed)]
    out += [env.step(np.array([a], dtype=np.float32)) for a in actions]
    return out


def test_check_env_passes_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(make())


def test_an_episode_is_one_step_per_group_rewarded_at_the_end_only():
    env = make()
    assert env.n_groups == len(SIZES) and env.observation_space.shape == (len(FEATURES),)
    assert env.target == DEFAULT_TARGET and env.task_spec.target_params == DEFAULT_TARGET
    obs, _ = env.reset(seed=0)
    assert obs[0] == 0.0 and obs[FEATURES.index("reduced")] == 0.0 and obs[-1] == 0.0
    steps = []
    terminated = False
    while not terminated:
        obs, reward, terminated, truncated, info = env.step(np.array([0.5], np.float32))
        steps.append((reward, truncated, info["pairs"]))
    assert len(steps) == len(SIZES)
    assert [s[0] for s in steps[:-1]] == [0.0] * 3 and steps[-1][0] == info["accuracy"] > 0
    assert not any(s[1] for s in steps) and [s[2] for s in steps] == [0, 0, 0, BATCH]
    assert obs[0] == 1.0 and obs[FEATURES.index("rest")] == 0.0  # past the last group
    assert env.pairs == BATCH
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(np.array([0.5], np.float32))
    episode(env, [1.0] * 4)
    assert env.pairs == 2 * BATCH


def test_seeded_episodes_repeat_and_other_seeds_see_other_images():
    actions = [0.3, 0.2, 0.1, 0.1]
    first = episode(make(), actions, seed=7)
    second = episode(make(), actions, seed=7)
    for a, b in zip(first[1:], second[1:], strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:4] == b[1:4]
    np.testing.assert_array_equal(first[-1][-1]["mask"], second[-1][-1]["mask"])
    rewards = {episode(make(), actions, seed=s)[-1][1] for s in range(7, 12)}
    assert len(rewards) > 1


@pytest.mark.parametrize("budget", [{"target_params": 0.2}, {"target_macs": 0.4}])
def test_the_bound_keeps_any_action_sequence_within_the_target(budget):
    env = make(**budget)
    resource, target = env.task_spec.budget
    gates = env.task.core.gates
    rng = np.random.default_rng(0)
    for actions in [[1.0] * 4, *rng.uniform(0, 1, (5, 4)).tolist()]:
        info = episode(env, actions)[-1][-1]
        mask = torch.as_tensor(info["mask"])
        kept = kept_fraction(gates, mask, resource)
        assert kept == pytest.approx(info[f"{resource}_kept"]) and kept <= target
        widths = gates.kept_per_group(mask)[0].long()
        assert (widths >= 1).all()
    # all ones: info reports the bounded ratios, and the last group is as wide as allowed
    steps = episode(env, [1.0] * 4)
    mask = torch.as_tensor(steps[-1][-1]["mask"])
    widths = gates.kept_per_group(mask)[0]
    ratios = (widths / torch.tensor(SIZES)).tolist()
    assert [s[-1]["action"] for s in steps[1:]] == pytest.approx(ratios)
    assert widths[-1] < SIZES[-1]
    dropped = len(mask) - SIZES[-1] + torch.nonzero(mask[-SIZES[-1] :] == 0).flatten()
    assert kept_fraction(gates, mask.index_fill(0, dropped[:1], 1), resource) > target


def test_zero_actions_give_the_minimum_widths_and_an_unreachable_target_ends_there():
    for target in (0.5, 1e-4):  # 1e-4: below what one channel per group costs
        env = make(target_params=target)
        info = episode(env, [0.0] * 4)[-1][-1]
        assert info["mask"].dtype == np.int8 and info["mask"].shape == (sum(SIZES),)
        widths = env.task.core.gates.kept_per_group(torch.as_tensor(info["mask"]))[0]
        assert widths.tolist() == [1.0] * 4
    info = episode(env, [1.0] * 4)[-1][-1]
    assert info["mask"].sum() == len(SIZES)  # the bound leaves one channel per group


def test_the_reward_is_the_cores_accuracy_of_the_same_mask_on_the_same_images():
    env = make()
    episode(env, [0.4, 0.4, 0.4], seed=3)
    loader = env.task.core.loader.state_dict()
    *_, reward, _, _, info = env.step(np.array([0.4], np.float32))
    env.task.core.loader.load_state_dict(loader)
    images, labels = env.task.core.loader.next_batch()
    scored = env.task.core.score(torch.as_tensor(info["mask"]).float(), images, labels)
    assert len(images) == info["pairs"] == BATCH
    assert reward == info["accuracy"] == pytest.approx(scored.correct.float().mean().item())


def test_bad_settings_and_actions_are_refused():
    with pytest.raises(ValueError, match="frozen network"):
        make(train_network=True)
    env = make()
    env.reset(seed=0)
    for bad, message in [(np.array([np.nan]), "NaN"), (np.array([0.1, 0.2]), "one keep ratio")]:
        with pytest.raises(ValueError, match=message):
            env.step(bad)
    with pytest.raises(ValueError, match="give --target-params or --target-macs"):
        CompressConfig(agent="td3_layerwise", train_network=False)


def test_td3_layerwise_learns_within_its_pairs_and_meets_the_target(tmp_path):
    target, episodes = 0.1, 20
    env = gym.make("DecoreCompressLayerwise-v0", batch_size=BATCH, target_params=target)
    env.reset(seed=0)
    agent = LayerwiseAgent(env, seed=0)
    before = {k: v.clone() for k, v in agent.model.policy.state_dict().items()}
    agent.learn(episodes * BATCH)
    after = agent.model.policy.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if "actor." in k)
    assert agent.num_timesteps == env.unwrapped.pairs == episodes * BATCH
    mask, _ = agent.predict(None, deterministic=True)
    gates = env.unwrapped.gates
    assert mask.dtype == np.int8 and (gates.kept_per_group(torch.as_tensor(mask)) >= 1).all()
    assert target / 2 <= kept_fraction(gates, torch.as_tensor(mask), "params") <= target
    agent.save(tmp_path / "policy.pt")
    saved = torch.load(tmp_path / "policy.pt", weights_only=True)
    assert saved["pairs"] == episodes * BATCH and torch.equal(saved["mask"], agent.mask)
    with pytest.raises(ValueError, match="multiple"):
        agent.learn(BATCH + 1)


def test_td3_layerwise_goes_through_the_pipeline_and_decore_tasks_lists_the_env(tmp_path, capsys):
    from agents.run.cli import main

    out = tmp_path / "run"
    argv = [
        "demo", "--agent", "td3_layerwise", "--target-params", "0.3", "--no-train-network",
        "--baseline-epochs", "1", "--policy-epochs", "1", "--finetune-epochs", "1",
        "--no-progress", "--out", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    saved = torch.load(out / "policy.pt", weights_only=True)
    assert report["agent"] == saved["agent"] == "td3_layerwise"
    assert saved["pairs"] == EPOCH_STEPS * 256  # one epoch of the embedded train split
    assert report["pruned"]["params"] <= 0.3 * report["baseline"]["params"]
    assert sum(k for k, _ in report["kept"].values()) == int(saved["mask"].sum())
    capsys.readouterr()
    assert main(["tasks"]) == 0
    assert "DecoreCompressLayerwise-v0" in capsys.readouterr().out
