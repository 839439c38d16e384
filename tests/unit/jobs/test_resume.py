"""run_chunked on a real local SparkSession: a driver killed with SIGKILL mid-run, then a rerun
that writes only the chunks the first run had not committed; every input row exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from resume_driver import transform

from dl_helpers.jobs import chunk_markers, read_committed, run_chunked

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[3]
N_ROWS = 8000
N_CHUNKS = 6


def write_input(path: Path, n: int = N_ROWS, files: int = 4) -> tuple[str, np.ndarray]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    x = np.random.default_rng(0).random(n)
    table = pa.table({"id": pa.array(np.arange(n, dtype=np.int64)), "x": pa.array(x)})
    path.mkdir(parents=True)
    for k in range(files):
        pq.write_table(table.slice(k * n // files, n // files), path / f"part-{k}.parquet")
    return str(path), x


def marked(out: Path) -> set[int]:
    folder = out / "_chunks"
    if not folder.is_dir():
        return set()
    return {int(p.name.split(".")[0]) for p in folder.glob("[0-9]*.json")}


def being_written(out: Path) -> list[Path]:
    return list((out / "_tmp").glob("*/chunk=*")) if (out / "_tmp").is_dir() else []


def check_output(spark, out: Path, x: np.ndarray) -> None:
    pdf = read_committed(spark, str(out)).toPandas()
    assert len(pdf) == len(x)  # one row per input row
    assert pdf["id"].is_unique
    pdf = pdf.sort_values("id")
    assert list(pdf["id"]) == list(range(len(x)))
    np.testing.assert_allclose(pdf["y"].to_numpy(), 2 * x)


def test_sigkill_mid_run_then_resume(spark, tmp_path):
    src, x = write_input(tmp_path / "input.parquet")
    out = tmp_path / "output"
    log = open(tmp_path / "driver.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "support" / "resume_driver.py"),
            src,
            str(out),
            str(N_CHUNKS),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group
    )
    family = []
    try:
        # Kill once two chunks are committed and the next one is being written.
        deadline = time.monotonic() + 240
        while not (len(marked(out)) >= 2 and being_written(out)):
            assert proc.poll() is None, (tmp_path / "driver.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the driver committed no chunks in time"
            time.sleep(0.05)
        family = psutil.Process(proc.pid).children(recursive=True)  # JVM, Python workers
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its JVM, as a crashed machine
        proc.wait(timeout=30)
    assert family, "the driver had no JVM child"
    gone, alive = psutil.wait_procs(family, timeout=60)  # workers exit when their JVM is gone
    alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"processes of the killed run still running: {alive}"
    first = marked(out)
    assert 2 <= len(first) < N_CHUNKS, first
    assert being_written(out), "no half-written chunk left to clean"
    first_run = {json.loads((out / "_chunks" / f"{i:05d}.json").read_text())["run"] for i in first}

    result = run_chunked(spark.read.parquet(src), transform, str(out), num_chunks=N_CHUNKS)

    assert result.skipped == sorted(first)
    assert result.ran == sorted(set(range(N_CHUNKS)) - first)  # only what was not committed
    assert result.complete and any("_tmp" in p for p in result.cleaned)
    assert not (out / "_tmp").exists()
    markers = chunk_markers(spark, str(out))
    assert {markers[i]["run"] for i in result.ran} == {result.run_id}
    assert {markers[i]["run"] for i in result.skipped} == first_run != {result.run_id}
    assert sum(m["rows"] for m in markers.values()) == N_ROWS
    check_output(spark, out, x)


def test_unmarked_chunk_is_redone_and_a_complete_run_does_nothing(spark, tmp_path):
    src, x = write_input(tmp_path / "input.parquet", n=400, files=2)
    out = tmp_path / "output"
    df = spark.read.parquet(src)

    def double(d):
        from pyspark.sql import functions as F

        return d.select("id", (F.col("x") * 2).alias("y"))

    first = run_chunked(df, double, str(out), num_chunks=4, stop_after=3)
    assert first.ran == [0, 1, 2] and not first.complete
    # A crash between the rename and the marker: the folder is there, its marker is not.
    (out / "_chunks" / "00001.json").unlink()
    second = run_chunked(df, double, str(out), num_chunks=4)
    assert second.skipped == [0, 2] and second.ran == [1, 3]
    assert any(p.endswith("chunk=00001") for p in second.cleaned)
    check_output(spark, out, x)
    assert spark.read.parquet(str(out)).count() == 400  # a plain read sees the same rows
    third = run_chunked(df, double, str(out), num_chunks=4)
    assert third.ran == [] and third.skipped == [0, 1, 2, 3] and third.complete


def test_another_input_or_plan_is_refused(spark, tmp_path):
    src, _ = write_input(tmp_path / "input.parquet", n=100, files=1)
    out = str(tmp_path / "output")
    df = spark.read.parquet(src)
    run_chunked(df, lambda d: d, out, num_chunks=2)
    with pytest.raises(ValueError, match="holds chunks of another input or plan"):
        run_chunked(df.where("id < 50"), lambda d: d, out, num_chunks=2)
    with pytest.raises(ValueError, match="holds chunks of another input or plan"):
        run_chunked(df, lambda d: d, out, num_chunks=3)
    with pytest.raises(TypeError, match="expected integers"):
        run_chunked(df.withColumn("id", df["x"]), lambda d: d, str(tmp_path / "o2"))


def test_second_run_at_once_is_refused_naming_the_first(spark, tmp_path):
    import socket

    from dl_helpers.jobs import OutputLockedError

    src, x = write_input(tmp_path / "input.parquet", n=2000, files=4)
    out = tmp_path / "output"
    log = open(tmp_path / "driver.log", "w")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "support" / "resume_driver.py"), src, str(out), "3"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        lock_file = out / "_lock.json"
        # Hadoop's local file system creates the lock file, then writes it: wait for its content.
        while not (lock_file.exists() and lock_file.read_text().strip()):
            assert proc.poll() is None, (tmp_path / "driver.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the first run took no lock in time"
            time.sleep(0.05)
        lock = json.loads(lock_file.read_text())
        t0 = time.monotonic()
        with pytest.raises(OutputLockedError) as refused:
            run_chunked(spark.read.parquet(src), transform, str(out), num_chunks=3)
        refused_s = time.monotonic() - t0
        msg = str(refused.value)
        assert f"pid {proc.pid}" in msg and f"host {socket.gethostname()}" in msg, msg
        assert lock["run"] in msg and lock["since"] in msg
        assert proc.wait(timeout=240) == 0, (tmp_path / "driver.log").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    print(f"second run refused in {refused_s:.2f} s: {msg}")
    assert not (out / "_lock.json").exists()  # released by the first run at its end
    assert marked(out) == {0, 1, 2}
    check_output(spark, out, x)  # every id exactly once


def test_a_lock_being_written_is_waited_for_and_its_owner_named(spark, tmp_path):
    """Hadoop's file systems create the lock file, then write it: a second run that reads it in
    between waits for the content instead of refusing without naming the first run."""
    import threading

    from dl_helpers.jobs import OutputLockedError

    src, _ = write_input(tmp_path / "input.parquet", n=100, files=1)
    out = tmp_path / "output"
    out.mkdir()
    lock_file = out / "_lock.json"
    lock_file.write_text("")  # created, not yet written
    lock = {"host": "another-node", "pid": 4242, "run": "first", "since": "2026-01-01T00:00:00"}
    writer = threading.Timer(0.5, lambda: lock_file.write_text(json.dumps(lock)))
    writer.start()
    try:
        with pytest.raises(OutputLockedError, match="run first \\(host another-node, pid 4242"):
            run_chunked(spark.read.parquet(src), transform, str(out), num_chunks=2)
    finally:
        writer.cancel()
    assert json.loads(lock_file.read_text()) == lock  # left as it was
    # One that stays empty (its run died between the two steps) is refused, saying so.
    lock_file.write_text("")
    with pytest.raises(OutputLockedError, match="cannot be named .*_lock.json stays empty"):
        run_chunked(spark.read.parquet(src), transform, str(out), num_chunks=2)
    assert lock_file.read_text() == "" and not (out / "_plan.json").exists()


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.mark.parametrize("owner", ["dead pid", "reused pid"])
def test_stale_lock_of_this_host_is_taken_over(spark, tmp_path, owner):
    import socket

    src, x = write_input(tmp_path / "input.parquet", n=200, files=1)
    out = tmp_path / "output"
    out.mkdir()
    # A pid now running but started at another time than the lock says: a reused pid.
    pid, started = (_dead_pid(), 1.0) if owner == "dead pid" else (os.getpid(), 1.0)
    stale = {"host": socket.gethostname(), "pid": pid, "started": started, "run": "crashed"}
    (out / "_lock.json").write_text(json.dumps({**stale, "since": "2026-01-01T00:00:00"}))
    result = run_chunked(spark.read.parquet(src), transform, str(out), num_chunks=2)
    assert result.complete and result.ran == [0, 1]
    assert not (out / "_lock.json").exists()
    assert not [p for p in out.iterdir() if "_lock" in p.name]  # nothing moved aside is left
    check_output(spark, out, x)


def test_lock_of_a_live_run_or_another_host_is_kept(spark, tmp_path):
    import socket

    from dl_helpers.jobs import OutputLockedError
    from dl_helpers.jobs._lock import _start_time

    src, _ = write_input(tmp_path / "input.parquet", n=100, files=1)
    out = tmp_path / "output"
    out.mkdir()
    me = {"host": socket.gethostname(), "pid": os.getpid(), "started": _start_time(os.getpid())}
    for owner in (me, {**me, "host": "another-node", "pid": _dead_pid()}):
        lock = {**owner, "run": "other", "since": "2026-01-01T00:00:00"}
        (out / "_lock.json").write_text(json.dumps(lock))
        with pytest.raises(OutputLockedError, match=f"host {owner['host']}, pid {owner['pid']}"):
            run_chunked(spark.read.parquet(src), transform, str(out), num_chunks=2)
        assert json.loads((out / "_lock.json").read_text()) == lock  # left as it was
    assert not (out / "_plan.json").exists()


def test_lock_released_after_a_failure(spark, tmp_path):
    src, _ = write_input(tmp_path / "input.parquet", n=100, files=1)
    out = tmp_path / "output"

    def broken(d):
        from pyspark.sql import functions as F

        return d.select("id", F.raise_error(F.lit("model failed")).alias("y"))

    with pytest.raises(Exception, match="model failed"):
        run_chunked(spark.read.parquet(src), broken, str(out), num_chunks=2)
    assert out.is_dir() and not (out / "_lock.json").exists()
    # A bad id column fails before anything is written: no lock, no folder left behind.
    with pytest.raises(TypeError, match="expected integers"):
        df = spark.read.parquet(src)
        run_chunked(df.withColumn("id", df["x"]), transform, str(tmp_path / "o2"))
    assert not (tmp_path / "o2").exists()
