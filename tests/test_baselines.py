"""Non-RL references on the default task: targets met, no group emptied, pairs counted."""

import numpy as np
import pytest
import torch
from envs import PairCounter, agent_env

from agents.references.reference import REFERENCES, SEARCHING, Reference
from agents.references.targets import TOLERANCE, kept_fraction

N_ENVS, SAMPLES = 4, 16  # 64 images per step
STEP_PAIRS = N_ENVS * SAMPLES
BUDGET = 40 * STEP_PAIRS
"""Search budget of the tests: 40 steps, enough for greedy to reach 0.1 in rounds of 16 images
per candidate."""
IMAGES = SAMPLES


@pytest.fixture(scope="module")
def env():
    return PairCounter(agent_env(N_ENVS, samples_per_mask=SAMPLES))


def _learned(name: str, env, target: float, resource: str = "params", seed: int = 0):
    reference = Reference(name, env, target, resource, seed, images_per_mask=IMAGES)
    return reference.learn(BUDGET if name in SEARCHING else 0)


def _accuracy(env, mask: np.ndarray, steps: int = 12) -> float:
    """Env accuracy of ``mask`` over ``steps`` scoring steps (every sub-env plays it)."""
    scores = []
    while len(scores) < steps:
        *_, info = env.step(torch.as_tensor(mask).bool().expand(N_ENVS, -1))
        if "accuracy" in info:
            scores.append(float(info["accuracy"].mean()))
    return float(np.mean(scores))


@pytest.mark.parametrize("target", [0.3, 0.1])
@pytest.mark.parametrize("name", REFERENCES)
def test_each_reference_meets_the_target_without_emptying_a_group(env, name, target):
    mask, state = _learned(name, env, target).predict(deterministic=True)
    gates = env.unwrapped.gates
    assert state is None and mask.dtype == np.int8 and mask.shape == (gates.n_agents,)
    kept = kept_fraction(gates, torch.as_tensor(mask), "params")
    assert abs(kept / target - 1) <= TOLERANCE, kept
    assert gates.kept_per_group(torch.as_tensor(mask)).min() >= 1


def test_a_macs_target_is_met_on_macs(env):
    mask, _ = _learned("l1_global", env, 0.3, "macs").predict()
    kept = kept_fraction(env.unwrapped.gates, torch.as_tensor(mask), "macs")
    assert abs(kept / 0.3 - 1) <= TOLERANCE, kept


def test_uniform_and_l1_layer_share_widths_but_not_channels(env):
    uniform, _ = _learned("uniform", env, 0.3).predict()
    l1_layer, _ = _learned("l1_layer", env, 0.3).predict()
    gates = env.unwrapped.gates
    widths = [gates.kept_per_group(torch.as_tensor(m))[0] for m in (uniform, l1_layer)]
    assert torch.equal(*widths)
    assert not np.array_equal(uniform, l1_layer)


def test_l1_global_keeps_higher_norm_channels_than_it_drops(env):
    reference = _learned("l1_global", env, 0.3)
    score = reference.normalised_l1()
    kept = torch.as_tensor(reference.predict()[0]).bool()
    # Only each group's last channel (never emptied) or a skipped coarse drop may break the order.
    below = int((score[kept] < score[~kept].max()).sum())
    assert below <= len(env.unwrapped.gates.groups), below
    assert score[kept].mean() > score[~kept].mean()


def test_random_search_spends_exactly_its_budget_and_keeps_its_best_scored_candidate(
    env, monkeypatch
):
    """The choice, not an accuracy: the kept mask is the candidate of highest search score, and
    candidate 0 is ``random``'s mask (comparing accuracies of masks at 10% of params would
    compare chance-level numbers whose order depends on the CPU's rounding)."""
    scored = []
    score = Reference._score

    def spy(self, candidates, slots):
        scores = score(self, candidates, slots)
        scored.append((candidates, scores))
        return scores

    monkeypatch.setattr(Reference, "_score", spy)
    before = env.pairs
    searched = _learned("random_search", env, 0.1)
    assert env.pairs - before == BUDGET == searched.num_timesteps
    ((candidates, scores),) = scored
    assert len(candidates) == BUDGET // IMAGES
    assert torch.equal(searched.mask, candidates[int(torch.argmax(scores))])
    random, _ = _learned("random", env, 0.1).predict()
    assert np.array_equal(candidates[0].numpy(), random.astype(bool))


def test_greedy_counts_its_pairs_and_refuses_a_budget_too_small(env):
    before = env.pairs
    greedy = _learned("greedy", env, 0.3)
    assert 0 < greedy.num_timesteps == env.pairs - before <= BUDGET
    with pytest.raises(ValueError, match="greedy needs more than 0 pairs"):
        Reference("greedy", env, 0.3, images_per_mask=IMAGES).learn(0)
    overrun = Reference("greedy", env, 0.3, images_per_mask=IMAGES, overrun=True).learn(0)
    assert overrun.num_timesteps > 0  # it says what it needed
    assert abs(kept_fraction(env.unwrapped.gates, overrun.mask, "params") / 0.3 - 1) <= TOLERANCE


def test_greedy_takes_larger_steps_to_finish_within_a_small_budget():
    """Rounds of 5% need more than ten rounds to reach 0.1 (each round removes from one group
    only): with ten rounds' pairs each round removes more, and the target is met."""
    env = PairCounter(agent_env(N_ENVS, samples_per_mask=SAMPLES))  # its own: fixed images
    few_rounds = 10 * STEP_PAIRS  # four groups x 16 images = one step a round
    plain = Reference("greedy", env, 0.1, images_per_mask=IMAGES).learn(BUDGET)
    assert plain.num_timesteps > few_rounds
    tight = Reference("greedy", env, 0.1, images_per_mask=IMAGES).learn(few_rounds)
    assert tight.num_timesteps <= few_rounds
    assert abs(kept_fraction(env.unwrapped.gates, tight.mask, "params") / 0.1 - 1) <= TOLERANCE


def test_bad_names_and_budgets_are_refused(env):
    with pytest.raises(ValueError, match="unknown reference 'magnitude'; one of uniform"):
        Reference("magnitude", env, 0.3)
    with pytest.raises(ValueError, match="not a multiple"):
        Reference("random_search", env, 0.3, images_per_mask=IMAGES).learn(STEP_PAIRS + 1)
    with pytest.raises(RuntimeError, match="before predict"):
        Reference("uniform", env, 0.3).predict()
