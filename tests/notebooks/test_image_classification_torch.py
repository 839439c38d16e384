"""notebooks/pytorch/image_classification_torch.ipynb, end to end with small CI parameters on the
multi-node cluster fixture, and in local mode (the main job, make run) with the sections that
the cluster run and the unit tests already cover off (Triton, the large job), to keep CI within
its time; the same results asserted."""

import re

import pyarrow.parquet as pq
import pytest
from conftest import CLASSIC, notebook_modes
from notebook_checks import check_placement

NOTEBOOK = "notebooks/pytorch/image_classification_torch.ipynb"
ROWS = 1500
LARGE = 8000  # rows of the large-job section
PARAMS = {
    "num_train": 4000,
    "num_test_rows": ROWS,
    "epochs": 2,
    "batch_size": 256,
    "num_files": 4,
    "large_job_rows": LARGE,
    "large_job_chunks": 4,
}


# Local mode in CI: the Triton section (local servers: tests/unit/servers/test_triton.py) and the
# large job
# (progress, quarantine, resume: their unit tests and the cluster run) off.
LOCAL_PARAMS = PARAMS | {"run_triton": False, "run_large_job": False}


def check(r, on_cluster, full=True):
    assert r["offline_standin"] is True  # tests never download
    assert r["test_accuracy"] > 0.8  # a trained model, so agreement checks mean something

    # Spark's predictions equal the model's own, row by row, in both layouts
    for layout in ("array", "columns", "fast"):  # fast: tensor column + native Arrow UDF
        assert r[f"spark_{layout}_rows"] == ROWS
        assert r[f"spark_{layout}_max_abs_diff"] <= 1e-5
        assert r[f"spark_{layout}_same_classes"] is True

    # Bad input: errors name the column, the row and what was expected
    assert "input column 'data' (row 1): has 783 values, expected 784" in r["error_short_row"]
    assert "input column 'data' (row 7): is null" in r["error_null_row"]
    assert "input column 'c5' (row 1): is null or NaN" in r["error_null_scalar"]

    # Predictions written to Parquet, one per input row
    assert r["predictions_rows"] == r["input_rows"] == ROWS
    assert pq.read_table(r["predictions_path"]).num_rows == ROWS
    assert abs(r["spark_accuracy"] - r["test_accuracy"]) < 1e-6

    # Triton served the same model: same logits
    if full:
        assert r["triton_rows"] == ROWS
        assert r["triton_max_abs_diff"] <= 1e-5
    else:
        assert "triton_rows" not in r and "large_job_rows" not in r  # the sections were off

    # No GPU in CI: TensorRT skipped with a reason
    assert "tensorrt_max_abs_diff" in r or r["tensorrt_skipped"]
    assert r["spark_rows_per_s_warm"] > 0 and r["direct_rows_per_s"] > 0
    assert r["fast_rows_per_s_warm"] > 0

    assert r["predictions_path"].startswith(r["storage"]["shared_dir"])
    check_placement(r, on_cluster, triton=full)
    if full:
        check_large_job(r)


def check_large_job(r):
    # The large job: progress lines, three bad rows quarantined with reasons, a resumed run
    # that wrote only the chunks the first had not committed, every row once.
    n = LARGE
    assert r["large_job_rows"] == n
    assert r["large_job_output_rows"] == n and r["large_job_unique_ids"] == n
    assert r["large_job_marker_rows"] == n
    first, second = r["large_job_first_run_chunks"], r["large_job_second_run_chunks"]
    assert first == [0, 1] and second == [2, 3]  # the second run wrote only what was left
    assert r["large_job_second_run_skipped"] == first
    assert r["large_job_good_rows"] == n - 3 and r["large_job_quarantined_rows"] == 3
    assert r["large_job_reasons"] == {
        "1": "input column 'data': is null",
        str(n // 2): "input column 'data': contains a null or NaN element",
        str(n - 2): "input column 'data': has 783 values, expected 784 (shape [784])",
    }
    assert r["large_job_max_abs_diff"] < 1e-4 and r["large_job_checked_rows"] == n - 3
    first_bad = rf"input column 'data' \(row (1|{n // 2}|{n - 2})\): "
    assert re.search(first_bad, r["large_job_fail_mode_error"])
    assert r["large_job_fail_mode_bar"].startswith("[progress] fail mode: failed (")
    line = r["large_job_progress_line"]
    assert line.startswith("[progress] second run: done,") and re.search(r"[\d,]+ rows/s", line)


# Local mode on a classic session is the main job (make run); it stays so in CI.
@pytest.mark.notebook
@pytest.mark.triton
@pytest.mark.spark
@pytest.mark.parametrize("mode", notebook_modes(NOTEBOOK, default=CLASSIC))
def test_image_classification_torch(run_nb, no_server_left, mode):
    check(run_nb(NOTEBOOK, LOCAL_PARAMS, mode=mode)["results"], on_cluster=False, full=False)


@pytest.mark.notebook
@pytest.mark.triton
@pytest.mark.spark
@pytest.mark.cluster
@pytest.mark.parametrize("mode", notebook_modes(NOTEBOOK))
def test_image_classification_torch_cluster(run_nb, cluster, no_server_left, mode):
    check(run_nb(NOTEBOOK, PARAMS, cluster=cluster, mode=mode)["results"], on_cluster=True)
