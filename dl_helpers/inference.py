"""Input checks for ``predict_batch_udf``: bad rows fail with a message that names them.

Left to itself, ``pyspark.ml.functions.predict_batch_udf`` turns a row of the wrong length into
numpy's "all the input array dimensions ... must match exactly" and, worse, a null in one of
many scalar columns into NaN that the model happily scores. ``checked_predict_batch_udf`` wraps
each input column in a Spark expression that lets good rows through unchanged and raises
(``raise_error``) on a bad one, naming the column, the row (by an id column if given) and what
was expected. The checks run in the same stage as the inference: no extra pass over the data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

# NOTE: pyspark is imported inside the functions so that importing dl_helpers stays cheap.


def _expected_size(shape: Sequence[int] | None) -> int | None:
    if not shape:
        return None
    dims = [d for d in shape if d not in (-1, None)]
    if len(dims) != len(shape):
        return None  # a free dimension: any multiple is accepted by the reshape
    return math.prod(dims)


def check_column(column, name: str, shape: Sequence[int] | None = None, row_id=None):
    """Return ``column`` with checks: not null, no null/NaN element, the expected element count.

    ``shape`` (e.g. ``[784]`` or ``[28, 28]``) marks an array column whose flattened length must
    equal the product of the shape. ``row_id`` (a Column) is quoted in the error message.
    """
    from pyspark.sql import functions as F

    col = F.col(column) if isinstance(column, str) else column
    where = F.lit("") if row_id is None else F.concat(F.lit(" (row "), row_id.cast("string"),
                                                       F.lit(")"))  # fmt: skip
    prefix = F.concat(F.lit(f"input column '{name}'"), where, F.lit(": "))
    size = _expected_size(shape)
    checks = [(col.isNull(), F.lit("is null"))]
    if shape is not None:
        if size is not None:
            checks.append((
                F.size(col) != size,
                F.concat(F.lit("has "), F.size(col).cast("string"),
                         F.lit(f" values, expected {size} (shape {list(shape)})")),
            ))  # fmt: skip
        checks.append((
            F.exists(col, lambda x: x.isNull() | F.coalesce(F.isnan(x.cast("double")), F.lit(False))),
            F.lit("contains a null or NaN element"),
        ))  # fmt: skip
    else:
        checks.append((F.coalesce(F.isnan(col.cast("double")), F.lit(False)), F.lit("is NaN")))
    expr = None
    for cond, msg in reversed(checks):
        err = F.raise_error(F.concat(prefix, msg))
        expr = F.when(cond, err).otherwise(col if expr is None else expr)
    return expr.alias(name)


def checked_predict_batch_udf(
    make_predict_fn: Callable,
    *,
    return_type,
    batch_size: int,
    input_tensor_shapes: Sequence[Sequence[int] | None] | Mapping[int, Sequence[int]] | None = None,
    row_id: str | None = None,
) -> Callable:
    """``predict_batch_udf`` with per-row input checks (see module doc).

    Same arguments as ``pyspark.ml.functions.predict_batch_udf``; returns a function that takes
    column names or Columns, like the UDF it wraps. ``row_id`` names a column whose value is
    quoted in errors. Errors surface as Spark exceptions whose message contains, for example,
    ``input column 'features' (row 17): has 783 values, expected 784 (shape [784])``.
    """
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql import functions as F

    shapes = input_tensor_shapes
    udf = predict_batch_udf(
        make_predict_fn,
        return_type=return_type,
        batch_size=batch_size,
        input_tensor_shapes=shapes,
    )

    def shape_for(i: int):
        if shapes is None:
            return None
        if isinstance(shapes, Mapping):
            return shapes.get(i)
        if len(shapes) == 1:
            return shapes[0]  # one tensor input (possibly assembled from many columns)
        return shapes[i] if i < len(shapes) else None

    def apply(*columns):
        rid = F.col(row_id) if row_id else None
        n = len(columns)
        checked = []
        for i, c in enumerate(columns):
            name = c if isinstance(c, str) else f"input {i}"
            # With many scalar columns feeding one tensor, the shape describes the assembled
            # tensor, not each column: check each column as a scalar.
            shape = shape_for(i) if (n == 1 or (shapes is not None and len(shapes) == n)) else None
            checked.append(check_column(c, name, shape, rid))
        return udf(*checked)

    apply.udf = udf
    return apply
