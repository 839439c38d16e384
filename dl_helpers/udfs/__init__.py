"""Inference UDFs over Spark columns: checked ``predict_batch_udf``, tensor columns, images.

Usage::

    from dl_helpers.udfs import checked_predict_batch_udf, split_quarantined

    udf = checked_predict_batch_udf(make_predict_fn, return_type=ArrayType(FloatType()),
                                    batch_size=64, input_tensor_shapes=[[784]],
                                    on_bad_row="quarantine")
    preds = df.withColumn("preds", udf("features"))   # struct<prediction, error>
    good, bad = split_quarantined(preds, "preds")
"""

from dl_helpers.udfs._checks import checked_predict_batch_udf
from dl_helpers.udfs._images import image_predict_udf, open_image
from dl_helpers.udfs._quarantine import count_quarantined, split_quarantined
from dl_helpers.udfs._tensors import (
    TensorSpec,
    tensor_predict_udf,
    tensor_spec,
    tensor_table,
    to_tensor_column,
    write_tensors,
)

__all__ = [
    "TensorSpec",
    "checked_predict_batch_udf",
    "count_quarantined",
    "image_predict_udf",
    "open_image",
    "split_quarantined",
    "tensor_predict_udf",
    "tensor_spec",
    "tensor_table",
    "to_tensor_column",
    "write_tensors",
]
