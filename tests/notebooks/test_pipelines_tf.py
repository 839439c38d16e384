"""notebooks/huggingface/pipelines_tf.ipynb with CI parameters (TF environment)."""

import pytest
from conftest import notebook_modes
from notebook_checks import check_placement, check_rates

NOTEBOOK = "notebooks/huggingface/pipelines_tf.ipynb"
ROWS = 64
PARAMS = {
    "spark_master": "local[2]",
    "num_rows": ROWS,
    "batch_size": 16,
    "standin_train_rows": 1000,
    "standin_epochs": 5,  # 2 epochs on 1000 rows left the stand-in untrained (all POSITIVE)
    "run_triton": True,
    "triton_max_batch_size": 16,
}
# The executed copy under docs/notebooks/ (make docs): the same small run, local, offline.
DOCS_PARAMS = {**PARAMS, "spark_master": "local[2]", "offline": True}


def check(r, on_cluster):
    counts = r["direct_label_counts"]
    assert sum(counts.values()) == ROWS
    if r["model_standin"]:  # the stand-in was trained so that both labels occur
        assert min(counts.values()) > 0
    for way in ("spark", "triton"):  # struct results, every row once, equal to the pipeline's
        assert r[f"{way}_rows"] == ROWS, way
        assert r[f"{way}_distinct_ids"] == ROWS, way
        assert r[f"{way}_equal_labels"] == ROWS, way
        assert r[f"{way}_max_score_diff"] < 1e-5, way
    assert r["predictions_rows"] == ROWS  # written to Parquet and read back
    check_rates(r, {"model alone", "predict_batch_udf", "Triton"})
    check_placement(r, on_cluster)


@pytest.mark.notebook
@pytest.mark.tf
@pytest.mark.triton
@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.parametrize("mode", notebook_modes(NOTEBOOK))
def test_pipelines_tf_cluster(run_nb, cluster, no_server_left, mode):
    check(run_nb(NOTEBOOK, PARAMS, cluster=cluster, mode=mode)["results"], on_cluster=True)
