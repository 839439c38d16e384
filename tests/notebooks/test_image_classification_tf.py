"""notebooks/tensorflow/image_classification_tf.ipynb with CI parameters (TF environment)."""

import pytest
from conftest import notebook_modes
from notebook_checks import check_placement

NOTEBOOK = "notebooks/tensorflow/image_classification_tf.ipynb"
ROWS = 500
PARAMS = {
    "spark_master": "local[2]",
    "num_train": 2000,
    "num_test_rows": ROWS,
    "epochs": 2,
    "batch_size": 128,
    "num_files": 2,
    "run_triton": True,
    "triton_max_batch_size": 128,
}
# The executed copy under docs/notebooks/: the same small run, on local Spark, offline.
DOCS_PARAMS = {**PARAMS, "offline": True}


def check(r, on_cluster):
    assert r["reloaded_max_abs_diff"] == 0.0  # the .keras file round-trips exactly
    assert r["test_accuracy"] > 0.5  # trained (chance is 0.1)
    for layout in ("array", "columns", "fast"):  # every row once, scored as the model scores it
        assert r[f"spark_{layout}_rows"] == ROWS
        assert r[f"spark_{layout}_distinct_ids"] == ROWS
        assert r[f"spark_{layout}_max_abs_diff"] < 1e-4
        assert r[f"spark_{layout}_same_classes"] is True
    # the fast path (tensor column, native Arrow UDF) gives predict_batch_udf's logits
    assert r["fast_vs_standard_max_abs_diff"] < 1e-5
    assert r["fast_rows_per_s_warm"] > 0 and r["spark_rows_per_s_warm"] > 0
    assert r["predictions_rows"] == ROWS
    assert r["spark_accuracy"] == pytest.approx(r["test_accuracy"], abs=1e-9)
    assert r["triton_rows"] == ROWS
    assert r["triton_max_abs_diff"] < 1e-4
    assert r["triton_same_classes"] is True
    check_placement(r, on_cluster)


@pytest.mark.notebook
@pytest.mark.tf
@pytest.mark.triton
@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.parametrize("mode", notebook_modes(NOTEBOOK))
def test_image_classification_tf_cluster(run_nb, cluster, no_server_left, mode):
    check(run_nb(NOTEBOOK, PARAMS, cluster=cluster, mode=mode)["results"], on_cluster=True)
