"""Budget mode: the lambda controller moves lambda the right way and stays bounded."""

import math

import gymnasium as gym
import numpy as np
import pytest

import decore_env  # noqa: F401  (registers the envs)
from decore_env.budget import LAM_RANGE, BudgetWrapper, LambdaController, VectorBudgetWrapper


def test_keeping_too_much_lowers_lambda_and_too_little_raises_it():
    controller = LambdaController(target=0.2, lam=10.0)
    assert controller.update(0.9) < 10.0
    low = controller.lam
    assert controller.update(0.05) > low


def test_lambda_settles_where_the_kept_fraction_meets_the_target():
    """A toy plant: kept fraction = lam / (lam + 1); target 0.5 needs lam = 1."""
    controller = LambdaController(target=0.5, lam=50.0, rate=0.5)
    for _ in range(500):
        controller.update(controller.lam / (controller.lam + 1))
    assert controller.lam == pytest.approx(1.0, rel=1e-3)


def test_lambda_is_clipped_and_state_round_trips():
    controller = LambdaController(target=1.0, lam=1.0, rate=10.0)
    for _ in range(100):
        controller.update(0.0)
    assert controller.lam == pytest.approx(LAM_RANGE[1])
    other = LambdaController(target=0.5, lam=3.0)
    other.load_state_dict(controller.state_dict())
    assert other.lam == controller.lam and other.target == 1.0


@pytest.mark.parametrize("target", [0.0, 1.5, -0.1, math.nan])
def test_targets_outside_the_unit_interval_are_refused(target):
    with pytest.raises(ValueError, match=r"target fraction must (be in \(0, 1\]|be finite)"):
        LambdaController(target=target, lam=1.0)


@pytest.mark.parametrize("lam", [0.0, -1.0, math.inf, math.nan])
def test_lambda_must_be_finite_and_positive(lam):
    with pytest.raises(ValueError, match="lam must be (finite|> 0)"):
        LambdaController(target=0.5, lam=lam)


def test_budget_wrappers_steer_the_env_lambda_from_the_masks_played():
    env = BudgetWrapper(gym.make("DecoreCompressLeNet-v0", batch_size=32), target=0.5)
    env.reset(seed=0)
    start = env.unwrapped.lam
    env.step(np.ones(env.action_space.shape, dtype=np.int8))  # keeps 100% > 50%
    assert env.unwrapped.lam < start
    lowered = env.unwrapped.lam
    env.step(np.zeros(env.action_space.shape, dtype=np.int8))  # keeps almost nothing
    assert env.unwrapped.lam > lowered

    venv = VectorBudgetWrapper(
        gym.make_vec(
            "DecoreCompressLeNet-v0",
            num_envs=4,
            vectorization_mode="vector_entry_point",
            episode_steps=1,
        ),
        target=0.2,
        resource="macs",
    )
    venv.reset(seed=0)
    start = venv.unwrapped.lam
    *_, truncated, _ = venv.step(np.ones(venv.action_space.shape, dtype=np.int8))
    assert venv.unwrapped.lam < start and truncated.all()
    lowered = venv.unwrapped.lam
    venv.step(np.ones(venv.action_space.shape, dtype=np.int8))  # autoreset step: no mask scored
    assert venv.unwrapped.lam == lowered
