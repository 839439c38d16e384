"""Input checks for ``predict_batch_udf``: a bad row fails the job with a message naming its
column, row and what was expected, or (``on_bad_row="quarantine"``) skips the model and comes out
with the reason. The checks are Spark expressions in the inference's own stage.

Usage::

    from dl_helpers.udfs import checked_predict_batch_udf

    udf = checked_predict_batch_udf(make_predict_fn, return_type=ArrayType(FloatType()),
                                    batch_size=64, input_tensor_shapes=[[784]], row_id="id")
    preds = df.withColumn("preds", udf("features"))
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence

from dl_helpers.udfs._quarantine import quarantine_return_type, skip_bad_rows, with_reason

# NOTE: pyspark is imported inside the functions so that importing dl_helpers stays cheap.

FAIL = "fail"
QUARANTINE = "quarantine"
BAD_ROW_MODES = (FAIL, QUARANTINE)

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
    """``value``, or an error naming ``name`` and its type when ``typeof(col)`` does not match
    (an ``array<string>`` column where numbers are expected, in either mode).

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

    The same checks as :func:`check_column`. A wrong element type still raises: a column's type
    is the same for every row, so it is never a row to set aside.
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


def checked_predict_batch_udf(
    make_predict_fn: Callable,
    *,
    return_type,
    batch_size: int,
    input_tensor_shapes: Sequence[Sequence[int] | None] | Mapping[int, Sequence[int]] | None = None,
    row_id: str | None = None,
    on_bad_row: str = FAIL,
) -> Callable:
    """``predict_batch_udf`` with per-row input checks in the same stage as the inference.

    Same arguments as ``pyspark.ml.functions.predict_batch_udf``; returns a function that takes
    column names or Columns, like the UDF it wraps. ``row_id`` names a column whose value is
    quoted in errors. Each input is checked: not null, no null or NaN (element), an array of
    numbers with as many values as ``input_tensor_shapes`` says.

    ``on_bad_row="fail"`` (the default): a bad row fails the job with a Spark exception whose
    message contains, for example,
    ``input column 'features' (row 17): has 783 values, expected 784 (shape [784])``.

    ``on_bad_row="quarantine"``: the UDF returns a struct ``<prediction: return_type, error:
    string>``. A good row has its prediction and a null error; a bad row skips the model and has
    a null prediction and the reason, e.g.
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

    def apply(*columns):
        rid = F.col(row_id) if row_id else None
        packed = _packs_columns(shapes, len(columns))
        if not quarantine:
            if packed:
                return udf(check_scalar_columns(columns, rid))
            return udf(*[_checked(c, i, _shape_for(shapes, i), rid) for i, c in enumerate(columns)])
        if packed:
            reason = scalar_columns_reason(columns)
            return with_reason(udf(_packed(columns)), reason, flagged)
        reason, inputs = _set_aside(columns, [_shape_for(shapes, i) for i in range(len(columns))])
        return with_reason(udf(*inputs), reason, flagged)

    return apply


def _shape_for(shapes, i: int):
    """The shape of input ``i`` from ``input_tensor_shapes`` (a list, a dict or None)."""
    if shapes is None:
        return None
    if isinstance(shapes, Mapping):
        return shapes.get(i)
    if len(shapes) == 1:
        return shapes[0]  # one tensor input (possibly assembled from many columns)
    return shapes[i] if i < len(shapes) else None


def _packs_columns(shapes, n: int) -> bool:
    """Many scalar columns, one model input: predict_batch_udf wants them in one struct (it turns
    the struct's fields into the columns of an (n, k) array)."""
    return n > 1 and shapes is not None and not isinstance(shapes, Mapping) and len(shapes) == 1


def _checked(column, i: int, shape, row_id):
    return check_column(column, column_name(column, i), shape, row_id)


def _packed(columns):
    from pyspark.sql import functions as F

    names = [column_name(c, i) for i, c in enumerate(columns)]
    return F.struct(*[_as_column(c).alias(n) for c, n in zip(columns, names)])


def _set_aside(columns, shapes):
    """(the first reason a row is bad or null, the inputs with a bad row's values as nulls)."""
    from pyspark.sql import functions as F

    names = [column_name(c, i) for i, c in enumerate(columns)]
    reasons = [column_reason(c, n, shape) for c, n, shape in zip(columns, names, shapes)]
    reason = F.coalesce(*reasons) if len(reasons) > 1 else reasons[0]
    inputs = [
        _stand_in(_as_column(c), shape, reason).alias(n)
        for c, n, shape in zip(columns, names, shapes)
    ]
    return reason, inputs


def _stand_in(col, shape, reason):
    """The column, with a bad row's value replaced by nulls the model wrapper recognises
    (:func:`~dl_helpers.udfs._quarantine.skip_bad_rows`).

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
