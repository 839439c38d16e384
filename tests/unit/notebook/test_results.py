"""dl_helpers.notebook: recorded results reach the JSON file the tests read."""

import json

import numpy as np
import pytest

from dl_helpers.notebook import RESULTS_ENV, SHOW_RECORDS_ENV, make_output_dir, record, recorded


def test_record_merges_and_converts_numpy(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    monkeypatch.setenv(RESULTS_ENV, str(path))
    assert record("rows", np.int64(5)) is None  # a cell ending in it shows nothing
    record("diff", np.float32(0.5))
    record("vec", np.arange(3))
    assert recorded(path) == {"rows": 5, "diff": 0.5, "vec": [0, 1, 2]}
    assert json.loads(path.read_text())["rows"] == 5


def test_record_is_silent_unless_asked(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "r.json"))
    monkeypatch.delenv(SHOW_RECORDS_ENV, raising=False)
    record("x", 1)
    assert capsys.readouterr().out == ""
    assert recorded(tmp_path / "r.json") == {"x": 1}
    monkeypatch.setenv(SHOW_RECORDS_ENV, "1")
    record("y", 2)
    assert capsys.readouterr().out == "[record] y = 2\n"
    assert recorded(tmp_path / "r.json") == {"x": 1, "y": 2}


def test_unserialisable_value_fails_in_the_notebook(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "r.json"))
    with pytest.raises(TypeError):
        record("obj", object())


def test_output_dir_is_created_and_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = make_output_dir("a/b")
    assert p.is_absolute() and p.is_dir()


# compare / first_error_line on a real local session.

from dl_helpers.notebook import compare, first_error_line  # noqa: E402


def test_compare_numbers_and_arrays_by_id(spark):
    df = spark.createDataFrame(
        [(2, 1.5, [0.0, 1.0]), (0, 0.5, [1.0, 2.0]), (1, 9.0, [2.0, 3.0])],
        "id long, y double, v array<double>",
    )
    want_y = np.array([0.5, 1.0, 1.5])  # row 1 is off by 8
    found = compare(df, "y", want_y)
    assert (found.rows, found.distinct_ids, found.equal) == (3, 3, 2)
    assert found.max_abs_diff == pytest.approx(8.0)
    assert found.mismatches == ((1, 9.0, 1.0),)
    assert str(found) == "3 rows (3 distinct ids), 1 differ, max |diff| 8.00e+00"
    want_v = np.array([[1.0, 2.0], [2.0, 3.0], [0.0, 1.0 + 1e-7]])
    arrays = compare(df, "v", want_v)
    assert arrays.differing == 0 and 0 < arrays.max_abs_diff < 1e-6
    assert compare(df, "v", want_v, atol=0.0).differing == 1


def test_compare_strings_structs_duplicates_and_empty(spark):
    df = spark.createDataFrame(
        [(0, "oui", ("POS", 0.9)), (1, "non", ("NEG", 0.8)), (1, "non", ("NEG", 0.8))],
        "id long, text string, s struct<label:string, score:double>",
    )
    found = compare(df, "text", {0: "oui", 1: "si"})
    assert (found.rows, found.distinct_ids, found.differing) == (3, 2, 2)
    assert found.mismatches[0] == (1, "non", "si") and found.max_abs_diff == 0.0
    want = [{"label": "POS", "score": 0.9}, {"label": "POS", "score": 0.75}]
    struct = compare(df, "s", want)
    assert struct.equal == 1 and struct.max_abs_diff == pytest.approx(0.05)
    labels_only = compare(df, "s", want, atol=float("inf"))
    assert labels_only.differing == 2  # the labels differ whatever the tolerance
    assert compare(df, "s.label", ["POS", "NEG"]).equal == 3
    empty = compare(df.where("id < 0"), "text", {})
    assert (empty.rows, empty.max_abs_diff, empty.mismatches) == (0, 0.0, ())


def test_compare_nulls_and_missing_expected_values(spark):
    df = spark.createDataFrame([(0, None), (1, [1.0])], "id long, v array<double>")
    found = compare(df, "v", [[1.0], [1.0]])
    assert found.differing == 1 and found.max_abs_diff == float("inf")
    with pytest.raises(ValueError, match="id 1 has no expected value"):
        compare(df, "v", [[1.0]])
    with pytest.raises(ValueError, match="key 5 has no expected value"):
        compare(df.selectExpr("id + 5 as key", "v"), "v", {}, id_column="key")


def test_first_error_line_returns_the_line_that_says_why(spark, capsys):
    from pyspark.sql.functions import udf

    @udf("long")
    def fails_on_three(x):
        if x == 3:
            raise ValueError(f"bad value (row {x}): three")
        return x

    frame = spark.range(5).select(fails_on_three("id"))
    line = first_error_line(frame, "bad value (row")
    assert line.startswith("ValueError: bad value (row 3): three")
    assert "-> ValueError: bad value (row 3)" in capsys.readouterr().out
    other = first_error_line(frame, "no such text")  # no line matches: the message's start
    assert 0 < len(other) <= 300
    with pytest.raises(AssertionError, match="bad input was accepted"):
        first_error_line(spark.range(3).select(fails_on_three("id")), "bad value")


def test_first_error_line_quiets_the_failed_tasks_logs_then_restores_them(spark):
    from dl_helpers.notebook._checks import TASK_FAILURE_LOGGERS

    log4j = spark.sparkContext._jvm.org.apache.logging.log4j

    def levels():
        return [str(log4j.LogManager.getLogger(n).getLevel()) for n in TASK_FAILURE_LOGGERS]

    before, during = levels(), []

    def job():
        during.extend(levels())
        raise RuntimeError("the reason")

    assert first_error_line(job, "reason") == "the reason"
    assert during == ["OFF"] * len(TASK_FAILURE_LOGGERS)
    assert levels() == before and "OFF" not in before


def test_first_error_line_runs_a_function_too():
    def job():
        raise RuntimeError("setup\nthe reason: disk full\nmore")

    assert first_error_line(job, "reason") == "the reason: disk full"
    with pytest.raises(AssertionError):
        first_error_line(lambda: None, "reason")
