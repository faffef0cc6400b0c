"""The leaderboard's statistics and its rendering from CSV rows."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from agents.bench.cells import CELL_KEY
from agents.bench.results import ResultsCSV
from agents.bench.stats import bootstrap_ci, iqm, probability_of_improvement
from agents.bench.sweep import CURVE_TABLE_COLUMNS, RESULT_COLUMNS

REPORT = Path(__file__).resolve().parents[1] / "benchmarks" / "report.py"


def _report():
    spec = importlib.util.spec_from_file_location("report", REPORT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_iqm_drops_a_quarter_at_each_end():
    assert iqm([1, 2, 3, 100]) == 2.5
    assert iqm([5, 1, 3, 2, 4]) == 3.0  # floor(5/4) = 1 run cut at each end
    assert iqm([1.0, 2.0, 6.0]) == 3.0  # fewer than 4 runs: the mean
    with pytest.raises(ValueError):
        iqm([])


def test_bootstrap_interval_is_seeded_and_covers_the_iqm():
    values = [0.97, 0.975, 0.98, 0.982, 0.99]
    low, high = bootstrap_ci([values])
    assert low <= iqm(values) <= high and low >= min(values) and high <= max(values)
    assert bootstrap_ci([values]) == (low, high)
    assert bootstrap_ci([values], seed=1) != (low, high)
    assert bootstrap_ci([[1.0, 1.0], [2.0, 2.0]]) == (1.5, 1.5)  # strata are never mixed


def test_probability_of_improvement_counts_pairs_of_runs():
    assert probability_of_improvement([2, 3], [1, 1]) == 1.0
    assert probability_of_improvement([1], [1]) == 0.5
    assert probability_of_improvement([1, 3], [2]) == 0.5
    x, y = np.arange(5.0), np.arange(5.0) + 0.5
    assert probability_of_improvement(x, y) + probability_of_improvement(y, x) == 1.0


def _row(agent, seed, acc, kept, target=0.1, commit="abc"):
    row = dict.fromkeys(RESULT_COLUMNS, "")
    row |= {
        "task": "embedded", "agent": agent, "seed": seed, "target": target, "resource": "params",
        "baseline_acc": 0.985, "final_acc": acc, "drop_points": 100 * (0.985 - acc),
        "params_kept": kept, "macs_kept": kept, "matched": abs(kept / target - 1) <= 0.02,
        "pairs": 353280 if agent == "reinforce" else 0, "network_epochs": 33, "search_s": 10.0,
        "commit": commit, "command": "python benchmarks/compare_agents.py",
    }  # fmt: skip
    return row


def _board(tmp_path, rows, points=()):
    csv = tmp_path / "board.csv"
    table = ResultsCSV(csv, RESULT_COLUMNS, CELL_KEY)
    for row in rows:
        table.append(row)
    curves = ResultsCSV(tmp_path / "board-curves.csv", CURVE_TABLE_COLUMNS, (*CELL_KEY, "pairs"))
    for point in points:
        curves.append(point)
    return csv


def test_the_board_renders_byte_for_byte_and_flags_unmatched_rows(tmp_path):
    kept = [0.1015, 0.099, 0.11]
    rows = [_row("reinforce", s, 0.97 + 0.002 * s, kept[s]) for s in range(3)]
    rows += [_row("l1_global", s, 0.98, 0.099) for s in range(3)]
    rows += [_row("l1_global", 0, 0.975, 0.1015, target=0.1015)]  # follows reinforce seed 0
    points = [
        {"task": "embedded", "agent": "reinforce", "seed": s, "target": 0.1,
         "resource": "params", "pairs": p, "accuracy": 0.9, "params_kept": 1 - p / 1e4}
        for s in range(3) for p in (1000, 2000)
    ]  # fmt: skip
    csv = _board(tmp_path, rows, points)
    report = _report()
    first = report.render(csv, tmp_path / "a").read_text()
    second = report.render(csv, tmp_path / "b").read_text()
    assert first == second
    for png in ("board-embedded-params0.1-pareto.png", "board-embedded-params0.1-curves.png"):
        assert (tmp_path / "a" / png).read_bytes() == (tmp_path / "b" / png).read_bytes()
    table = first.split("### embedded: params target 0.1")[1]
    assert table.index("| l1_global | 3 | 98.00") < table.index("| reinforce | 3 |")
    assert "| 1.00 |" in table.split("| l1_global")[1].splitlines()[0]  # P(beats reinforce)
    assert "reinforce, seed 2: reached 0.1100 (+10.0% off the target)" in first
    assert "| reinforce | 0 | 0.1015 | 97.00 | 0.1015 | 97.50 | -0.50 |" in first
    assert "| reinforce | 1 | 0.0990 |" not in first  # no l1_global cell at 0.099 yet
    assert "### embedded: params target 0.1015" not in first  # a follower is no board
    assert "| 2/3 |" in table  # matched rows of reinforce
    only = report.render(csv, tmp_path / "c", agents=["reinforce"], name="only", title="Only")
    assert only.name == "only.md" and only.read_text().startswith("# Only")
    assert (tmp_path / "c" / "only-embedded-params0.1-pareto.png").is_file()


def test_rows_of_two_commits_are_refused_unless_allowed(tmp_path, capsys):
    rows = [_row("reinforce", 0, 0.97, 0.1), _row("l1_global", 0, 0.98, 0.1, commit="def")]
    csv = _board(tmp_path, rows)
    report = _report()
    assert report.main(["--csv", str(csv)]) == 2
    assert "2 commits" in capsys.readouterr().err
    assert not (tmp_path / "board.md").exists()
    assert report.main(["--csv", str(csv), "--allow-mixed-commits"]) == 0
    assert (tmp_path / "leaderboard.md").is_file() and (tmp_path / "ablation.md").is_file()


@pytest.mark.parametrize("bad", ["nan", "inf", "abc"])
def test_a_row_that_is_not_a_finite_number_is_refused_naming_file_line_and_column(
    tmp_path, capsys, bad
):
    broken = _row("l1_global", 0, 0.98, 0.1) | {"final_acc": bad}
    csv = _board(tmp_path, [_row("reinforce", 0, 0.97, 0.1), broken])
    assert _report().main(["--csv", str(csv)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: {csv} line 3 column final_acc: {bad!r} is not a finite number; repair or "
        "remove that line"
    )
    assert not (tmp_path / "leaderboard.md").exists()


def test_the_committed_leaderboard_is_what_its_csv_renders(tmp_path):
    results = REPORT.parent / "results"
    if not (results / "leaderboard.csv").is_file():
        pytest.skip("no committed leaderboard rows")
    report = _report()
    for name, (title, agents) in report.VIEWS.items():
        # the committed rows come from two commits (benchmarks/README.md says why)
        fresh = report.render(results / "leaderboard.csv", tmp_path, True, title, agents, name)
        assert fresh.read_text() == (results / f"{name}.md").read_text(), name
