"""The native REINFORCE agent: gradient, signs, a planted bandit, save/load."""

import numpy as np
import pytest
import torch
from envs import PairCounter
from torch import nn

from agents.native.reinforce import DecoreAgent, ReinforceConfig, reinforce_loss
from decore_env.data.splits import DataSplits
from decore_env.envs.vector import DecoreCompressVectorEnv
from decore_env.task.spec import TaskSpec

ESSENTIAL = (0, 1)


def _bandit_env(lam: float = 4.0, batch: int = 64, **fields) -> DecoreCompressVectorEnv:
    """A network whose hidden units 0 and 1 are essential and units 2..5 useless.

    Images are 2 pixels (a+1, a) for label 0 and (a, a+1) for label 1. Unit 0 computes
    relu(x0 - x1) (1 for label 0, else 0), unit 1 is a constant 1; the classifier's logit 0 is
    h0 + h1 - 1.5 against logit 1 = 0. Dropping unit 0 or unit 1 misclassifies every label-0
    image; units 2..5 have zero classifier weights.
    """
    gen = torch.Generator().manual_seed(0)
    base = torch.randint(0, 200, (2048,), generator=gen)
    labels = torch.randint(0, 2, (2048,), generator=gen)
    x = torch.stack([base + (labels == 0), base + (labels == 1)], 1).to(torch.uint8)
    hidden = nn.Linear(2, 6)
    head = nn.Linear(6, 2)
    with torch.no_grad():
        hidden.weight.normal_(generator=gen)
        hidden.bias.zero_()
        hidden.weight[0] = torch.tensor([1.0, -1.0])
        hidden.weight[1] = 0.0
        hidden.bias[1] = 1.0
        head.weight.zero_()
        head.bias.zero_()
        head.weight[0, :2] = 1.0
        head.bias[0] = -1.5
    model = nn.Sequential(nn.Flatten(), hidden, nn.ReLU(), head)
    images = x.view(-1, 1, 1, 2)
    held = (images[:64], labels[:64])
    splits = DataSplits(images, labels, *held, *held, 2, (0.0,), (1 / 255,), "bandit")
    spec = TaskSpec(model=model, dataset=splits, lam=lam, device="cpu", observe=False, **fields)
    env = DecoreCompressVectorEnv(num_envs=batch, spec=spec, tensors=True)
    env.reset(seed=0)
    return env


def test_bandit_network_is_what_the_docstring_says():
    core = _bandit_env().task.core
    masks = torch.ones(3, 6)
    masks[1, 0] = 0
    masks[2, 2:] = 0
    images, labels = core.loader.next_batch()
    accs = [core.score(m.expand(64, -1), images, labels).correct.float().mean() for m in masks]
    assert accs[0] == 1.0 and accs[2] == 1.0
    assert accs[1] == pytest.approx((labels == 1).float().mean().item())


def test_gradient_matches_the_analytic_reinforce_estimate():
    torch.manual_seed(0)
    weights = torch.randn(5, dtype=torch.float64, requires_grad=True)
    actions = torch.bernoulli(torch.full((7, 5), 0.5, dtype=torch.float64))
    advantages = torch.randn(7, 2, dtype=torch.float64)
    group_of_agent = torch.tensor([0, 0, 1, 1, 1])
    reinforce_loss(weights, actions, advantages, group_of_agent).backward()
    # d/dw log pi(a) = a - sigmoid(w) for a Bernoulli(sigmoid(w)) policy.
    analytic = -((actions - torch.sigmoid(weights)) * advantages[:, group_of_agent]).mean(0)
    assert torch.allclose(weights.grad, analytic.detach())
    assert torch.autograd.gradcheck(
        lambda w: reinforce_loss(w, actions, advantages, group_of_agent),
        (weights.detach().requires_grad_(),),
    )


