"""The policy path's speed properties: no host reads inside an epoch, index tensors copied to
the device once, torch.compile with its eager fallback."""

import copy
import traceback
import warnings

import pytest
import torch
from envs import agent_env
from torch.utils._python_dispatch import TorchDispatchMode
from tqdm import tqdm

from agents.native.reinforce import DecoreAgent, ReinforceConfig
from agents.run.config import demo_config
from agents.run.policy_phase import PolicyPhase
from agents.run.tracking import Tracker
from decore_env import models
from decore_env.channels.gates import ChannelGates
from decore_env.data.loader import TensorLoader
from decore_env.data.sets import load_dataset
from decore_env.task import forward
from decore_env.task.core import CompressionCore
from decore_env.task.weights import cached_baseline

COMPILE_ATOL = 1e-4
"""Compiled and eager float32 logits agree within this, plus a relative 1e-4 (inductor
reorders sums: measured on the CPU, max 3e-5 on ResNet-56 logits of size 150, 0 on LeNet-5)."""

HOST_READS = {"aten._local_scalar_dense.default", "aten.nonzero.default"}
"""Ops that read a device value on the host (.item(), bool(), float(), data-dependent shapes)."""
HOST_DATA = "aten.lift_fresh.default"
"""A tensor made from host data (torch.tensor(...)): on CUDA a copy that waits for the device."""


class HostSyncs(TorchDispatchMode):
    """Records the ops that would make the host wait for a CUDA device, with where they ran.

    Adam's and SGD's step counters live on the host by design (torch.optim keeps them there
    unless ``capturable``), so reads inside torch.optim are not counted.
    """

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func)
        if name in HOST_READS or name == HOST_DATA:
            stack = traceback.extract_stack()[:-1]
            if not any("torch/optim/" in frame.filename for frame in stack):
                where = next(f for f in reversed(stack) if "/torch/" not in f.filename)
                self.found.append(f"{name} at {where.filename}:{where.lineno}")
        return func(*args, **(kwargs or {}))


def test_a_policy_step_reads_nothing_back_from_the_device():
    """Joint training, budget mode and per-sample masks: every step stays on the device."""
    env = agent_env(32, train_network=True, target_params=0.4)
    agent = DecoreAgent(env, ReinforceConfig())
    agent.train_step()  # first steps build optimiser state
    agent.train_step()
    with HostSyncs() as spy:
        for _ in range(3):
            agent.train_step()
    assert spy.found == []


def test_the_policy_phase_reads_the_device_only_at_its_log_points():
    splits = load_dataset("embedded")
    config = demo_config(batch_size=32, log_every=4)
    phase = PolicyPhase(config, cached_baseline("lenet5", splits, 0, "cpu"), splits)
    with tqdm(disable=True) as bar:
        log = lambda stats: phase.on_step(stats, Tracker(), bar)  # noqa: E731
        phase.agent.learn(32, log)
        with HostSyncs() as spy:
            phase.agent.learn(2 * 32, log)  # updates 2 and 3
        assert spy.found == []
        with HostSyncs() as spy:
            phase.agent.learn(32, log)  # update 4: a log point
        assert spy.found


