"""notebooks/tensorflow/text_classification_tf.ipynb with CI parameters (TF environment)."""

import pytest
from conftest import notebook_modes
from notebook_checks import check_placement

NOTEBOOK = "notebooks/tensorflow/text_classification_tf.ipynb"
ROWS = 500
PARAMS = {
    "spark_master": "local[2]",
    "num_train": 2000,
    "num_test_rows": ROWS,
    "sequence_length": 64,
    "epochs": 10,
    "batch_size": 128,
    "num_files": 2,
    "run_triton": True,
    "triton_max_batch_size": 128,
}
# The executed copy under docs/notebooks/: the same small run, on local Spark, offline.
DOCS_PARAMS = {**PARAMS, "offline": True}


def check(r, on_cluster):
    # the string-input model (custom standardisation included) round-trips through .keras
    assert r["reloaded_max_abs_diff"] == 0.0
    assert r["test_accuracy"] > 0.6  # learned something (chance is 0.5)
    assert r["predictions_rows"] == ROWS  # written to Parquet, counted back
    assert r["spark_rows"] == ROWS
    assert r["spark_distinct_ids"] == ROWS
    assert r["spark_max_abs_diff"] < 1e-5
    assert r["spark_accuracy"] == pytest.approx(r["test_accuracy"], abs=1e-9)
    assert r["triton_rows"] == ROWS
    assert r["triton_max_abs_diff"] < 1e-5
    check_placement(r, on_cluster)


@pytest.mark.notebook
@pytest.mark.tf
@pytest.mark.triton
@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.parametrize("mode", notebook_modes(NOTEBOOK))
def test_text_classification_tf_cluster(run_nb, cluster, no_server_left, mode):
    check(run_nb(NOTEBOOK, PARAMS, cluster=cluster, mode=mode)["results"], on_cluster=True)
