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


def partition_sizes(frame) -> list[int]:
    """Rows in each partition of a DataFrame, in partition order, empty partitions included.

    Works on a classic and a Spark Connect session alike (Connect has no ``df.rdd``, so neither
    ``rdd.glom()`` nor ``rdd.getNumPartitions()``): one job runs a small Arrow task on every
    partition, which reports its partition id and row count. Python tasks run on empty
    partitions too, so these count (grouping by ``spark_partition_id()`` would miss them). Only
    a constant column is read, so the job scans no data columns.
    """
    import pyarrow as pa
    from pyspark.sql import functions as F

    schema = pa.schema([("partition", pa.int32()), ("rows", pa.int64())])

    def count_rows(batches):
        from pyspark import TaskContext

        rows = sum(batch.num_rows for batch in batches)
        partition = TaskContext.get().partitionId()
        yield pa.RecordBatch.from_pydict({"partition": [partition], "rows": [rows]}, schema=schema)

    counted = frame.select(F.lit(True).alias("one")).mapInArrow(
        count_rows, "partition int, rows long"
    )
    by_partition = {r["partition"]: r["rows"] for r in counted.collect()}
    if sorted(by_partition) != list(range(len(by_partition))):
        raise RuntimeError(f"partition ids {sorted(by_partition)} are not 0..n-1")
    return [by_partition[p] for p in range(len(by_partition))]


def num_partitions(frame) -> int:
    """Partitions of a DataFrame, on a classic or a Spark Connect session.

    Replaces ``df.rdd.getNumPartitions()``, which Connect lacks; unlike it, this runs a job
    (see ``partition_sizes``).
    """
    return len(partition_sizes(frame))
