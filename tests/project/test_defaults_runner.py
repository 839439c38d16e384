"""ci/defaults_on_cluster.py's own parts (the runs themselves are ``make defaults-on-cluster``):
which notebooks it runs, the error line it reports for a failed one, its table."""

from __future__ import annotations

import json

from conftest import ROOT

from ci.defaults_on_cluster import first_error, notebooks, table
from ci.run_notebook import NotebookFailed


def test_runs_every_notebook():
    found = {p.relative_to(ROOT).as_posix() for p in notebooks([])}
    assert found == {p.relative_to(ROOT).as_posix() for p in (ROOT / "notebooks").rglob("*.ipynb")}
    assert "notebooks/tensorflow/keras_resnet50_tf.ipynb" in found
    assert [p.stem for p in notebooks(["keras_resnet50"])] == ["keras_resnet50_tf"]


def test_first_error_is_the_failing_cells(tmp_path):
    executed = tmp_path / "nb.ipynb"
    cells = [
        {"cell_type": "code", "outputs": [{"output_type": "stream", "text": "ok"}]},
        {
            "cell_type": "code",
            "outputs": [
                {
                    "output_type": "error",
                    "ename": "Py4JJavaError",
                    "evalue": "An error occurred while calling o91.count.\n: Job aborted",
                }
            ],
        },
    ]
    executed.write_text(json.dumps({"cells": cells}))
    failed = NotebookFailed("nb.ipynb failed after 3 s (exit 1)\nValueError: later", executed)
    assert first_error(failed) == "Py4JJavaError: An error occurred while calling o91.count."
    # No executed notebook: the first error-like line of papermill's output.
    gone = NotebookFailed("nb failed (exit 1)\nsome log\nKeyError: 'x'\nmore", None)
    assert first_error(gone) == "KeyError: 'x'"


def test_table_has_a_row_per_notebook():
    rows = [
        {"notebook": "a_torch", "rc": 0, "seconds": 12.34, "error": ""},
        {"notebook": "b_tf", "rc": 1, "seconds": 99.9, "error": "MemoryError: a|b"},
    ]
    lines = table(rows).splitlines()
    assert lines[2] == "| a_torch | 0 | 12 |  |"
    assert lines[3] == "| b_tf | 1 | 100 | MemoryError: a\\|b |"
