"""Input checks for ``predict_batch_udf``: bad rows fail with a message that names them, or are
set aside with the reason.

Left to itself, ``pyspark.ml.functions.predict_batch_udf`` turns a row of the wrong length into
numpy's "all the input array dimensions ... must match exactly" and, worse, a null in one of
many scalar columns into NaN that the model happily scores. ``checked_predict_batch_udf`` wraps
each input column in a Spark expression that lets good rows through unchanged and raises
(``raise_error``) on a bad one, naming the column, the row (by an id column if given) and what
was expected. The checks run in the same stage as the inference: no extra pass over the data.

With ``on_bad_row="quarantine"`` a bad row does not fail the job: it skips the model and comes
out with the reason (see :func:`checked_predict_batch_udf`); :func:`split_quarantined` and
:func:`count_quarantined` separate and count such rows.

The element type of a tensor (array) input is checked too: an ``array<string>`` column where
numbers are expected fails with the column and its type in both modes (a column's type is the
same for every row, so this is never a row to set aside). The check is on ``typeof(column)``,
which Spark's optimizer folds into a constant on the driver: it costs nothing per row, and a
wrong type fails the job at its first row, in the JVM, before any row reaches Python.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence

# NOTE: pyspark is imported inside the functions so that importing dl_helpers stays cheap.

FAIL = "fail"
QUARANTINE = "quarantine"
BAD_ROW_MODES = (FAIL, QUARANTINE)

# The fields of the struct a quarantine-mode UDF returns.
PREDICTION_FIELD = "prediction"
ERROR_FIELD = "error"
BAD_FIELD = "bad"  # the model wrapper's own flag, inside the UDF's output

# typeof() of the element types a tensor input may have (arrays of them, nested or not).
_NUMBER_TYPES = r"(boolean|tinyint|smallint|int|bigint|float|double|decimal\(\d+,\d+\))"
_NUMERIC_ARRAY_TYPE = rf"^(array<)+{_NUMBER_TYPES}>+$"
_NUMERIC_SCALAR_TYPE = rf"^{_NUMBER_TYPES}$"


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


def _as_column(column):
    from pyspark.sql import functions as F

    return F.col(column) if isinstance(column, str) else column


def _type_checked(col, name: str, expected: str, pattern: str, value):
    """``value``, or an error naming ``name`` and its type when ``typeof(col)`` does not match.

    typeof() is foldable: the optimizer turns the condition into a literal, so nothing is
    computed per row and a wrong type raises at the first row, before Python sees it.
    """
    from pyspark.sql import functions as F

    kind = F.typeof(col)
    message = F.concat(
        F.lit(f"input column '{name}' has type "), kind, F.lit(f", expected {expected}")
    )
    return F.when(~kind.rlike(pattern), F.raise_error(message)).otherwise(value)


# NaN checks use try_cast: with ANSI mode (Spark 4's default) a plain cast of a string such as
# 'Dog' to double raises instead of giving null; strings are never NaN.


def _null_or_nan_element(col):
    """True when an array holds a null or NaN element.

    array_contains is compiled code (a lambda through exists() is interpreted per element, a
    large cost on 784-element rows); it gives null when there is a null element and no match,
    and Spark's equality finds NaN. Integer arrays are cast to double too (never NaN, nulls
    stay null).
    """
    from pyspark.sql import functions as F

    found = F.array_contains(col.cast("array<double>"), F.lit(float("nan")))
    return F.coalesce(found, F.lit(True))


def _row_checks(col, shape: Sequence[int] | None):
    """(condition, reason) pairs, in order, that make a row of ``col`` bad."""
    from pyspark.sql import functions as F

    size = _expected_size(shape)
    checks = [(col.isNull(), F.lit("is null"))]
    if shape is not None:
        if size is not None:
            checks.append(
                (
                    F.size(col) != size,
                    F.concat(
                        F.lit("has "),
                        F.size(col).cast("string"),
                        F.lit(f" values, expected {size} (shape {list(shape)})"),
                    ),
                )
            )

        checks.append((_null_or_nan_element(col), F.lit("contains a null or NaN element")))
    else:
        checks.append((F.coalesce(F.isnan(col.try_cast("double")), F.lit(False)), F.lit("is NaN")))
    return checks


def _first_reason(checks, prefix):
    """The first failing check's reason after ``prefix``, or null for a good row."""
    from pyspark.sql import functions as F

    expr = F.lit(None).cast("string")
    for cond, msg in reversed(checks):
        expr = F.when(cond, F.concat(prefix, msg)).otherwise(expr)
    return expr


def _tensor_type_checked(col, name: str, shape, value):
    if shape is None:
        return value
    return _type_checked(
        col, name, f"an array of numbers (shape {list(shape)})", _NUMERIC_ARRAY_TYPE, value
    )


