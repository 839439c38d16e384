"""pipelines_torch.ipynb with CI parameters (offline: the tiny BERT classifier made here): Spark's
struct results, in-process, compiled and through Triton, equal the pipeline's own."""

from __future__ import annotations

import pytest
from conftest import notebook_modes
from notebook_checks import check_placement, check_rates

NOTEBOOK = "notebooks/huggingface/pipelines_torch.ipynb"
ROWS = 160
PARAMS = {
    "num_rows": ROWS,
    "spark_master": "local[2]",
    "offline": True,
    "acceleration_backend": "onnxruntime",
}
# The executed copy under docs/notebooks/ (make docs): the same small run, local, offline.
DOCS_PARAMS = {**PARAMS, "spark_master": "local[2]", "offline": True}
SCORE_TOL = 1e-4  # float32 differences from padding batches differently


def check(r, on_cluster):
    assert r["model_standin"] is True and r["data_standin"] is True
    assert r["input_rows"] == ROWS
    # The stand-in classifier learned something, and predicts both labels (else equal labels
    # would prove little).
    assert r["direct_accuracy"] > 0.6
    assert 0.1 < r["direct_positive_share"] < 0.9

    for part in ("spark", "accelerated", "triton"):
        assert r[f"{part}_rows"] == ROWS, part
        assert r[f"{part}_same_labels"] == ROWS, part
        assert r[f"{part}_max_score_diff"] < SCORE_TOL, part
    assert r["acceleration_backend_used"] == "onnxruntime"  # asked for by PARAMS
    assert r["predictions_rows"] == ROWS
    check_rates(
        r,
        {
            "model alone",
            "predict_batch_udf",
            "compiled (onnxruntime)",
            "Triton",
        },
    )
    check_placement(r, on_cluster)


@pytest.mark.notebook
@pytest.mark.spark
@pytest.mark.triton
@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.parametrize("mode", notebook_modes(NOTEBOOK))
def test_pipelines_notebook_cluster(run_nb, cluster, no_server_left, mode):
    check(run_nb(NOTEBOOK, PARAMS, cluster=cluster, mode=mode)["results"], on_cluster=True)
