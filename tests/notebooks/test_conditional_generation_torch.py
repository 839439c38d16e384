"""conditional_generation_torch.ipynb with CI parameters (offline: the tiny T5 made here): Spark's
translations, in-process and through Triton, equal model.generate on the same rows."""

from __future__ import annotations

import pytest
from conftest import notebook_modes
from notebook_checks import check_placement, check_rates

NOTEBOOK = "notebooks/huggingface/conditional_generation_torch.ipynb"
ROWS = 48
PARAMS = {"num_rows": ROWS, "batch_size": 16, "spark_master": "local[2]", "offline": True}
# The executed copy under docs/notebooks/ (make docs): the same small run, local, offline.
DOCS_PARAMS = {**PARAMS, "spark_master": "local[2]", "offline": True}


def check(r, on_cluster):
    assert r["model_standin"] is True and r["data_standin"] is True
    assert r["input_rows"] == ROWS
    # The comparison means something only if the translations depend on the input.
    assert r["distinct_translations"] >= ROWS // 2

    assert r["spark_rows"] == ROWS
    assert r["spark_mismatches"] == 0
    assert r["triton_rows"] == ROWS
    assert r["triton_mismatches"] == 0
    assert r["predictions_rows"] == ROWS
    check_rates(r, {"model alone", "predict_batch_udf", "Triton"})
    check_placement(r, on_cluster)


@pytest.mark.notebook
@pytest.mark.spark
@pytest.mark.triton
@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.parametrize("mode", notebook_modes(NOTEBOOK))
def test_conditional_generation_notebook_cluster(run_nb, cluster, no_server_left, mode):
    check(run_nb(NOTEBOOK, PARAMS, cluster=cluster, mode=mode)["results"], on_cluster=True)
