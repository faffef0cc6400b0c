"""DecoreCompressEnv on LeNet: Gymnasium's checks, the paper's reward, seeding, bad input."""

import math
import pickle
import subprocess
import sys
import warnings
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import decore_env  # noqa: F401  (registers the envs)
from decore_env.common.checks import MAX_LAM
from decore_env.envs.budget import BudgetWrapper
from decore_env.envs.env import DecoreCompressEnv
from decore_env.task.defaults import DEFAULT_LAM
from decore_env.task.spec import TaskSpec
from decore_env.task.weights import MissingWeightsError, embedded_data
from decore_env.training.metrics import count_params

N_AGENTS = 226  # LeNet-5: conv 6, conv 16, fc 120, fc 84


def make(**kwargs) -> DecoreCompressEnv:
    """A small, fast LeNet env: 32 images per step."""
    return gym.make("DecoreCompress-v0", **{"batch_size": 32, **kwargs}).unwrapped


def half_mask(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, N_AGENTS).astype(np.int8)


def rollout(env, seed: int, steps: int = 4):
    env.action_space.seed(seed)
    out = [env.reset(seed=seed)]
    out += [env.step(env.action_space.sample()) for _ in range(steps)]
    return out


def same(a, b) -> bool:
    """Exact equality of nested env outputs (arrays, dicts, tuples, scalars)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("train_network", [False, True])
def test_check_env_passes_without_warnings(train_network):
    env = make(train_network=train_network, render_mode="ansi")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env)


@pytest.mark.parametrize("train_network", [False, True])
def test_identically_seeded_rollouts_are_identical(train_network):
    first = rollout(make(train_network=train_network), seed=7)
    second = rollout(make(train_network=train_network), seed=7)
    assert same(first, second)
    third = rollout(make(train_network=train_network), seed=8)
    assert not same(first, third)


def test_reset_without_seed_keeps_trained_weights_and_seeded_reset_restores_them():
    env = make(train_network=True)
    env.reset(seed=0)
    initial = {k: v.clone() for k, v in env.task.core.model.state_dict().items()}
    for _ in range(3):
        env.step(half_mask())
    env.reset()
    kept = env.task.core.model.state_dict()
    assert any(not torch.equal(initial[k], kept[k]) for k in initial)
    env.reset(seed=0)
    restored = env.task.core.model.state_dict()
    assert all(torch.equal(initial[k], restored[k]) for k in initial)


def test_reward_is_the_papers_reward_summed_over_groups_and_averaged_over_the_batch():
    env = make(lam=20.0)
    env.reset(seed=3)
    mask = half_mask(1)
    loader = env.task.core.loader
    state = loader.state_dict()
    images, labels = loader.next_batch()
    loader.load_state_dict(state)
    with torch.no_grad(), env.task.core.gates.masked(torch.as_tensor(mask, dtype=torch.float32)):
        correct = env.task.core.model.eval()(images).argmax(1) == labels
    sizes = [g.size for g in env.groups]
    dropped = np.array([(1 - part).sum() for part in np.split(mask, np.cumsum(sizes)[:-1])])
    per_image = np.where(correct.numpy(), 1.0, -20.0)
    expected = per_image.mean() * dropped

    _, reward, terminated, truncated, info = env.step(mask)

    np.testing.assert_allclose(info["group_rewards"], expected, rtol=1e-5)
    assert reward == pytest.approx(expected.sum(), rel=1e-5)
    assert info["accuracy"] == pytest.approx(correct.float().mean().item())
    np.testing.assert_array_equal(info["kept"], np.array(sizes) - dropped)
    params, macs = env.task.core.gates.cost(torch.as_tensor(mask[None], dtype=torch.float32))
    assert (info["params"], info["macs"]) == (int(params), int(macs))
    assert info["lam"] == 20.0
    assert terminated is False and truncated is False


def test_mean_reduction_divides_the_scalar_reward_by_the_agents_and_keeps_group_rewards():
    steps = {}
    for reduction in ("sum", "mean"):
        env = make(reward_reduction=reduction)
        env.reset(seed=3)
        steps[reduction] = env.step(half_mask(1))
    assert steps["mean"][1] == pytest.approx(steps["sum"][1] / N_AGENTS, rel=1e-6)
    assert -6.0 <= steps["mean"][1] <= 1.0
    np.testing.assert_array_equal(
        steps["mean"][4]["group_rewards"], steps["sum"][4]["group_rewards"]
    )


def test_keeping_everything_earns_nothing_and_costs_the_full_network():
    env = make()
    env.reset(seed=0)
    _, reward, _, _, info = env.step(np.ones(N_AGENTS, dtype=bool))
    assert reward == 0.0
    assert info["params"] == count_params(env.task.core.model) == 61_706
    assert info["accuracy"] > 0.9  # the shipped LeNet-5 is trained


def test_dropping_every_channel_of_a_group_is_scored_not_a_crash():
    env = make()
    env.reset(seed=0)
    mask = np.ones(N_AGENTS)
    mask[:6] = 0  # the whole first conv
    obs, reward, _, _, info = env.step(mask)
    assert math.isfinite(reward) and obs in env.observation_space
    assert info["kept"][0] == 0
    _, reward, _, _, info = env.step(np.zeros(N_AGENTS))
    assert math.isfinite(reward) and info["accuracy"] <= 0.5


@pytest.mark.parametrize(
    "action",
    [
        np.ones(N_AGENTS, dtype=bool),
        np.ones(N_AGENTS, dtype=np.int8),
        np.ones(N_AGENTS, dtype=np.int64),
        np.ones(N_AGENTS, dtype=np.float32),
        np.ones(N_AGENTS, dtype=np.float64),
        torch.ones(N_AGENTS, dtype=torch.bool),
        torch.ones(N_AGENTS),
        [1] * N_AGENTS,
    ],
    ids=["bool", "int8", "int64", "float32", "float64", "torch-bool", "torch-float", "list"],
)
def test_accepts_any_0_1_action_type(action):
    env = make()
    env.reset(seed=0)
    _, reward, _, _, info = env.step(action)
    assert reward == 0.0 and info["kept"].sum() == N_AGENTS


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (np.ones(N_AGENTS - 1), r"shape \(225,\); expected \(226,\)"),
        (np.ones((2, N_AGENTS)), r"shape \(2, 226\)"),
        (np.full(N_AGENTS, 0.5), r"exactly 0 \(drop\) or 1 \(keep\); found 0.5"),
        (np.full(N_AGENTS, 2), "found 2"),
        (np.r_[np.ones(N_AGENTS - 1), np.nan], "NaN"),
        (torch.full((N_AGENTS,), float("nan")), "NaN"),
        (np.array(["1"] * N_AGENTS), "real 0/1 values; got dtype <U1"),
        (torch.ones(N_AGENTS, dtype=torch.complex64), "real 0/1 values; got dtype torch.complex64"),
    ],
)
def test_bad_actions_raise_a_value_error_naming_the_problem(action, message):
    env = make()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(action)


@pytest.mark.parametrize(
    ("lam", "message"),
    [
        (0, "lam must be > 0 and <= 1e"),
        (-1.0, "lam must be > 0 and <= 1e"),
        (1e39, "lam must be > 0 and <= 1e"),  # float32 rewards would overflow
        (float("nan"), "lam must be finite"),
        (float("inf"), "lam must be finite"),
        (True, "lam must be a number, not a bool"),
        ("20", "lam must be a number"),
    ],
)
def test_bad_lam_is_refused_at_construction_and_when_set(lam, message):
    with pytest.raises(ValueError, match=message):
        make(lam=lam)
    env = make()
    with pytest.raises(ValueError, match=message):
        env.lam = lam
    assert env.lam == DEFAULT_LAM


def test_numpy_numbers_are_accepted_and_the_largest_lam_gives_finite_rewards():
    env = make(lam=np.float32(MAX_LAM), batch_size=np.int64(64))
    env.reset(seed=0)
    _, reward, _, _, info = env.step(np.zeros(N_AGENTS, dtype=np.int8))  # all dropped: all wrong
    assert np.isfinite(reward) and np.isfinite(info["group_rewards"]).all()
    assert reward < 0
    with pytest.raises(ValueError, match="batch_size must be a number, not a bool"):
        make(batch_size=True)
    with pytest.raises(ValueError, match="larger than the training split"):
        make(batch_size=10**6)


def test_lam_can_be_retargeted_between_steps():
    env = make(lam=20.0)
    mask = half_mask()
    env.reset(seed=0)
    _, low, _, _, _ = env.step(mask)
    env.lam = 200.0
    env.reset(seed=0)
    _, high, _, _, info = env.step(mask)
    assert info["lam"] == 200.0 and env.task.core.lam == 200.0
    assert high < low  # wrong predictions cost more


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "lenet6"}, "unknown model 'lenet6'"),
        ({"dataset": "mnist2"}, "unknown data set 'mnist2'"),
        ({"batch_size": 0}, "batch_size must be a positive int"),
        ({"episode_steps": 0}, "episode_steps must be a positive int"),
        ({"keep_decay": 1.0}, r"keep_decay must be in \[0, 1\)"),
        ({"render_mode": "human"}, "render_mode must be None or one of 'ansi', 'rgb_array'"),
        ({"reward_reduction": "avg"}, "reward_reduction must be one of sum, mean; got 'avg'"),
        ({"augment": "yes"}, "augment must be True or False"),
        ({"samples_per_mask": 5}, "batch_size 32 is not a multiple of samples_per_mask 5"),
        ({"target_params": 0.2, "target_macs": 0.2}, "not both"),
        ({"colour": "red"}, r"unknown task settings \['colour'\]"),
    ],
)
def test_bad_arguments_raise_a_value_error_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make(**kwargs)


def test_checkpoint_that_does_not_fit_or_does_not_exist(tmp_path):
    torch.save({"weight": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="does not fit the model"):
        make(checkpoint=tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="missing.pt not found"):
        make(checkpoint=tmp_path / "missing.pt")


def test_a_registry_network_without_weights_is_refused_with_the_command_that_trains_them():
    with pytest.raises(MissingWeightsError, match="decore train --model lenet300 --dataset"):
        make(model="lenet300")
    with pytest.raises(MissingWeightsError, match="h on a 2-core CPU"):
        make(model="lenet5", dataset=replace(embedded_data(), name="digits"))


def test_a_paper_task_without_weights_is_refused_before_its_data_is_sought(tmp_path):
    with pytest.raises(MissingWeightsError, match="decore train --model vgg16 --dataset cifar10"):
        gym.make("DecoreCompress-VGG16-CIFAR10-v0", data_root=str(tmp_path))
    assert not any(tmp_path.iterdir())  # no download was tried


def test_paper_task_ids_are_registered_with_the_papers_lambda():
    for task_id, model in (
        ("DecoreCompress-VGG16-CIFAR10-v0", "vgg16"),
        ("DecoreCompress-ResNet56-CIFAR10-v0", "resnet56"),
    ):
        defaults = gym.spec(task_id).kwargs["task_defaults"]
        assert defaults == {"model": model, "dataset": "cifar10", "lam": 200.0}
    assert gym.spec("DecoreCompress-ResNet50-ImageNet-v0").kwargs["task_defaults"]["lam"] == 6.0


def test_a_given_spec_is_the_whole_task_whatever_the_id_sets():
    spec = TaskSpec(batch_size=32, lam=3.0)
    env = gym.make("DecoreCompress-VGG16-CIFAR10-v0", spec=spec)
    assert env.unwrapped.task_spec == spec  # not VGG16 / CIFAR-10 / lambda 200


def test_spec_and_keywords_build_the_same_task_and_env_spec_round_trips():
    spec = TaskSpec(batch_size=32, lam=4.0)
    by_spec = gym.make("DecoreCompress-v0", spec=spec)
    by_fields = gym.make("DecoreCompress-v0", batch_size=32, lam=4.0)
    again = gym.make(by_fields.spec)
    assert by_spec.unwrapped.task_spec == by_fields.unwrapped.task_spec == spec
    assert again.unwrapped.task_spec == spec
    mask = half_mask()
    results = []
    for env in (by_spec, by_fields, again):
        env.reset(seed=3)
        results.append(env.step(mask))
    assert same(results[0], results[1]) and same(results[0], results[2])


def test_observe_false_gives_empty_observations_and_passes_the_checkers():
    env = make(observe=False)
    assert env.observation_space.shape == (0,)
    check_env(env)
    env.reset(seed=0)
    obs, *_ = env.step(half_mask())
    assert obs.shape == (0,)


def test_episode_truncates_after_episode_steps_and_never_terminates():
    env = make(episode_steps=3)
    env.reset(seed=0)
    flags = [env.step(half_mask())[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]
    assert all(type(f) is bool for pair in flags for f in pair)


def test_default_episode_is_one_pass_over_the_training_split():
    env = make()
    assert env.task.episode_steps == len(embedded_data().train_x) // 32


def test_env_pickles_and_the_copy_continues_identically():
    env = make(train_network=True)
    env.reset(seed=0)
    env.step(half_mask(0))
    twin = pickle.loads(pickle.dumps(env))
    assert same(env.step(half_mask(1)), twin.step(half_mask(1)))


def test_the_observation_shows_the_budget_target_before_any_step():
    env = gym.make("DecoreCompress-v0", batch_size=32, target_macs=0.4)
    obs, _ = env.reset(seed=0)
    np.testing.assert_allclose(env.unwrapped.layout.unpack(obs)["global"][3:], [1.0, 0.4])
    wrapped = BudgetWrapper(make(), target=0.25, resource="params")  # a target given later
    obs, _ = wrapped.reset(seed=0)
    np.testing.assert_allclose(wrapped.unwrapped.layout.unpack(obs)["global"][3:], [0.25, 1.0])


def test_observation_follows_the_documented_layout():
    env = make(keep_decay=0.5)
    obs, _ = env.reset(seed=0)
    parts = env.layout.unpack(obs)
    assert obs.shape == (5 + 5 * 4 + 3 * N_AGENTS,) and obs.dtype == np.float32
    np.testing.assert_array_equal(parts["global"], [0.0, 1.0, 1.0, 1.0, 1.0])  # no budget
    np.testing.assert_allclose(parts["groups"][:, 0], [0, 1 / 3, 2 / 3, 1], rtol=1e-6)
    np.testing.assert_allclose(parts["groups"][:, 1], np.array([6, 16, 120, 84]) / 120)
    assert parts["groups"][2, 2] > parts["groups"][0, 2]  # fc 120 holds more params than conv 6
    np.testing.assert_array_equal(parts["agents"][:, 2], 1.0)
    np.testing.assert_array_equal(parts["agents"][:, 1], 1.0)  # LeNet-5 has no BatchNorm
    weights = np.split(parts["agents"][:, 0], np.cumsum([6, 16, 120])[:-1])
    assert all(w.max() == pytest.approx(1.0) for w in weights)

    mask = half_mask()
    obs, _, _, _, info = env.step(mask)
    parts = env.layout.unpack(obs)
    assert parts["global"][0] == pytest.approx(info["accuracy"])
    params, macs = env.task.core.gates.cost(torch.ones(1, N_AGENTS))
    np.testing.assert_allclose(
        parts["global"][1:3], [info["params"] / float(params), info["macs"] / float(macs)]
    )
    np.testing.assert_allclose(parts["agents"][:, 2], 0.5 + 0.5 * mask)
    np.testing.assert_allclose(parts["groups"][0, 4], (0.5 + 0.5 * mask[:6]).mean(), rtol=1e-6)


def test_weight_entries_follow_joint_training():
    frozen, trained = make(), make(train_network=True)
    for env in (frozen, trained):
        env.reset(seed=0)
    before = trained.layout.unpack(trained.reset(seed=0)[0])["agents"][:, 0]
    for _ in range(3):
        obs_frozen = frozen.step(half_mask())[0]
        obs_trained = trained.step(half_mask())[0]
    assert not np.array_equal(trained.layout.unpack(obs_trained)["agents"][:, 0], before)
    frozen_before = frozen.layout.unpack(frozen.reset(seed=0)[0])["agents"][:, 0]
    np.testing.assert_array_equal(frozen.layout.unpack(obs_frozen)["agents"][:, 0], frozen_before)


def test_ansi_render_is_a_kept_over_total_table():
    env = make(render_mode="ansi")
    env.reset(seed=0)
    mask = np.ones(N_AGENTS)
    mask[6:10] = 0
    env.step(mask)
    lines = env.render().splitlines()
    assert lines[1].split() == ["0", "6", "/", "6"]
    assert lines[2].split() == ["3", "12", "/", "16"]
    assert lines[-1].split() == ["all", "222", "/", "226"]


def test_env_ids_resolve_and_import_stays_light():
    assert gym.spec("DecoreCompress-v0").vector_entry_point.endswith("make_vector_env")
    assert isinstance(gym.make("decore_env:DecoreCompressLeNet-v0").unwrapped, DecoreCompressEnv)
    assert isinstance(gym.make("decore_env:DecoreCompress-v0").unwrapped, DecoreCompressEnv)
    code = "import sys, decore_env; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    help_code = (  # `decore --help` builds its options from the configs without torch
        "import contextlib, io, sys; from agents.run.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['compress', '--help'])\n"
        "sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", help_code]).returncode == 0


def test_val_and_test_images_never_reach_the_search():
    """The env scores masks and trains the network on train only: val and test replaced by
    garbage (white images, wrong labels) leave every reward and the agent's whole learning
    unchanged, and so does reading them through the evaluator in between."""
    from agents.native.reinforce import DecoreAgent, ReinforceConfig
    from decore_env.envs.vector import DecoreCompressVectorEnv
    from decore_env.task.weights import default_weights

    data = embedded_data()
    garbage = replace(
        data,
        val_x=torch.full_like(data.val_x, 255),
        val_y=(data.val_y + 1) % 10,
        test_x=torch.full_like(data.test_x, 255),
        test_y=(data.test_y + 1) % 10,
    )

    def learn(splits, evaluate: bool):
        spec = TaskSpec(dataset=splits, checkpoint=str(default_weights()), train_network=True)
        env = DecoreCompressVectorEnv(8, spec, tensors=True, samples_per_mask=4, device="cpu")
        env.reset(seed=3)
        agent = DecoreAgent(env, ReinforceConfig(lr=0.1, init_weight=1.0), seed=3)
        rewards = []
        for _ in range(3):
            agent.learn(env.pairs_per_step, lambda stats: rewards.append(stats.reward))
            if evaluate:
                scores = [env.evaluate(agent.final_mask(), s) for s in ("val", "test")]
        return agent.weights.detach(), torch.stack(rewards), scores if evaluate else None

    weights, rewards, _ = learn(data, evaluate=False)
    garbage_weights, garbage_rewards, scores = learn(garbage, evaluate=True)
    assert torch.equal(weights, garbage_weights) and torch.equal(rewards, garbage_rewards)
    assert all(score < 0.2 for score in scores)  # the evaluator did read the garbage
