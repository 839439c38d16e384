"""Image classification from encoded images: decode, preprocess and the model in one UDF, so
only the JPEG/PNG bytes cross from the JVM to Python (not decoded float tensors, ~12x larger).

Usage::

    from dl_helpers.udfs import image_predict_udf

    classify = image_predict_udf(make_predict_fn, return_type=ArrayType(FloatType()),
                                 batch_size=32, preprocess=resize_and_normalise, row_id="id")
    preds = images.withColumn("logits", classify("content"))
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable

import numpy as np

from dl_helpers.udfs._arrow import batched_arrow_udf
from dl_helpers.udfs._checks import column_name, row_suffix

# NOTE: PIL, pyarrow and pyspark are imported inside the functions (import dl_helpers stays
# cheap; PIL is needed only where images are decoded).


def open_image(data: bytes, mode: str | None = "RGB"):
    """Encoded bytes (JPEG, PNG, ... whatever PIL reads) -> a PIL image, converted to ``mode``
    (which decodes it); ``mode=None`` leaves it opened, decoded by whatever reads it first."""
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    return img.convert(mode) if mode else img


def _as_array(image) -> np.ndarray:
    return np.asarray(image)


class _ReadImages:
    """read_inputs for image_predict_udf: one (n, *shape) array from n encoded images."""

    def __init__(self, name: str, preprocess: Callable, mode: str | None):
        self.name, self.preprocess, self.mode = name, preprocess, mode

    def where(self, i: int, ids) -> str:
        row = f" (row {ids[i].as_py()})" if ids is not None else ""
        return f"input column '{self.name}'{row}: "

    def __call__(self, arrays, ids):
        out, shape = [], None
        for i, data in enumerate(arrays[0].to_pylist()):
            if data is None:  # checked in Spark already
                raise ValueError(f"{self.where(i, ids)}is null")
            try:
                x = np.asarray(self.preprocess(open_image(data, self.mode)))
            except (OSError, ValueError, SyntaxError) as e:  # what PIL raises on bad data
                raise ValueError(
                    f"{self.where(i, ids)}could not be decoded and preprocessed as "
                    f"an image: {type(e).__name__}: {e}"
                ) from e
            if shape is None:
                shape = x.shape
            elif x.shape != shape:
                raise ValueError(
                    f"{self.where(i, ids)}preprocessed to shape {list(x.shape)}, "
                    f"but the batch's first image to {list(shape)}: preprocess must "
                    "give every image the same shape"
                )
            out.append(x)
        return [np.stack(out)]


def check_image_column(column, name: str, row_id=None):
    """``column`` (binary) failing on a null row with a message naming it."""
    from pyspark.sql import functions as F

    col = F.col(column) if isinstance(column, str) else column
    message = F.concat(F.lit(f"input column '{name}'"), row_suffix(row_id), F.lit(": is null"))
    return F.when(col.isNull(), F.raise_error(message)).otherwise(col).alias(name)


def image_predict_udf(
    make_predict_fn: Callable,
    *,
    return_type,
    batch_size: int,
    preprocess: Callable | None = None,
    mode: str | None = "RGB",
    row_id: str | None = None,
) -> Callable:
    """A predict UDF on a column of encoded images: per row, the bytes are opened with PIL and
    handed to ``preprocess``; ``batch_size`` results are stacked for ``predict``, made once per
    Python worker by ``make_predict_fn()``, as in ``predict_batch_udf``. A null, undecodable or
    odd-shaped image fails with a message naming the column and row.

    ``preprocess(image)`` gets a PIL image (converted to ``mode``; with ``mode=None`` it is only
    opened, and decoded when ``preprocess`` reads it) and returns an array of one shape for
    every image; default ``np.asarray`` (uint8 HWC, so all images must have one size).
    ``make_predict_fn``, ``return_type``, ``batch_size`` and ``row_id`` are as for
    ``checked_predict_batch_udf``; ``predict`` gets a (n, *shape) array, n <= batch_size.
    Returns a function of one column name or Column.
    """
    from pyspark.sql import functions as F

    preprocess = preprocess or _as_array
    key = uuid.uuid4()  # one cached model per UDF, as predict_batch_udf keys its models

    def apply(column):
        name = column_name(column, 0)
        rid = F.col(row_id) if row_id else None
        udf = batched_arrow_udf(
            make_predict_fn,
            _ReadImages(name, preprocess, mode),
            return_type=return_type,
            batch_size=batch_size,
            has_row_id=rid is not None,
            key=key,
        )
        return udf(check_image_column(column, name, rid), *([rid] if rid is not None else []))

    return apply
