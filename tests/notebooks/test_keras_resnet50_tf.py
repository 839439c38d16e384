"""notebooks/tensorflow/keras_resnet50_tf.ipynb with CI parameters (TF environment).

Small images (64x64) keep ResNet50 affordable on 2 CPU cores; the comparison of the pandas_udf
(weights from a file on shared storage), predict_batch_udf and the fused image_predict_udf (JPEG
bytes decoded in the model's UDF) still runs (and is recorded), but which one wins is the
machine's business, so it is not asserted. Every approach writes its predictions to Parquet; the
checks read them back.
"""

import pytest
from conftest import notebook_modes
from notebook_checks import check_placement

NOTEBOOK = "notebooks/tensorflow/keras_resnet50_tf.ipynb"
IMAGES = 16
PARAMS = {
    "spark_master": "local[2]",
    "num_images": IMAGES,
    "image_size": 64,
    "batch_size": 4,
    "num_partitions": 4,
    "timing_rounds": 1,
    "run_triton": True,
    "triton_max_batch_size": 8,
}
# The executed copy under docs/notebooks/: the same small run, on local Spark, offline.
DOCS_PARAMS = {**PARAMS, "offline": True}


def check(r, on_cluster):
    assert r["num_images"] == IMAGES
    assert r["tensor_rows"] == IMAGES
    # Random weights: outputs differ little between images, so the tolerance is set against
    # that spread (a row matched to the wrong image would be off by about the spread).
    spread = r["direct_logit_spread"]
    assert spread > 0
    assert r["jpeg_rows"] == IMAGES
    for way in ("pandas_udf", "predict_batch_udf", "fused", "triton"):
        assert r[f"{way}_written"] == IMAGES, way  # the predictions in Parquet, read back
        assert r[f"{way}_rows"] == IMAGES, way
        assert r[f"{way}_distinct_paths"] == IMAGES, way
        assert r[f"{way}_max_abs_diff"] < min(1e-3, spread / 100), way
    assert r["faster"] in ("pandas_udf", "predict_batch_udf", "fused")
    for way in ("pandas_udf", "predict_batch_udf", "fused"):
        assert len(r["warm_s"][way]) == 1 and min(r["warm_s"][way]) > 0
        assert r["cold_s"][way] > 0
    check_placement(r, on_cluster)


@pytest.mark.notebook
@pytest.mark.tf
@pytest.mark.triton
@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.parametrize("mode", notebook_modes(NOTEBOOK))
def test_keras_resnet50_tf_cluster(run_nb, cluster, no_server_left, mode):
    check(run_nb(NOTEBOOK, PARAMS, cluster=cluster, mode=mode)["results"], on_cluster=True)
