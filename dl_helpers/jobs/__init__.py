"""Running long inference jobs: a live progress bar and committed chunks that resume after a
failure.

Usage::

    from dl_helpers.jobs import SparkProgress, run_chunked

    with SparkProgress(spark, total=n):
        preds.write.format("noop").mode("overwrite").save()
    run_chunked(df, add_predictions, output_uri, id_column="id", num_chunks=8, progress=True)
"""

from dl_helpers.jobs._lock import OutputLockedError
from dl_helpers.jobs._progress import SparkProgress
from dl_helpers.jobs._resume import chunk_markers, read_committed, run_chunked

__all__ = [
    "OutputLockedError",
    "SparkProgress",
    "chunk_markers",
    "read_committed",
    "run_chunked",
]
