"""Quarantine mode of ``checked_predict_batch_udf``: bad rows skip the model and come out with
the reason, in a ``struct<prediction, error>`` column that :func:`split_quarantined` separates
and :func:`count_quarantined` counts.

Usage::

    result = df.withColumn("out", udf("features"))          # on_bad_row="quarantine"
    good, bad = split_quarantined(result, "out")             # bad has a "reason" column
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

# The fields of the struct a quarantine-mode UDF returns.
PREDICTION_FIELD = "prediction"
ERROR_FIELD = "error"
BAD_FIELD = "bad"  # the model wrapper's own flag, inside the UDF's output


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


def with_reason(out, reason, flagged):
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
