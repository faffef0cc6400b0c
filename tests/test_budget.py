"""Budget mode: the lambda controller moves lambda the right way and stays bounded."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from envs import agent_env

import decore_env  # noqa: F401  (registers the envs)
from agents.native.reinforce import DecoreAgent, ReinforceConfig
from agents.sb3.adapter import ReportArchitecture
from decore_env.envs.budget import LAM_RANGE, LambdaController, VectorBudgetWrapper

N_AGENTS = 226


def test_keeping_too_much_lowers_lambda_and_too_little_raises_it():
    controller = LambdaController(target=0.2, lam=10.0)
    high = controller.update(0.2, accuracy=0.9)  # on target: the break-even 0.9 / 0.1 = 9
    assert float(high) == pytest.approx(9.0)
    assert controller.update(0.9, accuracy=0.9) < high
    low = controller.lam
    assert controller.update(0.05, accuracy=0.9) > low


def test_lambda_settles_where_the_kept_fraction_meets_the_target():
    """A toy plant: kept fraction = lam / (lam + 1) at accuracy 0.5 (break-even 1); target 0.8
    needs lam = 4, which only the integral reaches."""
    controller = LambdaController(target=0.8, lam=50.0, gain=1.0, rate=0.2)
    for _ in range(500):
        controller.update(controller.lam / (controller.lam + 1), accuracy=0.5)
    assert controller.lam == pytest.approx(4.0, rel=1e-3)


def test_lambda_at_a_bound_stops_integrating_so_a_late_reachable_target_is_met():
    """Anti-windup: 1,000 steps that keep far too much hold lambda at its floor; the integral
    must not pile up meanwhile, or lambda stays stuck there once the target is met."""
    controller = LambdaController(target=0.3, lam=6.0)
    for _ in range(1000):
        controller.update(0.9, accuracy=0.95)
    assert controller.lam == pytest.approx(LAM_RANGE[0])
    on_target = float(controller.update(0.3, accuracy=0.95))  # zero error: the break-even
    assert on_target == pytest.approx(0.95 / 0.05, rel=1e-6)
    for _ in range(50):  # inside the bounds the integral still acts
        controller.update(0.32, accuracy=0.95)
    assert float(controller.integral) < 0


def test_lambda_is_clipped_and_state_round_trips():
    controller = LambdaController(target=1.0, lam=1.0, rate=10.0)
    for _ in range(100):
        controller.update(0.0, accuracy=0.99)
    assert controller.lam == pytest.approx(LAM_RANGE[1])
    other = LambdaController(target=0.5, lam=3.0)
    other.load_state_dict(controller.state_dict())
    assert other.lam == controller.lam and other.target == 1.0
    assert float(other.integral) == float(controller.integral)


@pytest.mark.parametrize("target", [0.0, 1.5, -0.1, math.nan])
def test_targets_outside_the_unit_interval_are_refused(target):
    with pytest.raises(ValueError, match=r"target fraction must (be in \(0, 1\]|be finite)"):
        LambdaController(target=target, lam=1.0)


@pytest.mark.parametrize("lam", [0.0, -1.0, math.inf, math.nan])
def test_lambda_must_be_finite_and_positive(lam):
    with pytest.raises(ValueError, match="lam must be (finite|> 0)"):
        LambdaController(target=0.5, lam=lam)


def test_budget_wrappers_steer_on_the_masks_played_until_an_architecture_is_reported():
    env = gym.make("DecoreCompress-v0", batch_size=32, target_params=0.5)
    assert env.get_wrapper_attr("controller").target == 0.5
    env.reset(seed=0)
    env.step(np.ones(env.action_space.shape, dtype=np.int8))  # keeps 100% > 50%
    after_all_kept = env.unwrapped.lam
    env.step(np.zeros(env.action_space.shape, dtype=np.int8))  # keeps almost nothing
    assert env.unwrapped.lam > after_all_kept

    venv = VectorBudgetWrapper(
        gym.make_vec(
            "DecoreCompress-v0",
            num_envs=4,
            vectorization_mode="vector_entry_point",
            episode_steps=1,
        ),
        target=0.2,
        resource="macs",
    )
    venv.reset(seed=0)
    *_, truncated, _ = venv.step(np.ones(venv.action_space.shape, dtype=np.int8))
    assert truncated.all()
    lam = venv.unwrapped.lam
    venv.step(np.ones(venv.action_space.shape, dtype=np.int8))  # autoreset step: no mask scored
    assert venv.unwrapped.lam == lam
    venv.unwrapped.report_architecture(np.zeros(N_AGENTS))  # reported: keeps nothing
    venv.step(np.ones(venv.action_space.shape, dtype=np.int8))  # played: keeps everything
    assert venv.unwrapped.lam > lam  # steered by the report, not by the masks played


def _kept_params(env, mask) -> float:
    gates = env.unwrapped.gates
    return float(gates.cost(torch.as_tensor(mask))[0][0]) / gates.full_cost["params"]


def test_native_agent_in_the_budget_wrapper_settles_near_the_target():
    """The agent steps the wrapped env and reports its p > 0.5 mask, which the rule steers on.

    The kept fraction moves around the target (measured on seeds 0 to 2, steps 550 to 800:
    means 0.277 to 0.297, single points 0.26 to 0.32), so the test bounds the mean of the last
    six points."""
    env = agent_env(64, target_params=0.3)
    assert isinstance(env, VectorBudgetWrapper)
    agent = DecoreAgent(env, ReinforceConfig(lr=0.1, init_weight=3.0))
    agent.learn(500 * 64)
    kept = []
    for _ in range(6):
        agent.learn(50 * 64)
        kept.append(_kept_params(env, agent.final_mask()))
    assert abs(np.mean(kept) - 0.3) <= 0.03, kept
    assert all(0.2 < k < 0.4 for k in kept), kept


def test_an_sb3_agent_reports_its_deterministic_mask_and_the_rule_steers_on_it():
    """A2C through the same wrapper: the callback reports predict(deterministic=True), and
    lambda follows that architecture (kept below the target: lambda above break-even)."""
    a2c = pytest.importorskip("stable_baselines3").A2C
    env = gym.make("DecoreCompress-v0", batch_size=64, episode_steps=50, target_params=0.9)
    model = a2c("MlpPolicy", env, seed=0, device="cpu", normalize_advantage=True)
    report = ReportArchitecture(env)
    model.learn(total_timesteps=20, callback=report)
    obs = model.get_env().reset()
    report.update_locals({"new_obs": obs})
    report.on_step()
    reported = env.unwrapped.task.architecture.cpu().numpy()
    np.testing.assert_array_equal(reported, model.predict(obs, deterministic=True)[0][0])
    env.step(reported)  # the wrapper reads the reported architecture, not the mask played
    controller = env.get_wrapper_attr("controller")
    accuracy = float(controller.accuracy)
    assert _kept_params(env, reported) < 0.9
    assert env.unwrapped.lam > accuracy / (1 - accuracy)  # keeping too little: dropping costs


def test_the_budget_architecture_meets_the_target_of_a_wrapper_the_user_added():
    """``final_architecture="budget"``: predict(deterministic=True) keeps the channels of
    highest keep probability that meet the target of the budget wrapper around the env, here
    one added by hand (the spec sets no target), within 2% from below."""
    env = VectorBudgetWrapper(agent_env(64), target=0.3)
    config = ReinforceConfig(lr=0.1, init_weight=3.0, final_architecture="budget")
    agent = DecoreAgent(env, config)
    mask, _ = agent.predict(deterministic=True)
    assert 0.3 * 0.98 <= _kept_params(env, mask) <= 0.3
    threshold = DecoreAgent(env, ReinforceConfig(lr=0.1, init_weight=3.0))
    assert _kept_params(env, threshold.predict(deterministic=True)[0]) == 1.0  # p > 0.5: all


@pytest.mark.slow
def test_a2c_in_the_budget_wrapper_ends_nearer_the_target_than_without_it():
    """A2C on the native vector env (256 masks per step, 300 steps): the wrapper steers it
    towards 0.3 params kept; at the default lambda it keeps more (seeds 0 to 2 in the
    README's budget-mode section)."""
    pytest.importorskip("stable_baselines3")
    from agents.sb3.adapter import SB3Agent

    kept = {}
    for wrapped in (False, True):
        env = gym.make_vec(
            "DecoreCompress-v0", num_envs=256, vectorization_mode="vector_entry_point"
        )
        if wrapped:
            env = VectorBudgetWrapper(env, target=0.3)
        env.reset(seed=0)
        agent = SB3Agent("a2c", env, seed=0).learn(300 * 256)
        kept[wrapped] = _kept_params(env, agent.mask)
    assert abs(kept[True] - 0.3) < abs(kept[False] - 0.3), kept