def check_column(column, name: str, shape: Sequence[int] | None = None, row_id=None):
    """Return ``column`` with checks: not null, no null/NaN element, the expected element count.

    ``shape`` (e.g. ``[784]`` or ``[28, 28]``) marks an array column whose flattened length must
    equal the product of the shape and whose elements must be numbers. ``row_id`` (a Column) is
    quoted in the error message.
    """
    from pyspark.sql import functions as F

    col = _as_column(column)
    prefix = F.concat(F.lit(f"input column '{name}'"), row_suffix(row_id), F.lit(": "))
    expr = None
    for cond, msg in reversed(_row_checks(col, shape)):
        err = F.raise_error(F.concat(prefix, msg))
        expr = F.when(cond, err).otherwise(col if expr is None else expr)
    return _tensor_type_checked(col, name, shape, expr).alias(name)


def column_reason(column, name: str, shape: Sequence[int] | None = None):
    """Why a row of ``column`` is bad (``"input column 'x': is null"``), or null for a good row.

    The same checks as :func:`check_column`; a wrong element type still raises (see module doc).
    """
    from pyspark.sql import functions as F

    col = _as_column(column)
    reason = _first_reason(_row_checks(col, shape), F.lit(f"input column '{name}': "))
    return _tensor_type_checked(col, name, shape, reason)


def _scalar_flags(cols):
    from pyspark.sql import functions as F

    return F.array(
        *[c.isNull() | F.coalesce(F.isnan(c.try_cast("double")), F.lit(False)) for c in cols]
    )


def _scalar_type_checked(cols, names, value):
    """``value``, or an error naming the first of ``cols`` that is not a number (folded too)."""
    from pyspark.sql import functions as F

    kinds = [F.typeof(c) for c in cols]
    first = F.array_position(F.array(*[~k.rlike(_NUMERIC_SCALAR_TYPE) for k in kinds]), True)
    message = F.concat(
        F.lit("input column '"),
        F.element_at(F.array(*map(F.lit, names)), first.cast("int")),
        F.lit("' has type "),
        F.element_at(F.array(*kinds), first.cast("int")),
        F.lit(", expected a number (the columns form one tensor)"),
    )
    return F.when(first > 0, F.raise_error(message)).otherwise(value)


def check_scalar_columns(columns, row_id=None):
    """Pack many scalar columns into one struct, failing on the first null or NaN value.

    One array of flags and one branch for the whole row: a check per column (784 branches, each
    with its own error) compiles to code too large for Spark's code generator and ran ~15x
    slower than this.
    """
    from pyspark.sql import functions as F

    names = [column_name(c, i) for i, c in enumerate(columns)]
    cols = [_as_column(c) for c in columns]
    first_bad = F.array_position(_scalar_flags(cols), True)
    where = row_suffix(row_id)
    message = F.concat(
        F.lit("input column '"),
        F.element_at(F.array(*[F.lit(n) for n in names]), first_bad.cast("int")),
        F.lit("'"),
        where,
        F.lit(": is null or NaN"),
    )
    packed = F.struct(*[c.alias(n) for c, n in zip(cols, names)])
    checked = F.when(first_bad > 0, F.raise_error(message)).otherwise(packed)
    return _scalar_type_checked(cols, names, checked)


def scalar_columns_reason(columns):
    """Why a row of many scalar columns (one tensor) is bad, or null for a good row."""
    from pyspark.sql import functions as F

    names = [column_name(c, i) for i, c in enumerate(columns)]
    cols = [_as_column(c) for c in columns]
    first_bad = F.array_position(_scalar_flags(cols), True)
    reason = F.when(
        first_bad > 0,
        F.concat(
            F.lit("input column '"),
            F.element_at(F.array(*map(F.lit, names)), first_bad.cast("int")),
            F.lit("': is null or NaN"),
        ),
    )
    return _scalar_type_checked(cols, names, reason)


# --- quarantine: bad rows skip the model ------------------------------------------------------


def _missing_rows(x):
    """Rows of one model input (as predict_batch_udf hands it over) that hold a null or NaN.

    After the Spark-side checks a good row never does, so these are exactly the bad rows.
    """
    import numpy as np
    import pandas as pd

    x = np.asarray(x)
    n = len(x)
    if x.dtype.kind in "fc":
        return np.isnan(x.reshape(n, -1)).any(axis=1)
    if x.dtype.kind != "O":
        return np.zeros(n, dtype=bool)  # ints, bools, fixed-width strings hold no nulls

    def missing(v):
        if isinstance(v, np.ndarray):
            return (
                v.dtype.kind in "fc"
                and bool(np.isnan(v).any())
                or (v.dtype.kind == "O" and bool(pd.isna(v).any()))
            )
        return v is None or (isinstance(v, float) and v != v)

    flat = x.reshape(n, -1)
    return np.array([any(missing(v) for v in row) for row in flat], dtype=bool)


