"""DataFrame-only helpers (dl_helpers.frames) on a real session: partition sizes match the RDD's
view on a classic session, and the same code runs over Spark Connect, which has no RDDs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dl_helpers.frames import argmax, collect_by_id, num_partitions, partition_sizes

ROOT = Path(__file__).resolve().parent.parent


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


CONNECT_SCRIPT = """
import json
from dl_helpers.frames import num_partitions, partition_sizes
from dl_helpers.spark import build_session, is_connect

spark = build_session("frames-connect", remote="local[2]")
out = {
    "connect": is_connect(spark),
    "range": partition_sizes(spark.range(0, 10, 1, 4)),
    "filtered": partition_sizes(spark.range(0, 100, 1, 4).filter("id < 10")),
    "repartitioned": num_partitions(spark.range(0, 2).repartition(5)),
}
spark.stop()
print("RESULT", json.dumps(out))
"""


def test_partition_sizes_over_spark_connect():
    """A separate process: a Connect session cannot share this one with the classic fixture."""
    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p))
    env.pop("SPARK_REMOTE", None)
    proc = subprocess.run([sys.executable, "-c", CONNECT_SCRIPT], env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[-1].removeprefix("RESULT "))
    assert out == {
        "connect": True,
        "range": [2, 3, 2, 3],
        "filtered": [10, 0, 0, 0],
        "repartitioned": 5,
    }
