"""Running long inference jobs: a live progress bar, committed chunks that resume after a
failure, and timed runs (cold and warm).

Usage::

    from dl_helpers.jobs import SparkProgress, run_chunked, timed_run

    with SparkProgress(spark, total=n):
        seconds = timed_run(preds)                 # the whole plan, to Spark's noop sink
    run_chunked(df, add_predictions, output_uri, id_column="id", num_chunks=8, progress=True)
"""

from dl_helpers.jobs._lock import OutputLockedError
from dl_helpers.jobs._progress import SparkProgress
from dl_helpers.jobs._resume import chunk_markers, read_committed, run_chunked
from dl_helpers.jobs._timing import cold_and_warm, timed_run

__all__ = [
    "OutputLockedError",
    "SparkProgress",
    "chunk_markers",
    "cold_and_warm",
    "read_committed",
    "run_chunked",
    "timed_run",
]
