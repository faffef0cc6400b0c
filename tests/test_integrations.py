"""The env where users plug it in: each test calls Gymnasium, Stable-Baselines3, CleanRL-style
loops, PettingZoo or TorchRL the way their docs do, on small budgets (the slow ones marked)."""

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import decore_env  # noqa: F401  (registers the ids)
from decore_env.data.splits import DataSplits
from decore_env.envs.registry import TASKS
from decore_env.models import for_data

SMALL = {"batch_size": 32, "episode_steps": 3}
"""A short episode of small steps on the default task."""
PAPER_IDS = [i for i, task in TASKS.items() if "model" in task.kwargs]


def make(env_id: str = "DecoreCompress-v0", **kwargs) -> gym.Env:
    fields = {"batch_size": 32} if "Layerwise" in env_id else SMALL
    return gym.make(env_id, **{**fields, **kwargs})


def checked(env: gym.Env) -> None:
    """Gymnasium's full checker, its warnings made errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


# ----------------------------------------------------------------------------- Gymnasium
@pytest.mark.parametrize(
    "env_id",
    [
        pytest.param(i, marks=pytest.mark.slow) if i == "DecoreCompressLeNet-v0" else i
        for i in TASKS
        if i not in PAPER_IDS
    ],
)
def test_check_env_passes_for_every_offline_id_rendering_rgb_arrays(env_id):
    checked(make(env_id, render_mode="rgb_array"))


def fake_cifar(n: int = 64) -> DataSplits:
    """Random 32x32 RGB images of 10 classes: enough to run a paper id's network."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=gen)
    y = torch.arange(n) % 10
    return DataSplits(x, y, x[:8], y[:8], x[:8], y[:8], 10, (0.5,) * 3, (0.25,) * 3, "fake")


@pytest.mark.slow
@pytest.mark.parametrize("env_id", PAPER_IDS)
def test_check_env_passes_for_the_paper_ids_given_weights_and_data(env_id):
    splits = fake_cifar()
    weights = for_data(TASKS[env_id].kwargs["model"], 10, splits.input_shape).state_dict()
    env = gym.make(env_id, checkpoint=weights, dataset=splits, batch_size=8, episode_steps=2)
    checked(env)


def test_rgb_array_frames_show_each_step_and_other_modes_are_refused_by_name():
    env = make(render_mode="rgb_array")
    env.reset(seed=0)
    first = env.render()
    env.step(np.zeros(env.action_space.shape, np.int8) | np.arange(env.action_space.n) % 2)
    second = env.render()
    assert first.shape == second.shape == (360, 640, 3) and first.dtype == np.uint8
    assert (first != second).any()
    for mode in ("human", "rgb"):
        with pytest.raises(ValueError, match="one of 'ansi', 'rgb_array'; got") as error:
            make(render_mode=mode)
    assert "human" not in str(error.value)  # the hint about a display is for "human" only


def test_the_wrappers_users_stack_run_an_episode_and_report_its_return():
    env = make(episode_steps=50)
    env = gym.wrappers.TimeLimit(env, max_episode_steps=4)
    env = gym.wrappers.RecordEpisodeStatistics(env)
    env = gym.wrappers.NormalizeObservation(env)
    env = gym.wrappers.NormalizeReward(env)
    env = gym.wrappers.FlattenObservation(env)
    env.reset(seed=0)
    env.action_space.seed(0)
    for step in range(1, 5):
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        assert not terminated and truncated == (step == 4)
    assert info["episode"]["l"] == 4 and info["episode"]["r"] < 0


