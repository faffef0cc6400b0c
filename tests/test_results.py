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


def test_a_row_cut_mid_write_is_no_row_and_is_set_aside_by_the_next_append(tmp_path):
    """A crash or a full disk left ``random_sea`` without its newline: the cell is not done,
    and the next append moves the fragment to ``r.csv.rejected`` instead of gluing onto it."""
    path = tmp_path / "r.csv"
    path.write_text("agent,seed,accuracy\nl1_global,0,0.9\nrandom_sea")
    table = ResultsCSV(path, COLUMNS, key=["agent", "seed"])
    assert table.done() == {("l1_global", "0")}
    with pytest.warns(UserWarning, match="last line was cut"):
        assert table.append({"agent": "random_search", "seed": 0, "accuracy": 0.5})
    assert path.read_text() == "agent,seed,accuracy\nl1_global,0,0.9\nrandom_search,0,0.5\n"
    assert (tmp_path / "r.csv.rejected").read_text() == "random_sea\n"


def test_a_malformed_row_is_refused_naming_file_and_line(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("agent,seed,accuracy\nl1_global,0,0.9\nrandom_seaembedded,1\n")
    with pytest.raises(SchemaError, match=r"r.csv line 3: 2 fields, the header has 3"):
        ResultsCSV(path, COLUMNS, key=["agent", "seed"]).done()


def test_a_cell_another_writer_appended_is_not_appended_again(tmp_path):
    first = ResultsCSV(tmp_path / "r.csv", COLUMNS, key=["agent", "seed"])
    second = ResultsCSV(tmp_path / "r.csv", COLUMNS, key=["agent", "seed"])
    assert first.append({"agent": "uniform", "seed": 0, "accuracy": 0.5})
    assert not second.append({"agent": "uniform", "seed": 0, "accuracy": 0.6})
    assert (tmp_path / "r.csv").read_text().count("uniform") == 1
