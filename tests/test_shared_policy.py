"""The shared per-channel policy: its inputs, its invariances, its file, its two trainers."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from envs import PairCounter, agent_env

from agents.make import make_agent
from agents.native.shared import SharedReinforceAgent, train_tasks
from agents.native.shared_net import (
    FEATURE_LAYOUT,
    INPUTS,
    PolicyFileError,
    SharedKeepNet,
    agent_features,
    expected_width_scores,
)
from agents.references.targets import kept_fraction, top_scored
from agents.run.config import CompressConfig
from agents.sb3.adapter import shared_logits
from decore_env.common.files import atomic_save

N = 32


def vector_env(tensors: bool = True, **fields) -> gym.vector.VectorEnv:
    """The default task, N masks per step, on the frozen baseline, observations on."""
    return agent_env(N, tensors=tensors, **{"observe": True, "train_network": False, **fields})


def trained_net(seed: int = 0) -> SharedKeepNet:
    """A network whose every weight is non-zero, so each input can move the logit."""
    torch.manual_seed(seed)
    net = SharedKeepNet()
    torch.nn.init.normal_(net.head.weight)
    return net


def test_an_agent_reads_only_its_own_its_groups_and_the_tasks_entries():
    env = vector_env(target_params=0.2)
    layout = env.unwrapped.layout
    obs = torch.as_tensor(env.reset(seed=0)[0])[0]
    features = agent_features(layout, obs)
    assert features.shape == (layout.n_agents, len(INPUTS))
    parts = layout.unpack(obs)
    group = torch.repeat_interleave(torch.arange(4), torch.tensor(layout.sizes))
    torch.testing.assert_close(features[:, 0], parts["groups"][group, 0])  # position
    torch.testing.assert_close(features[:, 3], parts["groups"][group, 3].log10() / 6)  # MACs
    torch.testing.assert_close(features[:, 4], parts["agents"][:, 0])  # weight norm
    assert features[:, 6].eq(0.2).all() and features[:, 7].eq(1.0).all()  # the targets
    changed = obs.clone()
    parts = layout.unpack(changed)  # views: writing them writes ``changed``
    parts["agents"][6:, :] = torch.rand_like(parts["agents"][6:, :])  # every other group's
    parts["groups"][1:, :] = torch.rand_like(parts["groups"][1:, :])
    parts["global"][:3] = 0.5  # the moving entries, which the policy does not read
    moved = agent_features(layout, changed)
    assert torch.equal(moved[:6], features[:6]) and not torch.equal(moved[6:], features[6:])


def test_an_agents_logit_does_not_depend_on_the_order_or_number_of_the_others():
    net = trained_net()
    features = torch.rand(50, len(INPUTS))
    logits = net(features)
    order = torch.randperm(50, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(net(features[order]), logits[order])
    torch.testing.assert_close(net(features[:7]), logits[:7])
    assert logits.std() > 0  # the inputs matter: the test above could fail


def test_a_saved_policy_loads_as_weights_only_and_gives_the_same_architecture(tmp_path):
    env = vector_env(target_params=0.1)
    agent = make_agent("shared-reinforce", env, seed=0)
    agent.learn(20 * N * env.unwrapped.samples_per_mask)
    agent.save_policy(tmp_path / "policy.pt")
    saved = torch.load(tmp_path / "policy.pt", weights_only=True)
    assert saved["layout"] == FEATURE_LAYOUT
    other = vector_env(target_params=0.1)
    loaded = make_agent("shared-reinforce", other, seed=1, policy_file=str(tmp_path / "policy.pt"))
    torch.testing.assert_close(loaded.keep_scores(), agent.keep_scores())
    assert torch.equal(loaded.architecture(), agent.architecture())


def test_the_shared_agent_reports_nothing_and_outputs_its_architecture_on_the_target():
    """Budget mode steers lambda on its sampled masks (nothing reported); the projected
    expected architecture meets the target."""
    env = vector_env(target_params=0.1)
    agent = make_agent("shared-reinforce", env, seed=0)
    env.unwrapped.report_architecture(torch.ones(env.unwrapped.gates.n_agents, dtype=torch.bool))
    agent.learn(5 * N * env.unwrapped.samples_per_mask)
    assert env.unwrapped.task.architecture is None  # withdrawn, not only never set
    scores = expected_width_scores(agent.logits().detach().cpu(), agent.layout.sizes)
    expected = top_scored(env.unwrapped.gates, scores, 0.1, "params")
    assert torch.equal(agent.architecture().cpu(), expected)
    assert kept_fraction(env.unwrapped.gates, expected, "params") == pytest.approx(0.1, rel=0.02)


def test_ppo_with_the_shared_policy_reports_nothing_and_outputs_its_architecture_on_the_target():
    env = vector_env(tensors=False, target_params=0.1, reward_reduction="mean")
    agent = make_agent("ppo-shared", env, seed=0, n_steps=4)
    env.unwrapped.report_architecture(torch.ones(env.unwrapped.gates.n_agents, dtype=torch.bool))
    agent.learn(4 * N)
    assert env.unwrapped.task.architecture is None  # withdrawn, not only never set
    assert agent.reported_architecture() is None  # a resumed run reports the same
    scores = expected_width_scores(
        shared_logits(agent.model, agent.model._last_obs), agent.model.policy.layout.sizes
    )
    expected = top_scored(env.unwrapped.gates, scores, 0.1, "params")
    assert torch.equal(agent.mask, expected)
    assert kept_fraction(env.unwrapped.gates, expected, "params") == pytest.approx(0.1, rel=0.02)


def test_expected_width_scores_fill_each_group_to_its_expected_width_by_logit():
    """Group 0 expects about 4 of its 4 channels and group 1 one; keeping 4 channels keeps 3
    in group 0 and 1 in group 1, where ranking by logit alone would keep group 0 whole."""
    logits = torch.tensor([4.0, 3.9, 3.8, 3.7, 2.0, -8.0, -8.0, -8.0])
    scores = expected_width_scores(logits, [4, 4])
    kept = torch.zeros(8, dtype=torch.bool)
    kept[torch.topk(scores, 4).indices] = True
    assert kept.tolist() == [True, True, True, False, True, False, False, False]
    with pytest.raises(ValueError, match="8 logits for groups of 7"):
        expected_width_scores(logits, [4, 3])


def test_expected_width_scores_keep_groups_in_proportion_at_any_common_share():
    logits = torch.cat([torch.full((10,), 2.0), torch.full((20,), -1.0)])
    scores = expected_width_scores(logits, [10, 20])
    expected = torch.tensor(
        [10 * torch.sigmoid(torch.tensor(2.0)), 20 * torch.sigmoid(torch.tensor(-1.0))]
    )
    for k in (6, 12):
        kept = torch.zeros(30, dtype=torch.bool)
        kept[torch.topk(scores, k).indices] = True
        widths = torch.tensor([kept[:10].sum(), kept[10:].sum()]).float()
        assert (widths / widths.sum() - expected / expected.sum()).abs().max() < 1 / k


def test_a_policy_file_of_another_layout_is_refused_naming_both(tmp_path):
    net = SharedKeepNet()
    net.save(tmp_path / "policy.pt")
    saved = torch.load(tmp_path / "policy.pt", weights_only=True)
    atomic_save(saved | {"layout": "shared-v0:agents.weight_norm"}, tmp_path / "old.pt")
    with pytest.raises(PolicyFileError, match="shared-v0:agents.weight_norm.*shared-v1"):
        SharedKeepNet.load(tmp_path / "old.pt")
    atomic_save({"weights": torch.zeros(3)}, tmp_path / "agent.pt")
    with pytest.raises(PolicyFileError, match="not a shared policy file"):
        SharedKeepNet.load(tmp_path / "agent.pt")
    for broken in ({"state": {}}, {"hidden": [7]}):  # a part missing, a part of other shapes
        atomic_save(saved | broken, tmp_path / "broken.pt")
        with pytest.raises(PolicyFileError, match="holds no whole policy network"):
            SharedKeepNet.load(tmp_path / "broken.pt")
    with pytest.raises(ValueError, match="reinforce has none"):
        make_agent("reinforce", vector_env(), policy_file=str(tmp_path / "policy.pt"))


def test_the_shared_agent_needs_observations_and_a_policy_file_needs_a_shared_agent():
    with pytest.raises(ValueError, match="observe=True"):
        SharedReinforceAgent(vector_env(observe=False))
    with pytest.raises(ValueError, match="--policy-file.*shared-reinforce or ppo-shared"):
        CompressConfig(agent="reinforce", policy_file="policy.pt")
    with pytest.raises(ValueError, match="policy_epochs"):
        CompressConfig(agent="shared-reinforce", policy_epochs=0)  # zero-shot needs a policy
    zero_shot = CompressConfig(agent="shared-reinforce", policy_epochs=0, policy_file="p.pt")
    assert zero_shot.search_epochs == 0


def test_tasks_trained_together_each_get_their_own_pairs_and_move_one_network():
    envs = [PairCounter(vector_env(target_params=t)) for t in (0.1, 0.3)]
    net = SharedKeepNet()
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    agents = [SharedReinforceAgent(e, net=net, optimizer=optimizer) for e in envs]
    before = [p.detach().clone() for p in net.parameters()]
    per_step = agents[0].pairs_per_step
    order = []
    train_tasks(agents, [6 * per_step, 3 * per_step], lambda i, _: order.append(i))
    assert [e.pairs for e in envs] == [6 * per_step, 3 * per_step]
    assert [a.num_timesteps for a in agents] == [6 * per_step, 3 * per_step]
    assert order == [0, 1, 0, 0, 1, 0, 0, 1, 0]  # the task furthest behind its budget first
    assert all(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    with pytest.raises(ValueError, match="one network and one optimiser"):
        train_tasks([agents[0], SharedReinforceAgent(envs[1])], [per_step, per_step])


def test_a_ppo_trained_policy_starts_the_native_agent_on_the_same_logits(tmp_path):
    env = vector_env(tensors=False, target_params=0.1, reward_reduction="mean")
    ppo = make_agent("ppo-shared", env, seed=0, n_steps=4)
    ppo.learn(8 * N)
    ppo.save_policy(tmp_path / "policy.pt")
    native = make_agent(
        "shared-reinforce",
        vector_env(target_params=0.1),
        seed=0,
        policy_file=str(tmp_path / "policy.pt"),
    )
    torch.testing.assert_close(native.keep_scores(), ppo.keep_scores())
    learned = native.keep_probabilities().cpu().numpy()
    assert not np.allclose(learned, torch.sigmoid(torch.tensor(3.0)).item())
