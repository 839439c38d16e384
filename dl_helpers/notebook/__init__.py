"""What notebooks share: recorded results and output folders, what a reader looks at (a summary
chart, images with their labels, tables of inputs and outputs), and the checks that Spark's
output equals the model's own.

Usage::

    from dl_helpers.notebook import compare, record, show_summary

    show_summary({"model alone": 5200.0, "predict_batch_udf": 4100.0}, baseline="model alone")
    result = compare(preds, "prediction", direct)   # direct[row_id]: the model run directly
    record("spark_max_abs_diff", result.max_abs_diff)

``record`` merges values into the JSON file that ``DL_HELPERS_RESULTS`` names (the papermill
runner in ``ci/`` sets it; the tests read and assert on it), silently: a reader's output shows
the notebook's own prints. ``DL_HELPERS_SHOW_RECORDS=1`` also prints each value.
"""

from dl_helpers.notebook._checks import (
    Comparison,
    argmax,
    cold_and_warm,
    collect_by_id,
    compare,
    first_error_line,
    num_partitions,
    partition_sizes,
    timed_run,
)
from dl_helpers.notebook._display import show_images, show_summary, show_table
from dl_helpers.notebook._results import (
    RESULTS_ENV,
    SHOW_RECORDS_ENV,
    make_output_dir,
    record,
    recorded,
)

__all__ = [
    "Comparison",
    "RESULTS_ENV",
    "SHOW_RECORDS_ENV",
    "argmax",
    "cold_and_warm",
    "collect_by_id",
    "compare",
    "first_error_line",
    "make_output_dir",
    "num_partitions",
    "partition_sizes",
    "record",
    "recorded",
    "show_images",
    "show_summary",
    "show_table",
    "timed_run",
]