def test_record_video_writes_an_episode_of_frames(tmp_path):
    pytest.importorskip("moviepy")
    folder = tmp_path / "videos"
    env = gym.wrappers.RecordVideo(make(render_mode="rgb_array"), str(folder), disable_logger=True)
    env.reset(seed=0)
    truncated = False
    while not truncated:
        truncated = env.step(env.action_space.sample())[3]
    env.close()
    videos = list(folder.glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000


def test_a_cleanrl_style_loop_reads_episode_statistics_from_the_vector_info():
    def thunk():
        return gym.wrappers.RecordEpisodeStatistics(make())

    envs = gym.vector.SyncVectorEnv([thunk, thunk])
    envs.reset(seed=1)
    returns = []
    for _ in range(SMALL["episode_steps"]):
        _, _, _, _, infos = envs.step(envs.action_space.sample())
        if "episode" in infos:
            returns += [infos["episode"]["r"][i] for i in np.flatnonzero(infos["_episode"])]
    assert len(returns) == 2 and all(r < 0 for r in returns)


ASYNC_SCRIPT = """
import gymnasium as gym
import decore_env

def main(context):
    envs = gym.vector.AsyncVectorEnv(
        [lambda: gym.make("DecoreCompress-v0", batch_size=32, episode_steps=3)] * 2,
        context=context,
    )
    envs.reset(seed=0)
    rewards = envs.step(envs.action_space.sample())[1]
    envs.close()
    print("stepped", len(rewards))

if __name__ == "__main__":
    main({context!r})
"""


def run_script(tmp_path: Path, source: str, timeout: float = 150) -> str:
    """Runs ``source`` as a user's script in a fresh interpreter; a hang fails the test."""
    script = tmp_path / "user_script.py"
    script.write_text(textwrap.dedent(source))
    try:
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{script.name} hung for {timeout} s")
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize(
    "context",
    [
        None,
        pytest.param("forkserver", marks=pytest.mark.slow),
        pytest.param("spawn", marks=pytest.mark.slow),
    ],
)
def test_async_vector_env_works_with_every_start_method(tmp_path, context):
    assert "stepped 2" in run_script(tmp_path, ASYNC_SCRIPT.format(context=context))


def test_a_forked_child_runs_torch_on_one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # so that one thread in the child is the hook's doing
    try:
        torch.ones(256, 256) @ torch.ones(256, 256)  # the parent's thread pool is up
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report, and never return into pytest
            try:
                os.write(write, str(torch.get_num_threads()).encode())
            finally:
                os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        assert os.read(read, 8) == b"1"
    finally:
        torch.set_num_threads(threads)


# ---------------------------------------------------------------------- Stable-Baselines3
def test_sb3_make_vec_env_works_with_its_defaults():
    from stable_baselines3.common.env_util import make_vec_env

    envs = make_vec_env("DecoreCompress-v0", n_envs=2, env_kwargs=SMALL)
    assert envs.render_mode == "rgb_array"
    envs.reset()
    envs.step(np.stack([envs.action_space.sample() for _ in range(2)]))
    assert envs.get_images()[0].shape == (360, 640, 3)
    envs.close()


SUBPROC_SCRIPT = """
import numpy as np
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import SubprocVecEnv

import decore_env

if __name__ == "__main__":
    envs = make_vec_env({env_id!r}, n_envs=2, vec_env_cls=SubprocVecEnv,
                        env_kwargs={{"batch_size": 32, "episode_steps": 3}})
    envs.reset()
    rewards = envs.step(np.stack([envs.action_space.sample() for _ in range(2)]))[1]
    envs.close()
    print("stepped", len(rewards))
"""


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ["DecoreCompress-v0", "decore_env:DecoreCompress-v0"])
def test_sb3_subproc_vec_env_works_from_a_script(tmp_path, env_id):
    """Its workers start by forkserver: they import the script's module (and so the package)
    again, or the package named before the id."""
    assert "stepped 2" in run_script(tmp_path, SUBPROC_SCRIPT.format(env_id=env_id))


@pytest.mark.parametrize("algo", ["PPO", pytest.param("A2C", marks=pytest.mark.slow)])
def test_sb3_models_train_with_vec_normalize_and_eval_callback_save_and_load(algo, tmp_path):
    import stable_baselines3
    from stable_baselines3.common.callbacks import EvalCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    envs = VecNormalize(make_vec_env("DecoreCompress-v0", n_envs=2, seed=0, env_kwargs=SMALL))
    eval_env = VecNormalize(make_vec_env("DecoreCompress-v0", n_envs=1, env_kwargs=SMALL))
    cls = getattr(stable_baselines3, algo)
    rollout = {"n_steps": 4, "batch_size": 8} if algo == "PPO" else {"n_steps": 4}
    model = cls("MlpPolicy", envs, seed=0, device="cpu", **rollout)
    callback = EvalCallback(eval_env, eval_freq=4, n_eval_episodes=1, verbose=0)
    model.learn(total_timesteps=16, callback=callback)
    assert callback.last_mean_reward < 0
    model.save(tmp_path / "model")
    loaded = cls.load(tmp_path / "model", device="cpu")
    obs = envs.reset()
    np.testing.assert_array_equal(
        model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0]
    )


def test_sb3_vec_video_recorder_records_the_architecture(tmp_path):
    pytest.importorskip("moviepy")
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecVideoRecorder

    envs = make_vec_env("DecoreCompress-v0", n_envs=1, env_kwargs=SMALL)
    envs = VecVideoRecorder(envs, str(tmp_path), lambda step: step == 0, video_length=3)
    envs.reset()
    for _ in range(4):
        envs.step(np.stack([envs.action_space.sample()]))
    envs.close()
    videos = list(tmp_path.glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000


# ---------------------------------------------------------------------------- TorchRL
def test_torchrl_wraps_the_env_and_its_spec_check_passes():
    pytest.importorskip("torchrl")
    from torchrl.envs import GymWrapper
    from torchrl.envs.utils import check_env_specs

    env = GymWrapper(make())
    check_env_specs(env, seed=0)
    rollout = env.rollout(3)
    assert rollout["next", "reward"].shape == (3, 1)
