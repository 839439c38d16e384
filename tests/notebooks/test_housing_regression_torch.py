"""housing_regression_torch.ipynb with CI parameters: Spark's predictions (array column, 8
columns, the fast path's tensor column, compiled model, Triton) equal the model's own, and the
UDF handles a batch of one row and empty partitions."""

from __future__ import annotations

import pytest
from conftest import notebook_modes
from notebook_checks import check_placement, check_rates

NOTEBOOK = "notebooks/pytorch/housing_regression_torch.ipynb"
PARAMS = {
    "num_rows": 3000,
    "epochs": 8,
    "spark_master": "local[2]",
    "offline": True,
    "acceleration_backend": "onnxruntime",
}
DOCS_PARAMS = PARAMS
TOL = 1e-5  # float32 rounding between batch compositions / backends; a wrong row is off by >1e-2


def check(r, on_cluster):
    n_test = int(3000 * 0.2)

    assert r["offline_standin"] is True
    assert r["test_rows"] == n_test
    # training learned something: clearly better than always predicting the mean
    assert r["test_rmse"] < 0.7 * r["baseline_rmse"]

    for layout in ("array", "columns"):
        assert r[f"spark_{layout}_rows"] == n_test
        assert r[f"spark_{layout}_max_abs_diff"] < TOL

    # the fast path (tensor column, native Arrow UDF) gives predict_batch_udf's predictions
    assert r["fast_path_rows"] == n_test
    assert r["fast_path_max_abs_diff"] < TOL
    assert r["fast_vs_standard_max_abs_diff"] < TOL
    check_rates(
        r,
        {
            "model alone",
            "predict_batch_udf, array column",
            "predict_batch_udf, 8 columns",
            "fast path, tensor column",
            "compiled (onnxruntime)",
            "Triton, a server per executor",
        },
    )

    # a partition's last batch holding one row, a one-row DataFrame, and empty partitions
    assert r["edge_last_batch_of_one_rows"] == 5
    assert r["edge_last_batch_of_one_max_abs_diff"] < TOL
    assert r["edge_single_row_rows"] == 1
    assert r["edge_single_row_max_abs_diff"] < TOL
    assert r["edge_empty_partitions"] >= 5
    assert r["edge_sparse_rows"] == 3
    assert r["edge_sparse_max_abs_diff"] < TOL
    assert r["edge_empty_frame_rows"] == 0

    # the compiled model inside Spark equals eager
    assert r["acceleration_backend_used"] == "onnxruntime"  # asked for by PARAMS
    assert r["accelerated_rows"] == n_test
    assert r["accelerated_max_abs_diff"] < 1e-4

    assert r["triton_rows"] == n_test
    assert r["triton_max_abs_diff"] < 1e-4

    assert r["predictions_rows"] == n_test
    assert r["spark_rmse"] == pytest.approx(r["test_rmse"], abs=1e-3)
    check_placement(r, on_cluster)


@pytest.mark.notebook
@pytest.mark.spark
@pytest.mark.triton
@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.parametrize("mode", notebook_modes(NOTEBOOK))
def test_housing_regression_notebook_cluster(run_nb, cluster, no_server_left, mode):
    check(run_nb(NOTEBOOK, PARAMS, cluster=cluster, mode=mode)["results"], on_cluster=True)
