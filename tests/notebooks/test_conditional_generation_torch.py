"""conditional_generation_torch.ipynb with CI parameters (offline: the tiny T5 made here): Spark's
translations, in-process and through Triton, equal model.generate on the same rows."""

from __future__ import annotations

import pytest
from notebook_checks import check_placement

NOTEBOOK = "notebooks/huggingface/conditional_generation_torch.ipynb"
ROWS = 48
CI_PARAMS = {"num_rows": ROWS, "batch_size": 16, "spark_master": "local[2]", "offline": True}


def check(res, on_cluster):

    assert res["model_standin"] is True and res["data_standin"] is True
    assert res["input_rows"] == ROWS
    # The comparison means something only if the translations depend on the input.
    assert res["distinct_translations"] >= ROWS // 2

    assert res["spark_rows"] == ROWS
    assert res["spark_mismatches"] == 0
    assert res["triton_rows"] == ROWS
    assert res["triton_mismatches"] == 0
    assert res["predictions_rows"] == ROWS
    check_placement(res, on_cluster)


@pytest.mark.notebook
@pytest.mark.spark
@pytest.mark.triton
@pytest.mark.slow
@pytest.mark.cluster
def test_conditional_generation_notebook_cluster(run_nb, cluster, no_triton_left):
    check(run_nb(NOTEBOOK, CI_PARAMS, cluster=cluster)["results"], on_cluster=True)
