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
import re
from collections.abc import Callable, Mapping, Sequence

# NOTE: pyspark is imported inside the functions so that importing dl_helpers stays cheap.


def column_name(column, index: int) -> str:
    """A column's name for messages: the string itself, or the expression Spark shows."""
    if isinstance(column, str):
        return column
    m = re.fullmatch(r"Column<'(.*)'>", str(column), flags=re.S)
    return m.group(1) if m else f"input {index}"


def row_suffix(row_id):
    """' (row <id>)' for error messages, or nothing without a row id column."""
    from pyspark.sql import functions as F

    if row_id is None:
        return F.lit("")
    return F.concat(F.lit(" (row "), row_id.cast("string"), F.lit(")"))


def _expected_size(shape: Sequence[int] | None) -> int | None:
    if not shape:
        return None
    dims = [d for d in shape if d not in (-1, None)]
    if len(dims) != len(shape):
        return None  # a free dimension: any multiple is accepted by the reshape
    return math.prod(dims)


# NaN checks use try_cast: with ANSI mode (Spark 4's default) a plain cast of a string such as
# 'Dog' to double raises instead of giving null; strings are never NaN.


def check_column(column, name: str, shape: Sequence[int] | None = None, row_id=None):
    """Return ``column`` with checks: not null, no null/NaN element, the expected element count.

    ``shape`` (e.g. ``[784]`` or ``[28, 28]``) marks an array column whose flattened length must
    equal the product of the shape. ``row_id`` (a Column) is quoted in the error message.
    """
    from pyspark.sql import functions as F

    col = F.col(column) if isinstance(column, str) else column
    where = row_suffix(row_id)
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
        def bad_element(x):
            return x.isNull() | F.coalesce(F.isnan(x.try_cast("double")), F.lit(False))

        checks.append((F.exists(col, bad_element), F.lit("contains a null or NaN element")))
    else:
        checks.append((F.coalesce(F.isnan(col.try_cast("double")), F.lit(False)), F.lit("is NaN")))
    expr = None
    for cond, msg in reversed(checks):
        err = F.raise_error(F.concat(prefix, msg))
        expr = F.when(cond, err).otherwise(col if expr is None else expr)
    return expr.alias(name)


def check_scalar_columns(columns, row_id=None):
    """Pack many scalar columns into one struct, failing on the first null or NaN value.

    One array of flags and one branch for the whole row: a check per column (784 branches, each
    with its own error) compiles to code too large for Spark's code generator and ran ~15x
    slower than this.
    """
    from pyspark.sql import functions as F

    names = [column_name(c, i) for i, c in enumerate(columns)]
    cols = [F.col(c) if isinstance(c, str) else c for c in columns]
    flags = F.array(*[c.isNull() | F.coalesce(F.isnan(c.try_cast("double")), F.lit(False))
                      for c in cols])  # fmt: skip
    first_bad = F.array_position(flags, True)
    where = row_suffix(row_id)
    message = F.concat(
        F.lit("input column '"),
        F.element_at(F.array(*[F.lit(n) for n in names]), first_bad.cast("int")),
        F.lit("'"), where, F.lit(": is null or NaN"),
    )  # fmt: skip
    packed = F.struct(*[c.alias(n) for c, n in zip(cols, names)])
    return F.when(first_bad > 0, F.raise_error(message)).otherwise(packed)


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
        if n > 1 and shapes is not None and not isinstance(shapes, Mapping) and len(shapes) == 1:
            # Many scalar columns, one model input: predict_batch_udf wants them in one struct
            # (it turns the struct's fields into the columns of an (n, k) array).
            return udf(check_scalar_columns(columns, rid))
        checked = [
            check_column(c, column_name(c, i), shape_for(i), rid)
            for i, c in enumerate(columns)
        ]
        return udf(*checked)

    apply.udf = udf
    return apply
