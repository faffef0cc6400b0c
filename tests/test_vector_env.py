"""The native vector env: one forward pass for N masks, same rewards as N single envs."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

import decore_env  # noqa: F401  (registers the envs)
from decore_env.envs.vector import DecoreCompressVectorEnv

N_AGENTS = 226


def make_vec(num_envs: int = 8, **kwargs) -> DecoreCompressVectorEnv:
    return gym.make_vec(
        "DecoreCompress-v0",
        num_envs=num_envs,
        vectorization_mode="vector_entry_point",
        **kwargs,
    )


def random_masks(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, (n, N_AGENTS)).astype(np.float32)


def next_images(loader):
    """The batch the loader will hand out next, without moving it on."""
    state = loader.state_dict()
    batch = loader.next_batch()
    loader.load_state_dict(state)
    return batch


def test_make_vec_builds_the_native_env_with_batched_spaces():
    env = make_vec(4)
    assert isinstance(env, DecoreCompressVectorEnv)
    assert env.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    assert env.action_space.shape == (4, N_AGENTS)
    assert env.single_action_space.shape == (N_AGENTS,)
    assert env.observation_space.shape == (4, 5 + 5 * 4 + 3 * N_AGENTS)
    assert env.task.core.loader.batch_size == 4


@pytest.mark.parametrize("samples_per_mask", [1, 3])
def test_frozen_vector_env_matches_single_envs_on_the_same_masks_and_images(samples_per_mask):
    n, k = 6, samples_per_mask
    vec = make_vec(n, samples_per_mask=k)
    vec.reset(seed=0)
    masks = random_masks(n)
    images, labels = next_images(vec.task.core.loader)
    _, rewards, _, _, info = vec.step(masks)

    single = gym.make("DecoreCompress-v0", batch_size=k).unwrapped
    single.reset(seed=0)
    for i in range(n):
        batch = (images[i * k : (i + 1) * k], labels[i * k : (i + 1) * k])
        single.task.core.loader.next_batch = lambda batch=batch: batch
        _, reward, _, _, one = single.step(masks[i])
        assert rewards[i] == pytest.approx(reward, rel=1e-6)
        np.testing.assert_allclose(info["group_rewards"][i], one["group_rewards"], rtol=1e-6)
        for key in ("accuracy", "params", "macs", "lam"):
            assert info[key][i] == pytest.approx(one[key])
        np.testing.assert_array_equal(info["kept"][i], one["kept"])
    assert len(set(rewards.tolist())) > 1  # the masks differ, and so do the rewards


def test_next_step_autoreset_resets_every_sub_env_on_the_step_after_truncation():
    env = make_vec(4, episode_steps=2)
    first, _ = env.reset(seed=0)
    masks = random_masks(4)
    for expected in (False, True):
        _, _, terminated, truncated, _ = env.step(masks)
        assert not terminated.any() and (truncated == expected).all()
    loader_before = env.task.core.loader.state_dict()
    obs, rewards, terminated, truncated, info = env.step(masks)  # the reset step
    np.testing.assert_array_equal(obs, first)
    assert (rewards == 0).all() and not terminated.any() and not truncated.any()
    assert info == {}
    assert env.task.core.loader.state_dict()["pos"] == loader_before["pos"]  # no images used
    _, rewards, _, truncated, info = env.step(masks)
    assert not truncated.any() and "group_rewards" in info


def test_identically_seeded_vector_rollouts_are_identical_and_tensors_agree():
    def rollout(**kwargs):
        env = make_vec(4, train_network=True, **kwargs)
        out = [env.reset(seed=3)[0]]
        for step in range(3):
            obs, rewards, _, _, info = env.step(random_masks(4, step))
            out += [obs, rewards, info["group_rewards"], info["macs"]]
        return out

    first, second = rollout(), rollout()
    as_tensors = rollout(tensors=True)
    for a, b, t in zip(first, second, as_tensors, strict=True):
        np.testing.assert_array_equal(a, b)
        assert isinstance(t, torch.Tensor) and t.device == torch.device("cpu")
        np.testing.assert_array_equal(a, t.numpy())


def test_tensors_option_returns_tensors_for_every_output():
    env = make_vec(4, tensors=True)
    obs, _ = env.reset(seed=0)
    masks = torch.ones(4, N_AGENTS, dtype=torch.bool)
    out = env.step(masks)
    assert all(isinstance(x, torch.Tensor) for x in (obs, *out[:4], *out[4].values()))
    assert out[3].dtype == torch.bool and out[1].shape == (4,)


def test_bad_actions_and_seeds_are_refused():
    env = make_vec(4)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(3, 226\); expected \(4, 226\)"):
        env.step(random_masks(3))
    with pytest.raises(ValueError, match="found 0.5"):
        env.step(np.full((4, N_AGENTS), 0.5))
    with pytest.raises(ValueError, match="one for all sub-envs"):
        env.reset(seed=[1, 2, 3, 4])
    with pytest.raises(ValueError, match="num_envs must be a positive int"):
        make_vec(0)


def test_joint_training_updates_the_one_shared_network():
    env = make_vec(4, train_network=True)
    env.reset(seed=0)
    before = [p.clone() for p in env.task.core.model.parameters()]
    env.step(random_masks(4))
    after = list(env.task.core.model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_tensors_stay_on_the_gpu():
    env = make_vec(8, tensors=True, device="cuda")
    obs, _ = env.reset(seed=0)
    out = env.step(torch.ones(8, N_AGENTS, dtype=torch.bool, device="cuda"))
    assert all(x.device.type == "cuda" for x in (obs, *out[:4], *out[4].values()))
    assert bool(((obs >= 0) & (obs <= 1)).all())


def test_a_rejected_seed_leaves_the_envs_usable_and_step_needs_a_reset():
    from gymnasium.error import ResetNeeded

    single = gym.make("DecoreCompress-v0", batch_size=32)
    vector = gym.make_vec(
        "DecoreCompress-v0", num_envs=2, vectorization_mode="vector_entry_point", samples_per_mask=4
    )
    with pytest.raises(ResetNeeded, match="before reset"):
        vector.step(vector.action_space.sample())
    for env in (single, vector):
        for bad in (-1, "a", 1.5, True):
            with pytest.raises(ValueError, match="seed must be an int >= 0"):
                env.reset(seed=bad)
        env.reset(seed=0)
        *_, info = env.step(env.action_space.sample())
        assert "accuracy" in info


def test_too_many_sub_envs_are_refused_naming_num_envs():
    with pytest.raises(ValueError, match="num_envs 1000000 x samples_per_mask 1 = 1000000"):
        gym.make_vec(
            "DecoreCompress-v0",
            num_envs=10**6,
            vectorization_mode="vector_entry_point",
            samples_per_mask=1,
        )