def test_dropping_a_useless_channel_on_a_correct_sample_raises_its_drop_probability():
    env = _bandit_env(lam=4.0, batch=64)
    core = env.task.core
    agent = DecoreAgent(env, ReinforceConfig(lr=0.1, init_weight=0.0), seed=0)
    images, labels = core.loader.next_batch()
    actions = torch.ones(64, 6)
    actions[:, 3] = 0  # drop useless unit 3 on every sample: all predictions stay correct
    scored = core.score(actions, images, labels)
    assert scored.correct.all()
    loss = reinforce_loss(agent.weights, actions, scored.group_rewards, core.group_of_agent)
    loss.backward()
    agent.optimizer.step()
    p = agent.keep_probabilities()
    assert p[3] < 0.5  # drop probability of unit 3 rose from 0.5
    assert (p[[0, 1, 2, 4, 5]] > 0.5).all()  # kept channels on correct samples: kept more


def test_planted_bandit_is_solved_in_paper_mode_with_a_larger_learning_rate():
    agent = DecoreAgent(_bandit_env(lam=4.0), ReinforceConfig(lr=0.1, init_weight=2.0), seed=0)
    agent.learn(300 * 64)
    p = agent.keep_probabilities()
    assert (p[list(ESSENTIAL)] > 0.9).all(), p
    assert (p[2:] < 0.1).all(), p
    mask, state = agent.predict(None)
    assert state is None
    assert mask.tolist() == [1, 1, 0, 0, 0, 0]
    batch, _ = agent.predict(np.zeros((3, 5)))  # a vector env's observations: one mask each
    assert batch.shape == (3, 6) and (batch == mask).all()
    sampled, _ = agent.predict(np.zeros((3, 5)), deterministic=False)
    assert sampled.shape == (3, 6)


def test_seeded_learning_is_reproducible_and_save_load_continues_identically(tmp_path):
    def run(steps: int) -> DecoreAgent:
        agent = DecoreAgent(_bandit_env(), ReinforceConfig(lr=0.05, init_weight=1.0), 3)
        return agent.learn(steps * 64)

    a, b = run(20), run(20)
    assert torch.equal(a.weights, b.weights)
    a.save(tmp_path / "policy.pt")
    restored = DecoreAgent.load(tmp_path / "policy.pt", _bandit_env())
    restored.base.load_state_dict(a.base.state_dict())
    a.learn(10 * 64)
    restored.learn(10 * 64)
    assert torch.equal(a.weights, restored.weights)
    assert restored.num_timesteps == 30 * 64


def test_callback_can_stop_learning_and_sees_device_stats():
    agent = DecoreAgent(_bandit_env(), ReinforceConfig(lr=0.05))
    seen = []

    def stop_after_three(stats) -> bool:
        seen.append((stats.step, float(stats.accuracy)))
        return stats.step < 3 * 64

    agent.learn(100 * 64, stop_after_three)
    assert [s for s, _ in seen] == [64, 128, 192]  # global step = scored (mask, image) pairs
    assert all(0 <= acc <= 1 for _, acc in seen)


@pytest.mark.parametrize("init_weight", [30.0, -30.0])  # keeps every channel / drops every one
def test_the_step_stats_give_the_sampled_masks_kept_shares(init_weight):
    env = _bandit_env()
    stats = DecoreAgent(env, ReinforceConfig(init_weight=init_weight)).train_step()
    gates = env.gates
    mask = torch.full((gates.n_agents,), init_weight > 0)
    params, macs = gates.cost(mask)
    expected = {"params": params.item(), "macs": macs.item()}
    for resource, kept in stats.sampled_kept.items():
        assert kept.item() == pytest.approx(expected[resource] / gates.full_cost[resource])
    assert (stats.sampled_kept["params"].item() == 1.0) == (init_weight > 0)


