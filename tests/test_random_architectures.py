"""Random architectures (``tests/random_nets.py``): a network built only from supported
constructs prunes exactly for random masks, with params and MACs as predicted; one that holds
a refused construct is refused naming that block and the construct. A blanket refusal, an
unnamed crash or a wrong cut fails."""

import pytest
import torch
from random_nets import REFUSED, SUPPORTED, blocks_table, random_net, verify

DEFAULT_SEEDS = range(20)
SLOW_SEEDS = range(20, 320)
REGRESSIONS: dict[int, str] = {
    171: "a ghost module flattened into a linear layer: torch-pruning left the concatenation "
    "unmapped and cut the wrong features (now refused by name)",
}
"""Seeds that once failed, each with what went wrong; they run in the default test run."""


def check(seed: int) -> None:
    verify(random_net(seed))


@pytest.mark.parametrize("seed", sorted({*DEFAULT_SEEDS, *REGRESSIONS}))
def test_random_architecture(seed):
    check(seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SLOW_SEEDS)
def test_many_random_architectures(seed):
    check(seed)


def test_the_generator_draws_every_construct_and_both_outcomes():
    """Generation alone (no tracing): the seeds the tests run cover the whole catalogue."""
    nets = [random_net(seed) for seed in SLOW_SEEDS]
    drawn = {name for net in nets for name in net.constructs}
    assert drawn == {*SUPPORTED, *REFUSED}
    defaults = [random_net(seed).expect_exact for seed in DEFAULT_SEEDS]
    assert any(defaults) and not all(defaults)


def test_a_seed_is_one_network():
    first, again = random_net(7), random_net(7)
    assert str(first.model) == str(again.model) and first.refusal == again.refusal
    weights, again_weights = first.model.state_dict(), again.model.state_dict()
    assert all(torch.equal(weights[k], again_weights[k]) for k in weights)


def test_the_readme_building_blocks_table_is_current():
    """Each construct alone gets its expected outcome (verify raises otherwise), as the
    README says."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start, end = "<!-- building-blocks:start -->\n", "\n<!-- building-blocks:end -->"
    assert readme.split(start, 1)[1].split(end, 1)[0] == blocks_table(), (
        "README's building-blocks table is stale: run python scripts/supported_models.py --blocks"
    )