def _placeholder(return_type, n: int):
    """Predictions of the right type for ``n`` bad rows when a batch has no good row to copy."""
    import numpy as np
    from pyspark.sql.types import ArrayType, StringType, StructType

    if isinstance(return_type, StructType):
        return {f.name: _placeholder(f.dataType, n) for f in return_type.fields}
    if isinstance(return_type, ArrayType):
        text = isinstance(return_type.elementType, StringType)
        return np.zeros((n, 0), dtype=object if text else np.float32)
    if isinstance(return_type, StringType):
        return np.full(n, "", dtype=object)
    return np.zeros(n)


def _scatter(preds, good, n: int):
    """Predictions for ``good`` rows spread over ``n`` rows; bad rows get a copy of a good row's
    (Spark replaces them with null)."""
    import numpy as np

    if isinstance(preds, Mapping):
        return {k: _scatter(v, good, n) for k, v in preds.items()}
    if isinstance(preds, list):  # rows of dictionaries
        it = iter(preds)
        return [next(it) if g else preds[0] for g in good]
    preds = np.asarray(preds)
    out = np.empty((n, *preds.shape[1:]), dtype=preds.dtype)
    out[good] = preds
    out[~good] = preds[0]
    return out


def _flat(preds, return_type):
    """A prediction array as a field of predict_batch_udf's struct output wants it."""
    import numpy as np
    from pyspark.sql.types import ArrayType

    preds = np.asarray(preds)
    if not isinstance(return_type, ArrayType) and preds.ndim == 2 and preds.shape[1] == 1:
        return preds[:, 0]
    return preds


def skip_bad_rows(make_predict_fn: Callable, return_type, flag: bool = False) -> Callable:
    """Wrap ``make_predict_fn`` so that its predict function sees only rows with no null/NaN.

    Used by quarantine mode: the Spark side hands bad rows over with nulls in place of their
    values; the model never sees them. Keeps the predict function's signature, which
    predict_batch_udf reads to decide how many inputs it takes. With ``flag`` the result is
    ``{"prediction": ..., "bad": <1 or 0 per row>}`` (see ``quarantine_return_type``).
    """

    def make():
        import numpy as np

        predict = make_predict_fn()

        def run(inputs, n):
            bad = np.zeros(n, dtype=bool)
            for x in inputs:
                bad |= _missing_rows(x)
            if not bad.any():
                return predict(*inputs), bad
            good = ~bad
            if not good.any():
                return _placeholder(return_type, n), bad
            return _scatter(predict(*[np.asarray(x)[good] for x in inputs]), good, n), bad

        @functools.wraps(predict)
        def predict_good(*inputs):
            preds, bad = run(inputs, len(inputs[0]))
            if flag:
                return {PREDICTION_FIELD: _flat(preds, return_type), BAD_FIELD: bad.astype(np.int8)}
            return preds

        return predict_good

    return make


def quarantine_return_type(return_type):
    """struct<prediction: return_type, bad: tinyint>, or None where predict_batch_udf cannot
    nest ``return_type`` (a struct) in a struct."""
    from pyspark.sql.types import ByteType, StructField, StructType

    if isinstance(return_type, StructType):
        return None
    return StructType(
        [StructField(PREDICTION_FIELD, return_type), StructField(BAD_FIELD, ByteType())]
    )


