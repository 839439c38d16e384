"""notebooks/tensorflow/keras_preprocessing_tf.ipynb with CI parameters (TF environment)."""

import pytest
from conftest import notebook_modes
from notebook_checks import check_placement

NOTEBOOK = "notebooks/tensorflow/keras_preprocessing_tf.ipynb"
PARAMS = {
    "spark_master": "local[2]",
    "num_rows": 2000,  # 1600 train / 200 validation / 200 test
    "epochs": 3,
    "batch_size": 64,
    "num_files": 2,
    "run_triton": True,
    "triton_max_batch_size": 64,
}
# The executed copy under docs/notebooks/: the same small run, on local Spark, offline.
DOCS_PARAMS = {**PARAMS, "offline": True}


def check(r, on_cluster):
    rows = r["test_rows"]
    assert rows == 200
    assert r["reloaded_max_abs_diff"] == 0.0  # vocabularies and statistics saved in the file
    # 13 columns (strings and numbers) in, every row once, the model's own scores out
    assert r["predictions_rows"] == rows  # written to Parquet, counted back
    assert r["spark_rows"] == rows
    assert r["spark_distinct_ids"] == rows
    assert r["spark_max_abs_diff"] < 1e-5
    assert r["spark_accuracy"] == pytest.approx(r["test_accuracy"], abs=1e-9)
    # a null in one column fails, naming the column and the row
    assert "input column 'Fee'" in r["error_null_fee"]
    assert f"(row {r['error_null_fee_row']})" in r["error_null_fee"]
    assert r["triton_rows"] == rows
    assert r["triton_max_abs_diff"] < 1e-5
    check_placement(r, on_cluster)


@pytest.mark.notebook
@pytest.mark.tf
@pytest.mark.triton
@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.parametrize("mode", notebook_modes(NOTEBOOK))
def test_keras_preprocessing_tf_cluster(run_nb, cluster, no_server_left, mode):
    check(run_nb(NOTEBOOK, PARAMS, cluster=cluster, mode=mode)["results"], on_cluster=True)
