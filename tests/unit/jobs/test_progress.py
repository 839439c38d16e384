"""SparkProgress on a real local SparkSession: lines with rows/s while a job runs, and a bar that
ends (its thread stopped) when the job fails, with the job's error still raised."""

import io
import re
import time

import pytest

from dl_helpers.jobs import SparkProgress

pytestmark = pytest.mark.spark

N_ROWS = 4000
RATE = re.compile(r"\| [\d,]+ rows/s \|")


def slow_ids(spark, fail_at=None):
    """ids through a Python UDF that takes ~0.3 s per partition (8 partitions)."""
    from pyspark.sql import functions as F

    @F.pandas_udf("long")
    def slow(x):
        time.sleep(0.3)
        if fail_at is not None and (x == fail_at).any():
            raise ValueError(f"bad row {fail_at}")
        return x

    return spark.range(0, N_ROWS, numPartitions=8).select(slow("id").alias("id"))


def run(df):
    df.write.format("noop").mode("overwrite").save()


def test_lines_with_rows_per_second_during_a_job(spark):
    buf = io.StringIO()
    with SparkProgress(
        spark, total=N_ROWS, label="ids", interval=0.1, print_every=0.2, out=buf
    ) as bar:
        run(slow_ids(spark))
    assert not bar.thread.is_alive()
    lines = buf.getvalue().splitlines()
    assert lines == bar.lines
    during, last = lines[:-1], lines[-1]
    assert any(RATE.search(x) and "/8 tasks" in x and "left" in x for x in during), lines
    assert last.startswith("[progress] ids: done, 8/8 tasks (100%) | 4,000/4,000 rows |"), last
    assert RATE.search(last + " |")
    assert bar.summary["state"] == "done" and bar.summary["rows"] == N_ROWS
    assert bar.summary["tasks"] == bar.summary["tasks_total"] == 8


def test_failed_job_ends_the_bar_and_the_error_is_raised(spark):
    buf = io.StringIO()
    with pytest.raises(Exception, match="bad row 3000"):
        with SparkProgress(spark, total=N_ROWS, label="ids", interval=0.1, out=buf) as bar:
            run(slow_ids(spark, fail_at=3000))
    assert not bar.thread.is_alive()
    assert bar.lines[-1].startswith("[progress] ids: failed ("), bar.lines
    assert bar.summary["state"] == "failed" and bar.summary["tasks"] < 8
    assert bar.tag not in list(spark.sparkContext.getJobTags())  # the tag is removed


def test_jobs_outside_the_block_are_not_counted(spark):
    run(slow_ids(spark))  # a job before the block
    with SparkProgress(spark, label="count", interval=0.1, out=io.StringIO()) as bar:
        assert bar.tag in list(spark.sparkContext.getJobTags())
        spark.range(0, 10, numPartitions=3).count()
    assert bar.summary["tasks_total"] <= 4  # count(): 3 tasks (+1 for the final merge)
    assert bar.summary["rows"] is None and "rows" not in bar.lines[-1]  # no total given


def test_chunked_run_shows_progress_over_its_chunks(spark, tmp_path):
    from dl_helpers.jobs import run_chunked

    buf = io.StringIO()
    df = spark.range(0, 400, numPartitions=2)
    result = run_chunked(
        df, lambda d: d, str(tmp_path / "out"), num_chunks=4, progress={"out": buf, "interval": 0.1}
    )
    assert result.ran == [0, 1, 2, 3]
    last = buf.getvalue().splitlines()[-1]
    assert result.progress_lines[-1] == last and result.progress_summary["rows"] == 400
    assert last.startswith("[progress] 4 chunks: done,") and "| 400/400 rows |" in last, last
