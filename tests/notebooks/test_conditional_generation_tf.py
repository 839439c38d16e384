"""notebooks/huggingface/conditional_generation_tf.ipynb with CI parameters (TF environment).

Offline the model is a toy T5 with random weights: its outputs are gibberish, but they differ
between inputs and are deterministic, so Spark's outputs must equal the model's, row by row.
"""

import pytest
from conftest import notebook_modes
from notebook_checks import check_placement, check_rates

NOTEBOOK = "notebooks/huggingface/conditional_generation_tf.ipynb"
ROWS = 32
PARAMS = {
    "spark_master": "local[2]",
    "num_rows": ROWS,
    "max_input_length": 48,
    "max_new_tokens": 12,
    "batch_size": 8,
    "run_triton": True,
    "triton_max_batch_size": 8,
}
# The executed copy under docs/notebooks/ (make docs): the same small run, local, offline.
DOCS_PARAMS = {**PARAMS, "spark_master": "local[2]", "offline": True}


def check(r, on_cluster):
    assert r["direct_distinct_outputs"] > ROWS // 4  # outputs depend on the input
    assert r["spark_rows"] == ROWS
    assert r["spark_distinct_ids"] == ROWS
    assert r["spark_equal_outputs"] == ROWS
    assert r["triton_rows"] == ROWS
    assert r["triton_equal_outputs"] == ROWS
    assert r["predictions_rows"] == ROWS  # written to Parquet and read back
    check_rates(r, {"model alone", "predict_batch_udf", "Triton"})
    check_placement(r, on_cluster)


@pytest.mark.notebook
@pytest.mark.tf
@pytest.mark.triton
@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.parametrize("mode", notebook_modes(NOTEBOOK))
def test_conditional_generation_tf_cluster(run_nb, cluster, no_server_left, mode):
    check(run_nb(NOTEBOOK, PARAMS, cluster=cluster, mode=mode)["results"], on_cluster=True)
