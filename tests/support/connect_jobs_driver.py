"""A driver for the Spark Connect tests on a Connect server started in the client's process: the
session, the input checks, the model-server lifecycle, SparkProgress and run_chunked. One
process, one Connect session (``SPARK_REMOTE=local`` and ``build_session(master="local[2]")``),
since a process holds one kind of session only.

Run as ``python connect_jobs_driver.py WORKDIR``. It runs each scenario (the classic tests'
own functions where they apply to both kinds of session, and the Connect-only cases below) with
the Connect session, and prints one ``RESULT {json}`` line per scenario: its name, whether it
passed, its traceback, its seconds. The test module asserts on those lines.
"""

# No "from __future__ import annotations": pandas_udf reads the type hints.

import io
import json
import os
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "unit" / "jobs"))  # the scenarios reuse those tests

import connect_driver  # noqa: E402
import pytest  # noqa: E402
import test_progress  # noqa: E402
import test_resume  # noqa: E402
from resume_driver import transform  # noqa: E402

from dl_helpers.jobs import (  # noqa: E402
    SparkProgress,  # noqa: E402
    chunk_markers,
    read_committed,
    run_chunked,
)
from dl_helpers.session import SparkConnectUnsupported, build_session, is_connect  # noqa: E402

SERVER_CONF = {
    # Progress reports this often (default 2 s): short test jobs still get several.
    "spark.connect.progress.reportInterval": "100ms",
}


def failed_job_ends_the_bar(spark, tmp):
    """The classic failure test, less what Connect cannot tell (failed tasks count as ended)."""
    buf = io.StringIO()
    with pytest.raises(Exception, match="bad row 3000"):
        with SparkProgress(
            spark, total=test_progress.N_ROWS, label="ids", interval=0.1, out=buf
        ) as bar:
            test_progress.run(test_progress.slow_ids(spark, fail_at=3000))
    assert not bar.thread.is_alive()
    assert bar.lines[-1].startswith("[progress] ids: failed (PythonException)"), bar.lines
    assert bar.summary["state"] == "failed" and bar.summary["tasks_total"] == 8, bar.summary
    assert bar.tag not in spark.getTags()  # the tag is removed
    assert bar._handler not in spark._client._progress_handlers  # and the handler
    assert buf.getvalue().splitlines() == bar.lines


def operations_outside_the_block_are_not_counted(spark, tmp):
    """A job before the block and one from another thread during it are not the block's."""
    import threading

    test_progress.run(test_progress.slow_ids(spark))  # 8 tasks before the block
    with SparkProgress(spark, label="three", interval=0.1, out=io.StringIO()) as bar:
        assert bar.tag in spark.getTags()
        other = threading.Thread(target=lambda: test_progress.run(test_progress.slow_ids(spark)))
        other.start()
        test_progress.run(test_progress.slow_ids(spark).coalesce(3))  # 3 tasks
        other.join()
    assert bar.summary["state"] == "done" and bar.summary["rows"] is None
    assert bar.summary["tasks"] == bar.summary["tasks_total"] == 3, bar.summary
    assert bar.lines[-1].startswith("[progress] three: done, 3/3 tasks (100%) |"), bar.lines


def resume_after_a_failed_chunk(spark, tmp):
    """A transform that fails in chunk 2 stops the run there; the rerun writes chunks 2..5 only,
    after removing what the failed write left; every input row exactly once."""
    src, x = test_resume.write_input(tmp / "input.parquet", n=1200, files=2)
    out = tmp / "output"
    df = spark.read.parquet(src)
    with pytest.raises(Exception, match="chunk 2 fails"):
        run_chunked(df, fail_in_chunk_2, str(out), num_chunks=6)
    assert test_resume.marked(out) == {0, 1}
    assert (out / "_tmp").is_dir()  # the failed chunk's folder is left half-written
    first_run = {m["run"] for m in chunk_markers(spark, str(out)).values()}

    buf = io.StringIO()
    result = run_chunked(
        df, transform, str(out), num_chunks=6, progress={"out": buf, "interval": 0.1}
    )
    assert result.skipped == [0, 1] and result.ran == [2, 3, 4, 5], result
    assert result.complete and result.rows_written == 800
    assert any("_tmp" in p for p in result.cleaned) and not (out / "_tmp").exists()
    assert result.output == f"file:{out}" and all(p.startswith("file:/") for p in result.cleaned)
    markers = chunk_markers(spark, str(out))
    assert {markers[i]["run"] for i in result.ran} == {result.run_id}
    assert {markers[i]["run"] for i in result.skipped} == first_run != {result.run_id}
    assert sum(m["rows"] for m in markers.values()) == 1200
    test_resume.check_output(spark, out, x)
    last = result.progress_lines[-1]
    assert last.startswith("[progress] 4 chunks: done,") and "| 800/800 rows |" in last, last
    assert result.progress_summary["tasks"] == result.progress_summary["tasks_total"] > 0
    # A file: URI names the same folder; the run there does nothing more.
    again = run_chunked(df, transform, f"file://{out}", num_chunks=6)
    assert again.ran == [] and again.skipped == list(range(6)) and again.complete
    assert read_committed(spark, f"file:{out}").count() == 1200