@pytest.mark.parametrize("option", [{"baseline": True}, {"normalize_rewards": True}])
def test_variance_reduction_options_also_solve_the_bandit(option):
    agent = DecoreAgent(_bandit_env(), ReinforceConfig(lr=0.1, init_weight=2.0, **option), 0)
    agent.learn(300 * 64)
    assert agent.predict(None)[0].tolist() == [1, 1, 0, 0, 0, 0]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="lr must be > 0"):
        ReinforceConfig(lr=0)
    with pytest.raises(TypeError, match="not a DECORE vector env"):
        DecoreAgent(object())
    with pytest.raises(ValueError, match="tensors=True"):
        DecoreAgent(DecoreCompressVectorEnv(num_envs=4))
    with pytest.raises(ValueError, match="not a multiple of the 64"):
        DecoreAgent(_bandit_env()).learn(100)
    assert np.isfinite(ReinforceConfig().init_weight)


@pytest.mark.parametrize("samples_per_mask", [1, 4])
def test_learn_scores_exactly_the_pairs_asked_for_across_episode_ends(samples_per_mask):
    base = _bandit_env(batch=16, episode_steps=3, samples_per_mask=samples_per_mask)
    env = PairCounter(base)
    agent = DecoreAgent(env, ReinforceConfig(lr=0.05))
    pairs = 10 * agent.pairs_per_step
    agent.learn(pairs)
    assert env.pairs == pairs == agent.num_timesteps


def test_the_l1_prior_orders_initial_weights_by_weight_norm_inside_each_group():
    from envs import agent_env

    from decore_env.channels.importance import channel_l1

    env = agent_env(8)
    paper = DecoreAgent(env, ReinforceConfig(init_weight=3.0))
    assert torch.all(paper.weights == 3.0)
    agent = DecoreAgent(env, ReinforceConfig(init_weight=3.0, l1_prior=4.0))
    gates = env.unwrapped.gates
    weights = torch.split(agent.weights.detach(), list(gates.sizes))
    norms = torch.split(channel_l1(gates), list(gates.sizes))
    for w, norm in zip(weights, norms, strict=True):
        strongest, weakest = torch.argmax(norm), torch.argmin(norm)
        assert w[strongest] == pytest.approx(5.0) and w[weakest] == pytest.approx(1.0)
        assert torch.equal(torch.argsort(w, stable=True), torch.argsort(norm, stable=True))


def test_the_budget_architecture_keeps_the_most_likely_channels_at_the_target():
    from envs import agent_env

    from agents.references.targets import kept_fraction

    env = agent_env(8, target_params=0.5)
    agent = DecoreAgent(env, ReinforceConfig(final_architecture="budget"), seed=0)
    with torch.no_grad():
        agent.weights.copy_(
            torch.randn(agent.weights.shape, generator=torch.Generator().manual_seed(0))
        )
    mask, _ = agent.predict(None, deterministic=True)
    gates = env.unwrapped.gates
    kept = kept_fraction(gates, torch.as_tensor(mask).bool(), "params")
    assert 0.5 * 0.98 <= kept <= 0.5
    threshold = agent.final_mask()  # p > 0.5: half the channels, about 0.29 of params
    assert kept_fraction(gates, threshold, "params") < 0.4
    p = agent.keep_probabilities()
    dropped, kept_p = p[torch.as_tensor(mask) == 0], p[torch.as_tensor(mask) == 1]
    assert dropped.median() < kept_p.median()
    with pytest.raises(ValueError, match="final_architecture"):
        ReinforceConfig(final_architecture="top-k")


def test_make_agent_gives_reinforce_plus_its_preset():
    from envs import agent_env

    from agents.make import make_agent

    env = agent_env(8, target_params=0.5)
    plus = make_agent("reinforce-plus", env, l1_prior=1.0)
    assert plus.config.final_architecture == "budget" and plus.config.lr == 0.1
    assert plus.config.baseline and plus.config.l1_prior == 1.0  # the given setting wins
    assert make_agent("reinforce", env).config == ReinforceConfig()
