"""DataFrame-only helpers (dl_helpers.udfs) on a real session: partition sizes match the RDD's
view on a classic session, and the same code runs over Spark Connect, which has no RDDs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dl_helpers.notebook import argmax, collect_by_id, num_partitions, partition_sizes

ROOT = Path(__file__).resolve().parents[3]


def _parquet(spark, folder):
    path = str(folder / "t.parquet")
    spark.range(0, 1000, 1, 3).write.parquet(path)
    return spark.read.parquet(path)


FRAMES = {
    "range": lambda spark, folder: spark.range(0, 10, 1, 4),
    "empty partitions": lambda spark, folder: spark.range(0, 100, 1, 4).filter("id < 10"),
    "fewer rows than partitions": lambda spark, folder: spark.range(0, 2).repartition(5),
    "parquet": _parquet,
}


@pytest.mark.parametrize("name", sorted(FRAMES))
def test_partition_sizes_match_the_rdd(spark, tmp_path, name):
    frame = FRAMES[name](spark, tmp_path)
    expected = frame.rdd.glom().map(len).collect()
    assert partition_sizes(frame) == expected
    assert num_partitions(frame) == frame.rdd.getNumPartitions() == len(expected)
    assert sum(expected) == frame.count()


def test_partition_sizes_list_empty_partitions(spark):
    sizes = partition_sizes(spark.range(0, 100, 1, 4).filter("id < 10"))
    assert sizes == [10, 0, 0, 0]


def test_argmax_and_collect_by_id(spark):
    df = spark.createDataFrame(
        [(2, [0.1, 0.9, 0.0]), (0, [3.0, 1.0, 2.0]), (1, [0.0, 0.0, 5.0])],
        "id long, v array<double>",
    )
    ids, values = collect_by_id(df.withColumn("k", argmax("v")), "k")
    assert ids.tolist() == [0, 1, 2]
    assert values.tolist() == [0, 2, 1]
    ids, values = collect_by_id(df, "v")
    assert values.shape == (3, 3)
    assert np.allclose(values[2], [0.1, 0.9, 0.0])


# Over Spark Connect: the partition_sizes scenario of tests/support/connect_jobs_driver.py.