def checked_predict_batch_udf(
    make_predict_fn: Callable,
    *,
    return_type,
    batch_size: int,
    input_tensor_shapes: Sequence[Sequence[int] | None] | Mapping[int, Sequence[int]] | None = None,
    row_id: str | None = None,
    on_bad_row: str = FAIL,
) -> Callable:
    """``predict_batch_udf`` with per-row input checks (see module doc).

    Same arguments as ``pyspark.ml.functions.predict_batch_udf``; returns a function that takes
    column names or Columns, like the UDF it wraps. ``row_id`` names a column whose value is
    quoted in errors.

    ``on_bad_row="fail"`` (the default): a bad row fails the job with a Spark exception whose
    message contains, for example,
    ``input column 'features' (row 17): has 783 values, expected 784 (shape [784])``.

    ``on_bad_row="quarantine"``: the UDF returns a struct ``<prediction: return_type, error:
    string>``. A good row has its prediction and a null error; a bad row (null, NaN or null
    element, wrong length) skips the model and has a null prediction and the reason, e.g.
    ``input column 'features': has 783 values, expected 784 (shape [784])`` (the row is the
    row itself: keep its id column beside the result). :func:`split_quarantined` separates the
    two kinds; :func:`count_quarantined` counts them. A wrong element type still fails.
    """
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql import functions as F

    if on_bad_row not in BAD_ROW_MODES:
        raise ValueError(f"on_bad_row must be one of {BAD_ROW_MODES}, got {on_bad_row!r}")
    quarantine = on_bad_row == QUARANTINE
    shapes = input_tensor_shapes
    flagged = quarantine_return_type(return_type) if quarantine else None
    udf = predict_batch_udf(
        skip_bad_rows(make_predict_fn, return_type, flagged is not None)
        if quarantine
        else make_predict_fn,
        return_type=flagged or return_type,
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

    def packed_columns(n: int) -> bool:
        # Many scalar columns, one model input: predict_batch_udf wants them in one struct
        # (it turns the struct's fields into the columns of an (n, k) array).
        return n > 1 and shapes is not None and not isinstance(shapes, Mapping) and len(shapes) == 1

    def apply(*columns):
        rid = F.col(row_id) if row_id else None
        if packed_columns(len(columns)):
            if not quarantine:
                return udf(check_scalar_columns(columns, rid))
            names = [column_name(c, i) for i, c in enumerate(columns)]
            packed = F.struct(*[_as_column(c).alias(n) for c, n in zip(columns, names)])
            return _with_reason(udf(packed), scalar_columns_reason(columns), flagged)
        if not quarantine:
            checked = [
                check_column(c, column_name(c, i), shape_for(i), rid) for i, c in enumerate(columns)
            ]
            return udf(*checked)
        names = [column_name(c, i) for i, c in enumerate(columns)]
        reasons = [
            column_reason(c, n, shape_for(i)) for i, (c, n) in enumerate(zip(columns, names))
        ]
        reason = F.coalesce(*reasons) if len(reasons) > 1 else reasons[0]
        inputs = [
            _stand_in(_as_column(c), shape_for(i), reason).alias(n)
            for i, (c, n) in enumerate(zip(columns, names))
        ]
        return _with_reason(udf(*inputs), reason, flagged)

    apply.udf = udf
    apply.on_bad_row = on_bad_row
    return apply


def _stand_in(col, shape, reason):
    """The column, with a bad row's value replaced by nulls the model wrapper recognises.

    An array input gets an array of nulls of the expected size (a null row or a row of the
    wrong length could not be stacked into the batch's tensor); a scalar gets null.
    """
    from pyspark.sql import functions as F

    size = _expected_size(shape)
    if shape is not None and size is not None:
        filler = F.array_repeat(F.lit(None), size)
    else:
        filler = F.lit(None)
    return F.when(reason.isNotNull(), filler).otherwise(col)


def _with_reason(out, reason, flagged):
    """struct<prediction, error>: the prediction, or null and the reason for a bad row.

    With the model's own bad-row flag (``flagged``) the reason is computed for bad rows only;
    without it (a struct return type) the checks run again on every row.
    """
    from pyspark.sql import functions as F

    if flagged is None:
        return F.struct(
            F.when(reason.isNull(), out).alias(PREDICTION_FIELD), reason.alias(ERROR_FIELD)
        )
    bad = out[BAD_FIELD] == 1  # predict_batch_udf has no boolean outputs
    # A flagged row always has a reason (the checks put the nulls there); never a null error.
    why = F.coalesce(reason, F.lit("the model input holds a null or NaN"))
    return F.struct(
        F.when(~bad, out[PREDICTION_FIELD]).alias(PREDICTION_FIELD),
        F.when(bad, why).alias(ERROR_FIELD),
    )


def split_quarantined(df, column: str, reason_column: str = "reason"):
    """Split ``df`` on a quarantine-mode result ``column`` into ``(good, quarantined)``.

    ``good``: the rows that have a prediction, with ``column`` holding the prediction itself.
    ``quarantined``: the other rows, without ``column``, with ``reason_column`` saying what was
    wrong. Both are lazy: split a result that is written (or cached) already, or each of them
    runs the model again.
    """
    from pyspark.sql import functions as F

    result = F.col(column)
    good = df.where(result[ERROR_FIELD].isNull()).withColumn(column, result[PREDICTION_FIELD])
    bad = (
        df.where(result[ERROR_FIELD].isNotNull())
        .withColumn(reason_column, result[ERROR_FIELD])
        .drop(column)
    )
    return good, bad


def count_quarantined(df, column: str) -> dict[str, int]:
    """``{"rows", "good", "quarantined"}`` counts of a quarantine-mode result, in one pass."""
    from pyspark.sql import functions as F

    row = df.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count(F.col(column)[ERROR_FIELD]).alias("quarantined"),
    ).first()
    rows, bad = int(row["rows"]), int(row["quarantined"])
    return {"rows": rows, "good": rows - bad, "quarantined": bad}
