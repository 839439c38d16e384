"""sentence_transformers_torch.ipynb with CI parameters (the real all-MiniLM-L6-v2 from its
package, synthetic reviews): Spark's embeddings, in-process (a single row included), compiled
and through Triton, equal SentenceTransformer.encode; the similarity search agrees with numpy."""

from __future__ import annotations

import pytest
from conftest import notebook_modes
from notebook_checks import check_placement, check_rates

NOTEBOOK = "notebooks/huggingface/sentence_transformers_torch.ipynb"
ROWS = 96
PARAMS = {
    "num_rows": ROWS,
    "spark_master": "local[2]",
    "offline": True,
    "acceleration_backend": "onnxruntime",
}
# The executed copy under docs/notebooks/ (make docs): the same small run, local, offline.
DOCS_PARAMS = {**PARAMS, "spark_master": "local[2]", "offline": True}
TOL = 1e-5  # unit vectors; float32 differences from padding batches differently are ~1e-7


def check(r, on_cluster):
    assert r["model_offline_standin"] is False and r["data_standin"] is True  # real weights
    assert r["input_rows"] == ROWS
    assert r["embedding_dim"] == 384

    for part in ("spark", "accelerated", "triton"):
        assert r[f"{part}_rows"] == ROWS, part
        assert r[f"{part}_max_abs_diff"] < TOL, part
    assert r["acceleration_backend_used"] == "onnxruntime"  # asked for by PARAMS

    # a DataFrame of one row: one 384-float embedding, not a squeezed or empty value
    assert r["single_row_rows"] == 1
    assert r["single_row_dim"] == 384
    assert r["single_row_max_abs_diff"] < TOL

    # Spark SQL's ranking equals numpy's, and a negative query finds negative reviews
    assert len(r["similarity_top_ids"]) == 5
    assert r["similarity_top_ids_match_numpy"] is True
    assert r["similarity_top_negative_share"] >= 0.8

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
def test_sentence_transformers_notebook_cluster(run_nb, cluster, no_server_left, mode):
    check(run_nb(NOTEBOOK, PARAMS, cluster=cluster, mode=mode)["results"], on_cluster=True)
