"""The append-only results table: resumable, whole rows, one schema per file."""

import pytest

from agents.bench.results import ResultsCSV, SchemaError

COLUMNS = ["agent", "seed", "accuracy"]


def test_rows_append_and_name_their_cells(tmp_path):
    table = ResultsCSV(tmp_path / "r.csv", COLUMNS, key=["agent", "seed"])
    assert table.rows() == [] and table.done() == set()
    table.append({"agent": "l1_global", "seed": 0, "accuracy": 0.9812345678901})
    table.append({"agent": "random", "seed": 1, "accuracy": None})
    again = ResultsCSV(tmp_path / "r.csv", COLUMNS, key=["agent", "seed"])
    assert again.done() == {("l1_global", "0"), ("random", "1")}
    assert again.rows()[0]["accuracy"] == "0.9812345678901"  # full precision
    assert again.rows()[1]["accuracy"] == ""
    assert again.key_of({"agent": "random", "seed": 1}) in again.done()


def test_a_file_with_another_schema_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("agent,seed\nppo,0\n")
    with pytest.raises(SchemaError, match="another results file"):
        ResultsCSV(path, COLUMNS, key=["agent"])
    assert path.read_text() == "agent,seed\nppo,0\n"


def test_a_row_must_fit_the_columns(tmp_path):
    table = ResultsCSV(tmp_path / "r.csv", COLUMNS, key=["agent"])
    with pytest.raises(ValueError, match="missing"):
        table.append({"agent": "ppo", "seed": 0})
    assert not (tmp_path / "r.csv").exists()
