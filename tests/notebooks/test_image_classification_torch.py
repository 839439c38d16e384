"""notebooks/pytorch/image_classification_torch.ipynb, end to end with small CI parameters on the
multi-node cluster fixture, and in local mode (the main job, make run) with the Triton section
(which the cluster run and the unit tests already cover) off, to keep CI within its time; the
same results asserted. The large-job topics are notebooks/pytorch/large_jobs_torch.ipynb's."""

import pyarrow.parquet as pq
import pytest
from conftest import CLASSIC, notebook_modes
from notebook_checks import check_placement

NOTEBOOK = "notebooks/pytorch/image_classification_torch.ipynb"
ROWS = 1500
PARAMS = {
    "num_train": 4000,
    "num_test_rows": ROWS,
    "epochs": 2,
    "batch_size": 256,
    "num_files": 4,
}


# Local mode in CI: the Triton section (local servers: tests/unit/servers/test_triton.py) off.
LOCAL_PARAMS = PARAMS | {"run_triton": False}
DOCS_PARAMS = PARAMS | {"spark_master": "local[2]", "offline": True}


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
        assert "triton_rows" not in r  # the section was off

    # No GPU in CI: TensorRT skipped with a reason
    assert "tensorrt_max_abs_diff" in r or r["tensorrt_skipped"]
    assert r["spark_rows_per_s_warm"] > 0 and r["direct_rows_per_s"] > 0
    assert r["fast_rows_per_s_warm"] > 0
    approaches = {"model alone", "predict_batch_udf, array column", "fast path, tensor column"}
    assert approaches <= set(r["rows_per_s"])
    assert ("Triton, a server per executor" in r["rows_per_s"]) == full

    assert r["predictions_path"].startswith(r["storage"]["shared_dir"])
    check_placement(r, on_cluster, triton=full)


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
