"""dl_helpers.notebook: recorded results reach the JSON file the tests read."""

import json

import numpy as np
import pytest

from dl_helpers.notebook import RESULTS_ENV, make_output_dir, record, recorded


def test_record_merges_and_converts_numpy(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    monkeypatch.setenv(RESULTS_ENV, str(path))
    assert record("rows", np.int64(5)) == 5
    record("diff", np.float32(0.5))
    record("vec", np.arange(3))
    assert recorded(path) == {"rows": 5, "diff": 0.5, "vec": [0, 1, 2]}
    assert json.loads(path.read_text())["rows"] == 5


def test_record_without_file_only_prints(monkeypatch, capsys):
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    record("x", 1)
    assert "[record] x = 1" in capsys.readouterr().out


def test_unserialisable_value_fails_in_the_notebook(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "r.json"))
    with pytest.raises(TypeError):
        record("obj", object())


def test_output_dir_is_created_and_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = make_output_dir("a/b")
    assert p.is_absolute() and p.is_dir()