def fail_in_chunk_2(df):
    """id, x -> id, y = 2x, failing for the ids of chunk 2 of 6 (ids 400..599 of 1200)."""
    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("double")
    def double(i: pd.Series, x: pd.Series) -> pd.Series:
        if ((i >= 400) & (i < 600)).any():
            raise ValueError("chunk 2 fails")
        return x * 2

    return df.select("id", double("id", "x").alias("y"))


def other_schemes_are_refused(spark, tmp):
    """An output Connect cannot commit from this process: a clear error naming it, nothing run."""
    df = spark.range(0, 10)
    for path in ("s3a://bucket/out", "hdfs://nn:8020/out", "file://otherhost/out"):
        with pytest.raises(SparkConnectUnsupported, match="mount") as e:
            run_chunked(df, lambda d: d, path, num_chunks=2)
        assert repr(path) in str(e.value)
    with pytest.raises(SparkConnectUnsupported, match="s3a://bucket/out"):
        read_committed(spark, "s3a://bucket/out")


def session_settings(spark, tmp):
    """$SPARK_REMOTE asks for Connect as remote= does; the master given still counts."""
    s = connect_driver.session_facts(spark)
    assert s["module"] == "pyspark.sql.connect.session" and s["is_connect"] is True, s
    assert s["describe"]["master"] == "local[2]" and s["describe"]["connect"] == "true", s
    assert s["describe"]["default_parallelism"] == "2", s
    assert s["arrow"] == "true" and s["arrow_batch"] == "1024", s


def listens_on_loopback_only(spark, tmp):
    """The Connect endpoint started here, the driver and its UI: nothing on another interface."""
    import psutil

    mine = {c.pid for c in psutil.Process().children(recursive=True)}
    conns = psutil.net_connections("inet")
    listen = {c.laddr.ip for c in conns if c.status == psutil.CONN_LISTEN and c.pid in mine}
    assert listen and listen <= {"127.0.0.1", "::ffff:127.0.0.1"}, listen


def input_checks(spark, tmp):
    c = connect_driver.run_input_checks(spark)
    assert c["rows"] == 10 and c["equal"], c
    assert "input column 'data' (row 41): has 11 values, expected 12 (shape [12])" in c["error"]


def servers_lifecycle(spark, tmp):
    """One server (local mode: the driver is the executor), started by a one-task DataFrame job;
    answers like the model; nothing left after stop. (A failed block and stop_all_servers:
    tests/cluster/test_connect.py, on a separate Connect server.)"""
    s = connect_driver.run_server_lifecycle(spark, full=False)
    assert len(s["servers"]) == 1, s
    (info,) = s["servers"].values()
    assert info["address"] == "127.0.0.1" and "driver" in info["executor"], s
    assert s["infer"]["rows"] == 100 and s["infer"]["equal"], s
    assert s["infer"]["server_pids"] == [info["pid"]], s
    assert s["left_after_stop"] == [], s


def partition_sizes_without_rdd(spark, tmp):
    """frames.partition_sizes / num_partitions over Connect (no df.rdd there), empty ones too."""
    from dl_helpers.notebook import num_partitions, partition_sizes

    assert partition_sizes(spark.range(0, 10, 1, 4)) == [2, 3, 2, 3]
    assert partition_sizes(spark.range(0, 100, 1, 4).filter("id < 10")) == [10, 0, 0, 0]
    assert num_partitions(spark.range(0, 2).repartition(5)) == 5


SCENARIOS = {
    "session_settings": session_settings,
    "partition_sizes": partition_sizes_without_rdd,
    "loopback_only": listens_on_loopback_only,
    "input_checks": input_checks,
    "servers_lifecycle": servers_lifecycle,
    # The classic tests, run unchanged on the Connect session.
    "progress_lines_with_rows_per_second": lambda s, t: (
        test_progress.test_lines_with_rows_per_second_during_a_job(s)
    ),
    "progress_over_chunks": test_progress.test_chunked_run_shows_progress_over_its_chunks,
    "resume_unmarked_chunk_redone": (
        test_resume.test_unmarked_chunk_is_redone_and_a_complete_run_does_nothing
    ),
    "resume_other_plan_refused": test_resume.test_another_input_or_plan_is_refused,
    # What differs on Connect, or has no classic test in this form.
    "progress_failed_job": failed_job_ends_the_bar,
    "progress_outside_block": operations_outside_the_block_are_not_counted,
    "resume_after_failed_chunk": resume_after_a_failed_chunk,
    "resume_other_schemes_refused": other_schemes_are_refused,
}


def main(argv: list[str]) -> None:
    work = Path(argv[0])
    t0 = time.perf_counter()
    os.environ["SPARK_REMOTE"] = "local"
    spark = build_session("connect-jobs", master="local[2]", conf=SERVER_CONF)
    assert is_connect(spark), type(spark)
    print("SESSION", json.dumps({"seconds": round(time.perf_counter() - t0, 1)}), flush=True)
    for name, scenario in SCENARIOS.items():
        tmp = work / name
        tmp.mkdir(parents=True)
        t = time.perf_counter()
        error = None
        try:
            scenario(spark, tmp)
        except BaseException:  # noqa: BLE001 - reported to the test, which fails on it
            error = traceback.format_exc()
        result = {
            "name": name,
            "ok": error is None,
            "error": error,
            "seconds": round(time.perf_counter() - t, 1),
        }
        print("RESULT", json.dumps(result), flush=True)
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
