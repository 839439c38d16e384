"""Checks that a notebook's Spark output equals the model's own: comparisons by row id, the line
of an expected error, timed runs, DataFrame helpers (partitions also on Spark Connect)."""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare` found: rows, distinct ids, the largest numeric difference, and the
    rows that differ, as ``(id, got, expected)``."""

    rows: int
    distinct_ids: int
    max_abs_diff: float
    mismatches: tuple = ()

    @property
    def differing(self) -> int:
        """Rows that differ from the expected value."""
        return len(self.mismatches)

    @property
    def equal(self) -> int:
        """Rows equal to the expected value (numeric parts within the tolerance)."""
        return self.rows - self.differing

    def __str__(self) -> str:
        return (
            f"{self.rows} rows ({self.distinct_ids} distinct ids), {self.differing} differ, "
            f"max |diff| {self.max_abs_diff:.2e}"
        )


def _numeric(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_, str, bytes)):
        return False
    if isinstance(value, (int, float, np.number)):
        return True
    if isinstance(value, (list, tuple, np.ndarray)):
        return np.asarray(value).dtype.kind in "iuf"
    return False


def _difference(got: Any, want: Any) -> tuple[bool, float]:
    """(the non-numeric parts are equal, the largest absolute difference of the numeric ones)."""
    if isinstance(want, Mapping):  # a struct: compared field by field
        if got is None:
            return False, math.inf
        fields = got.asDict() if hasattr(got, "asDict") else dict(got)
        parts = [_difference(fields.get(k), v) for k, v in want.items()]
        return all(p[0] for p in parts), max((p[1] for p in parts), default=0.0)
    if _numeric(want):
        if got is None:
            return False, math.inf
        g, w = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
        if g.shape != w.shape:
            return False, math.inf
        return True, float(np.abs(g - w).max()) if g.size else 0.0
    return bool(got == want), 0.0


def compare(frame, column: str, expected, *, id_column: str = "id", atol: float = 1e-5):
    """Compare one column of ``frame`` with the values expected for each row id.

    ``expected[row_id]`` is the value the model gave when run directly (a numpy array or list
    indexed by id, or a dict). Numbers and arrays are compared within ``atol``, strings and
    labels exactly, struct columns field by field (``expected`` values are then dicts). Raises
    ValueError when a row's id has no expected value.
    """
    from pyspark.sql import functions as F

    pdf = frame.select(F.col(id_column).alias("id"), F.col(column).alias("value")).toPandas()
    pdf = pdf.sort_values("id", kind="stable")
    largest, shown = 0.0, []
    for row_id, got in zip(pdf["id"].tolist(), pdf["value"].tolist(), strict=True):
        try:
            want = expected[row_id]
        except (KeyError, IndexError):
            raise ValueError(f"{id_column} {row_id!r} has no expected value") from None
        equal, diff = _difference(got, want)
        largest = max(largest, diff)
        if not equal or diff > atol:
            shown.append((row_id, got, want))
    ids = pdf["id"].tolist()
    return Comparison(len(ids), len(set(ids)), largest, tuple(shown))


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit): ")


def first_error_line(run, contains: str) -> str:
    """Run a job that must fail and return the line of its error that contains ``contains``.

    ``run`` is a DataFrame (collected) or a function of no arguments. Spark wraps the worker's
    error in a long message: the first exception line (``ValueError: ...``) that contains
    ``contains``, else any such line, else its first 300 characters, is shown (``Type -> line``)
    and returned. Raises AssertionError when nothing fails. While it runs, Spark's own logs of
    the failing tasks (an ERROR and a WARN, each with the whole stack trace, in the notebook's
    output on local Spark) are off on a classic session; the error itself is what it shows.
    """
    try:
        with quiet_task_failures():
            run() if callable(run) else run.collect()
    except Exception as e:
        lines = [x for x in str(e).splitlines() if contains in x]
        # An exception's own line ("ValueError: ...") before a traceback's source line.
        raised = [x for x in lines if _EXCEPTION_LINE.match(x)]
        line = (raised or lines or [str(e)[:300]])[0]
        print(type(e).__name__, "->", line)
        return line
    raise AssertionError("the job succeeded: bad input was accepted")


# Loggers that log each failed task with its stack trace: the executor's and the writers' (in the
# driver's output on local Spark), and the scheduler's (on any master).
TASK_FAILURE_LOGGERS = (
    "org.apache.spark.executor.Executor",
    "org.apache.spark.util.Utils",
    "org.apache.spark.sql.execution.datasources",  # file and v2 writers, aborting
    "org.apache.spark.scheduler.TaskSetManager",
)


@contextlib.contextmanager
def quiet_task_failures() -> Iterator[None]:
    """Turn :data:`TASK_FAILURE_LOGGERS` off in the driver's JVM for the block, then restore
    their levels. Does nothing without a classic SparkContext (Spark Connect: the server logs)."""
    try:
        from pyspark import SparkContext

        jvm = SparkContext._active_spark_context._jvm
        log4j = jvm.org.apache.logging.log4j
        before = {n: log4j.LogManager.getLogger(n).getLevel() for n in TASK_FAILURE_LOGGERS}
        for name in TASK_FAILURE_LOGGERS:
            log4j.core.config.Configurator.setLevel(name, log4j.Level.OFF)
    except Exception:  # no pyspark, no classic context, or a JVM without log4j 2
        yield
        return
    try:
        yield
    finally:
        for name, level in before.items():
            log4j.core.config.Configurator.setLevel(name, level)


# Timing Spark jobs the same way in every notebook: the whole plan, cold and warm apart.


def timed_run(frame, parquet_path: str | None = None) -> float:
    """Run ``frame`` to Parquet at ``parquet_path`` (overwritten), or to the noop sink; seconds.

    A DataFrame is lazy: timing it means running its whole plan. The noop sink computes every
    row and keeps nothing, so the time is the pipeline's own, not that of collecting results.
    """
    t0 = time.perf_counter()
    writer = frame.write.mode("overwrite")
    if parquet_path:
        writer.parquet(parquet_path)
    else:
        writer.format("noop").save()
    return time.perf_counter() - t0


def cold_and_warm(frame, collect: Callable[[Any], Any]) -> tuple[float, float, Any]:
    """A cold run to the noop sink, then a timed warm run of ``collect(frame)``.

    The cold run pays for starting Python workers and loading the model; the warm one reuses
    both, so the two are reported apart.

    Returns ``(cold_s, warm_s, collect's result)``: the warm pass is the one whose results the
    notebook compares with the model's own.
    """
    cold = timed_run(frame)
    t0 = time.perf_counter()
    result = collect(frame)
    return cold, time.perf_counter() - t0, result


# DataFrame expressions and collections that the notebooks' result checks share.


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
