"""The tuning protocol: the same number of configurations for every tunable contestant, the
SB3 settings reaching the algorithm, and the choice made on val over the tuning seeds."""

from dataclasses import replace

import pytest
from envs import load_benchmark

from agents.bench.cells import Cell
from agents.bench.search import search_config
from agents.bench.tuning import MAX_CONFIGS, TUNING_GRIDS, TUNING_SEEDS, choose, variant
from agents.run.config import demo_config
from agents.run.policy_phase import policy_env, run_agent
from decore_env.task.weights import default_weights

TINY = demo_config(policy_epochs=1, device="cpu")


def test_every_contestant_gets_at_most_the_same_budget_and_its_settings_first():
    for contestant, configs in TUNING_GRIDS.items():
        assert 1 < len(configs) <= MAX_CONFIGS and configs[0] == {}
        assert len({tuple(sorted(c.items())) for c in configs}) == len(configs)
        for i in range(len(configs)):  # every configuration is a valid run of its contestant
            cell = Cell("embedded", variant(contestant, i), TUNING_SEEDS[0], 0.1)
            config = search_config(TINY, cell, default_weights())
            assert config.agent == contestant
    assert set(TUNING_SEEDS).isdisjoint(range(10))  # never a reported seed


@pytest.mark.parametrize(
    ("agent", "settings", "read"),
    [
        ("ppo", {"sb3_learning_rate": 1e-3, "sb3_ent_coef": 0.01}, ("learning_rate", "ent_coef")),
        ("a2c", {"sb3_n_steps": 3}, ("n_steps",)),
        ("td3_layerwise", {"sb3_learning_rate": 3e-4}, ("learning_rate",)),
    ],
)
def test_the_sb3_settings_of_a_run_reach_the_algorithm(agent, settings, read):
    config = search_config(TINY, Cell("embedded", agent, 0, 0.1), default_weights())
    config = replace(config, **settings)
    model = run_agent(config, policy_env(config, default_weights())).model
    assert tuple(getattr(model, name) for name in read) == tuple(settings.values())


def test_the_choice_is_the_best_mean_val_on_the_seeds_every_configuration_ran():
    def row(i, seed, val):
        return {"agent": variant("ppo", i), "seed": str(seed), "val_acc": str(val)}

    rows = [row(0, 100, 0.5), row(0, 101, 0.7), row(1, 100, 0.6), row(1, 101, 0.8)]
    rows += [row(2, 100, 0.9)]  # one seed only: compared on seed 100 alone
    assert choose(rows) == {"ppo": (variant("ppo", 2), 0.9, [100])}
    tied = [row(0, 100, 0.5), row(3, 100, 0.5)]
    assert choose(tied)["ppo"][0] == variant("ppo", 0)  # a tie keeps the unchanged settings


def test_tuning_refuses_reported_seeds_and_unknown_contestants(capsys):
    tune = load_benchmark("tune")
    for argv in (["--seeds", "3"], ["--contestants", "greedy"]):
        with pytest.raises(SystemExit) as exit_:
            tune.main(argv)
        assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "seeds [3] are reported seeds" in err and "nothing to tune for ['greedy']" in err


def test_the_frozen_choices_are_the_committed_tuning_rows_choice():
    from pathlib import Path

    from agents.bench.results import ResultsCSV
    from agents.bench.search import SEARCH_COLUMNS
    from agents.bench.tuning import CHOSEN

    csv = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "tuning.csv"
    chosen = choose(ResultsCSV(csv, SEARCH_COLUMNS, ("agent", "seed")).rows())
    assert set(chosen) == set(TUNING_GRIDS) == set(CHOSEN)
    for contestant, (name, _, seeds) in chosen.items():
        assert seeds == list(TUNING_SEEDS)  # every configuration ran every tuning seed
        assert name == variant(contestant, CHOSEN[contestant])


def test_reported_runs_use_the_frozen_choice_and_tuning_runs_their_own():
    reported = search_config(TINY, Cell("embedded", "ppo", 0, 0.1), default_weights())
    assert (reported.sb3_learning_rate, reported.sb3_ent_coef) == (1e-3, 0.01)
    mean = search_config(TINY, Cell("embedded", "a2c-mean-reward", 0, 0.1), default_weights())
    assert mean.sb3_ent_coef == 0.01  # a mean-reward variant takes its contestant's choice
    own = search_config(TINY, Cell("embedded", variant("ppo", 0), 100, 0.1), default_weights())
    assert own.sb3_learning_rate is None or own.sb3_learning_rate != 1e-3
