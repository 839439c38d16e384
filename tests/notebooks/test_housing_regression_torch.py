"""housing_regression_torch.ipynb with CI parameters: Spark's predictions (array column, 8
columns, compiled model, Triton) equal the model's own, and the UDF handles a batch of one row
and empty partitions."""

from __future__ import annotations

import pytest
from notebook_checks import check_placement

NOTEBOOK = "notebooks/pytorch/housing_regression_torch.ipynb"
CI_PARAMS = {"num_rows": 3000, "epochs": 8, "spark_master": "local[2]", "offline": True,
             "acceleration_backend": "onnxruntime"}  # fmt: skip
TOL = 1e-5  # float32 rounding between batch compositions / backends; a wrong row is off by >1e-2


def check(res, on_cluster):
    n_test = int(3000 * 0.2)

    assert res["offline_standin"] is True
    assert res["test_rows"] == n_test
    # training learned something: clearly better than always predicting the mean
    assert res["test_rmse"] < 0.7 * res["baseline_rmse"]

    for layout in ("array", "columns"):
        assert res[f"spark_{layout}_rows"] == n_test
        assert res[f"spark_{layout}_max_abs_diff"] < TOL

    # a partition's last batch holding one row, a one-row DataFrame, and empty partitions
    assert res["edge_last_batch_of_one_rows"] == 5
    assert res["edge_last_batch_of_one_max_abs_diff"] < TOL
    assert res["edge_single_row_rows"] == 1
    assert res["edge_single_row_max_abs_diff"] < TOL
    assert res["edge_empty_partitions"] >= 5
    assert res["edge_sparse_rows"] == 3
    assert res["edge_sparse_max_abs_diff"] < TOL
    assert res["edge_empty_frame_rows"] == 0

    # the compiled model inside Spark equals eager
    assert res["acceleration_backend_used"] == "onnxruntime"  # asked for by CI_PARAMS
    assert res["accelerated_rows"] == n_test
    assert res["accelerated_max_abs_diff"] < 1e-4

    assert res["triton_rows"] == n_test
    assert res["triton_max_abs_diff"] < 1e-4

    assert res["predictions_rows"] == n_test
    assert res["spark_rmse"] == pytest.approx(res["test_rmse"], abs=1e-3)
    check_placement(res, on_cluster)


@pytest.mark.notebook
@pytest.mark.spark
@pytest.mark.triton
@pytest.mark.slow
@pytest.mark.cluster
def test_housing_regression_notebook_cluster(run_nb, cluster, no_triton_left):
    check(run_nb(NOTEBOOK, CI_PARAMS, cluster=cluster)["results"], on_cluster=True)
