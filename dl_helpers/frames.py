"""DataFrame expressions and collections that the notebooks' result checks share."""

from __future__ import annotations

import numpy as np


def argmax(logits):
    """The index of the largest element of an array column, as an int column (0-based)."""
    from pyspark.sql import functions as F

    return (F.array_position(logits, F.array_max(logits)) - 1).cast("int")


def collect_by_id(frame, column: str, id_column: str = "id") -> tuple[np.ndarray, np.ndarray]:
    """``(ids, values)`` of one column collected to the driver in id order.

    Array values come back stacked into one 2-D array, so they compare with a model's output
    indexed by the same ids: ``np.abs(values - direct[ids]).max()``.
    """
    pdf = frame.select(id_column, column).toPandas().sort_values(id_column)
    values = pdf[column].to_numpy()
    if len(values) and isinstance(values[0], (np.ndarray, list)):
        values = np.stack(values)
    return pdf[id_column].to_numpy(), values
