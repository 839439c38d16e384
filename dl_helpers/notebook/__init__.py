"""What notebooks share around the job itself: sample data sets (the real one online, an
announced stand-in of the same schema offline), recorded results and output folders, what a
reader looks at (a summary chart, images with their labels, tables of inputs and outputs), and
the checks that Spark's output equals the model's own. A job on a table of your own needs none
of it.

Usage::

    from dl_helpers.notebook import compare, load_fashion_mnist, record, show_summary

    data = load_fashion_mnist(offline=offline)   # data.offline: True when the stand-in ran

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
from dl_helpers.notebook._datasets import (
    CACHE_ENV,
    CALIFORNIA_FEATURES,
    CALIFORNIA_TARGET,
    MIRROR_ENV,
    MIRROR_LAYOUT,
    DownloadError,
    ImageDataset,
    ImageFiles,
    TableDataset,
    TextDataset,
    data_dir,
    first_sentence,
    load_california_housing,
    load_fashion_mnist,
    load_flower_photos,
    load_imdb_reviews,
    load_mnist,
    load_petfinder_mini,
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
    "CACHE_ENV",
    "CALIFORNIA_FEATURES",
    "CALIFORNIA_TARGET",
    "Comparison",
    "DownloadError",
    "ImageDataset",
    "ImageFiles",
    "MIRROR_ENV",
    "MIRROR_LAYOUT",
    "RESULTS_ENV",
    "SHOW_RECORDS_ENV",
    "TableDataset",
    "TextDataset",
    "argmax",
    "cold_and_warm",
    "collect_by_id",
    "compare",
    "data_dir",
    "first_error_line",
    "first_sentence",
    "load_california_housing",
    "load_fashion_mnist",
    "load_flower_photos",
    "load_imdb_reviews",
    "load_mnist",
    "load_petfinder_mini",
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