class _Copies(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += func is torch.ops.aten._to_copy.default
        return func(*args, **(kwargs or {}))


def test_gate_index_tensors_are_copied_to_the_device_once():
    """On the meta device (shapes only, any transfer visible): a second masked pass and the
    group sums copy nothing."""
    model = models.create("lenet5")
    gates = ChannelGates(model, torch.zeros(1, 1, 28, 28))
    model.to("meta")
    x = torch.zeros(4, 1, 28, 28, device="meta")
    mask = torch.ones(4, gates.n_agents, device="meta")
    with gates.masked(mask):
        model(x)
    gates.group_means(mask)
    with _Copies() as copies:
        with gates.masked(mask):
            model(x)
        gates.group_means(mask)
    assert copies.count == 0


def _core(model: torch.nn.Module, train: bool, compile: bool) -> CompressionCore:
    splits = load_dataset("embedded")
    x = torch.zeros(1, *splits.input_shape)
    loader = TensorLoader.training(splits, 16, "cpu", augment=False)
    return CompressionCore(model, ChannelGates(model, x), loader, 2.0, train, compile=compile)


def test_attached_gates_pass_inputs_through_outside_masked_and_detach_cleanly():
    model = models.create("lenet5").eval()
    x = torch.randn(3, 1, 28, 28)
    gates = ChannelGates(model, x[:1])
    plain = model(x)
    mask = torch.rand(3, gates.n_agents) > 0.5
    with gates.masked(mask):
        masked = model(x)
    gates.attach(torch.device("cpu"))
    assert torch.equal(model(x), plain)
    with gates.masked(mask):
        assert torch.equal(model(x), masked)
    gates.detach()
    assert not any(m._forward_pre_hooks or m._forward_hooks for m in model.modules())


def test_compile_unavailable_falls_back_to_eager_with_one_warning(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("Dynamo is not supported on this Python")

    monkeypatch.setattr(torch, "compile", broken)
    monkeypatch.setattr(forward, "_warned", False)
    with pytest.warns(RuntimeWarning, match="Dynamo is not supported") as caught:
        cores = [_core(models.create("lenet5"), False, compile=True) for _ in range(2)]
    assert len(caught) == 1 and not any(c.forward.compiled for c in cores)


def test_a_compiled_pass_that_fails_falls_back_to_the_same_result(monkeypatch):
    """A failing compiled network (its forward and, for joint training, its backward) is
    replaced by the eager one: the step's result is the eager step's, warned about once."""

    def failing(model):
        def call(x):
            raise RuntimeError("backend compiler failed")

        return call

    monkeypatch.setattr(torch, "compile", failing)
    monkeypatch.setattr(forward, "_warned", False)
    torch.manual_seed(0)
    model = models.create("lenet5")
    eager, compiled = _core(model, True, False), _core(copy.deepcopy(model), True, True)
    masks = torch.rand(16, eager.gates.n_agents) > 0.3
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = [compiled.step(masks), compiled.step(masks)]
    assert len(caught) == 1 and "backend compiler failed" in str(caught[0].message)
    assert not compiled.forward.compiled
    assert not any(m._forward_pre_hooks for m in compiled.model.modules())
    expected = [eager.step(masks), eager.step(masks)]
    for got, want in zip(results, expected, strict=True):
        assert torch.equal(got.group_rewards, want.group_rewards)
        assert torch.equal(got.loss, want.loss)
    for a, b in zip(compiled.model.parameters(), eager.model.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "train"), [("lenet5", False), ("lenet5", True)])
def test_compiled_and_eager_masked_forwards_agree(name, train):
    """torch.compile of the masked forward (inductor on the CPU here) computes the eager
    logits within COMPILE_ATOL, for new masks without recompiling, and in joint training the
    same updated weights."""
    torch.manual_seed(0)
    model = models.create(name)
    eager, compiled = _core(model, train, False), _core(copy.deepcopy(model), train, True)
    graphs = []
    for seed in range(2):
        masks = torch.rand(16, eager.gates.n_agents, generator=torch.Generator().manual_seed(seed))
        masks = masks > 0.3
        images, labels = eager.loader.next_batch()
        want = eager.score(masks, images, labels)
        got = compiled.score(masks, images, labels)
        assert compiled.forward.compiled
        graphs.append(torch._dynamo.utils.counters["stats"]["unique_graphs"])
        torch.testing.assert_close(got.loss, want.loss, rtol=1e-4, atol=COMPILE_ATOL)
    assert graphs[0] == graphs[1]  # the second masks compiled nothing new
    for a, b in zip(compiled.model.parameters(), eager.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=COMPILE_ATOL)


@pytest.mark.slow
def test_compiled_resnet56_masked_logits_match_eager():
    torch.manual_seed(0)
    model = models.create("resnet56").eval()
    x = torch.randn(8, 3, 32, 32)
    gates = ChannelGates(model, x[:1])
    masks = torch.rand(8, gates.n_agents) > 0.3
    with torch.no_grad():
        want = forward.MaskedForward(model, gates, torch.device("cpu"))(x, masks)
        compiled = forward.MaskedForward(model, gates, torch.device("cpu"), compile=True)
        got = compiled(x, masks)
    assert compiled.compiled
    torch.testing.assert_close(got, want, rtol=1e-4, atol=COMPILE_ATOL)
    compiled.close()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_policy_step_never_synchronises():
    """CUDA's own check: any synchronising call inside the steps raises."""
    env = agent_env(64, device="cuda", train_network=True, target_params=0.4)
    agent = DecoreAgent(env, ReinforceConfig())
    agent.train_step()
    agent.train_step()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            agent.train_step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
