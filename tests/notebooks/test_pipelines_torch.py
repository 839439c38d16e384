"""pipelines_torch.ipynb with CI parameters (offline: the tiny BERT classifier made here): Spark's
struct results, in-process, compiled and through Triton, equal the pipeline's own."""

from __future__ import annotations

import pytest
from notebook_checks import check_placement

NOTEBOOK = "notebooks/huggingface/pipelines_torch.ipynb"
ROWS = 160
CI_PARAMS = {"num_rows": ROWS, "spark_master": "local[2]", "offline": True,
             "acceleration_backend": "onnxruntime"}  # fmt: skip
SCORE_TOL = 1e-4  # float32 differences from padding batches differently


def check(res, on_cluster):

    assert res["model_standin"] is True and res["data_standin"] is True
    assert res["input_rows"] == ROWS
    # The stand-in classifier learned something, and predicts both labels (else equal labels
    # would prove little).
    assert res["direct_accuracy"] > 0.6
    assert 0.1 < res["direct_positive_share"] < 0.9

    for part in ("spark", "accelerated", "triton"):
        assert res[f"{part}_rows"] == ROWS, part
        assert res[f"{part}_same_labels"] == ROWS, part
        assert res[f"{part}_max_score_diff"] < SCORE_TOL, part
    assert res["acceleration_backend_used"] == "onnxruntime"  # asked for by CI_PARAMS
    assert res["predictions_rows"] == ROWS
    check_placement(res, on_cluster)


@pytest.mark.notebook
@pytest.mark.spark
@pytest.mark.triton
@pytest.mark.slow
@pytest.mark.cluster
def test_pipelines_notebook_cluster(run_nb, cluster, no_triton_left):
    check(run_nb(NOTEBOOK, CI_PARAMS, cluster=cluster)["results"], on_cluster=True)
