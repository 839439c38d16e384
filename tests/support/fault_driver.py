"""A driver program for tests/cluster/test_executor_loss.py: on the fixture cluster, start one
Triton server per executor, SIGKILL one executor's JVM while a ``triton_predict_fn`` job runs on
both, and report what happened as one ``RESULT {json}`` line.

usage: fault_driver.py MASTER SHARED_DIR ROWS PARTITIONS

The served model sleeps a little per batch (``TEST_INFER_SLEEP_S``) so that the job lasts long
enough for Spark to replace the lost executor and give the new one work; the kill comes once the
servers have answered a few batches (``TEST_INFER_MARK``, a file in the shared folder). The
killed executor's server processes are timed until they are gone (its owner watchdog).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

import triton_models  # noqa: E402
from server_processes import process_tree, running  # noqa: E402

from dl_helpers.servers import TritonServerManager, triton_predict_fn  # noqa: E402
from dl_helpers.session import build_session  # noqa: E402

SLEEP_S = 0.15  # per batch of BATCH rows, in the served model
BATCH = 8
MARKS_BEFORE_KILL = 4  # batches answered (by either server) before the kill


def _kill_when_busy(servers: TritonServerManager, marks: Path, out: dict) -> None:
    """In a thread: once the job is under way, SIGKILL the JVM of the first server's executor
    and time its server's processes until they are gone."""
    info = sorted(servers.servers.values(), key=lambda s: s.executor_name)[0]
    jvm_pid = int(info.executor.split("/")[1].split("@")[0])
    tree = process_tree(info.pid)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if marks.exists() and len(marks.read_text().splitlines()) >= MARKS_BEFORE_KILL:
            break
        time.sleep(0.05)
    out["killed_after_batches"] = len(marks.read_text().splitlines()) if marks.exists() else 0
    out["killed_executor"] = info.executor_name
    out["killed_server_pid"] = info.pid
    out["killed_server_processes"] = len(tree)
    os.kill(jvm_pid, signal.SIGKILL)
    t0 = time.monotonic()
    while running(tree) and time.monotonic() - t0 < 90:
        time.sleep(0.1)
    out["orphan_gone_s"] = round(time.monotonic() - t0, 2)
    out["orphan_left"] = running(tree)


def main() -> int:
    master, shared = sys.argv[1], Path(sys.argv[2])
    rows, parts = int(sys.argv[3]), int(sys.argv[4])
    from pyspark import cloudpickle
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, FloatType, LongType, StructField, StructType

    from dl_helpers.session._executors import executors

    shared.mkdir(parents=True, exist_ok=True)
    marks = shared / "batches.txt"
    marks.unlink(missing_ok=True)
    out: dict = {}
    t0 = time.monotonic()
    # Retries on: a task lost with its executor runs again (on the cluster's default 4 attempts).
    spark = build_session(
        "executor-loss",
        master=master,
        conf={"spark.executor.instances": "2", "spark.task.maxFailures": "4"},
    )
    cloudpickle.register_pickle_by_value(triton_models)  # executors cannot import tests/
    out["session_s"] = round(time.monotonic() - t0, 1)
    servers = TritonServerManager(
        spark,
        triton_models.bind_test_models,
        model_name="affine",
        server_env={
            "TEST_INFER_SLEEP_S": str(SLEEP_S),
            "TEST_INFER_MARK": str(marks),
            "TEST_ONLY_AFFINE": "1",
        },
    )
    servers.start()
    out["manager_id"] = servers.manager_id
    out["start_s"] = servers.timings["start_s"]
    out["first_pids"] = sorted(s.pid for s in servers.servers.values())
    out["first_executors"] = sorted(e["id"] for e in executors(spark))

    out_type = StructType(
        [StructField("y", ArrayType(FloatType())), StructField("pid", LongType())]
    )
    udf = predict_batch_udf(
        triton_predict_fn(servers, ["x"], ["y", "pid"]),
        return_type=out_type,
        batch_size=BATCH,
        input_tensor_shapes=[[2]],
    )
    df = spark.range(0, rows, numPartitions=parts).select(
        "id", F.array(F.col("id").cast("float"), F.lit(1.0).cast("float")).alias("x")
    )
    killer = threading.Thread(target=_kill_when_busy, args=(servers, marks, out), daemon=True)
    killer.start()
    t1 = time.monotonic()
    got = df.select("id", udf("x").alias("p")).collect()
    out["job_s"] = round(time.monotonic() - t1, 1)
    killer.join(120)
    out["executors_after"] = sorted(e["id"] for e in executors(spark))
    ref = {r.id: triton_models.affine_reference([r.id, 1.0]).tolist() for r in got}
    out["rows"] = len(got)
    out["distinct_ids"] = len({r.id for r in got})
    out["ids_ok"] = sorted(r.id for r in got) == list(range(rows))
    out["mismatches"] = sum(1 for r in got if list(r.p.y) != ref[r.id])
    out["answered_by"] = sorted({int(r.p.pid) for r in got})
    t2 = time.monotonic()
    servers.stop()
    out["stop_s"] = round(time.monotonic() - t2, 1)
    spark.stop()
    print("RESULT " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
