"""Spark driver programs for the Triton tests that need a process of their own.

A test runs one of these with the torch environment's Python and reads the ``RESULT {json}``
and ``READY {json}`` lines it prints:

- ``owner-local``: local mode; start the servers, print READY, then wait to be killed.
- ``cluster GPU_SCRIPT``: ``local-cluster[2,1,1024]`` (two executor JVMs on this host) with a
  GPU resource declared through GPU_SCRIPT; start one server per executor, check that every
  task reached its own executor's server, stop, print RESULT; then start again, print READY and
  wait to be killed (the owner-killed case on a cluster). ``cluster GPU_SCRIPT local``: the same
  over Spark Connect (a Connect server started in this process on that master): the start and
  stop jobs are DataFrame jobs, and killing this client takes the server, its executors and so
  their model servers with it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

import triton_models  # noqa: E402
from driver_process import TWO_EXECUTORS, executor_key_udf, gpu_executor_conf  # noqa: E402
from server_processes import alive, listen_addresses, process_tree  # noqa: E402

from dl_helpers.servers import (  # noqa: E402
    TritonServerManager,
    triton_predict_fn,
)
from dl_helpers.session import build_session, is_connect  # noqa: E402


def _ship_models_by_value() -> None:
    # Executors cannot import tests/support/triton_models.py: pickle its functions by value.
    from pyspark import cloudpickle

    cloudpickle.register_pickle_by_value(triton_models)


def _tree(pid: int) -> list[int]:
    return [p.pid for p in process_tree(pid)]


def _ready_and_wait(servers: TritonServerManager) -> None:
    info = {
        key: {"pid": s.pid, "port": s.port, "tree": _tree(s.pid), "run_dir": s.run_dir}
        for key, s in servers.servers.items()
    }
    print("READY " + json.dumps(info), flush=True)
    time.sleep(3600)


def owner_local() -> None:
    spark = build_session("triton-owner-local", master="local[1]")
    servers = TritonServerManager(spark, triton_models.bind_test_models, model_name="affine")
    servers.start()
    _ready_and_wait(servers)


def cluster(gpu_script: str, remote: str | None = None) -> None:
    import psutil
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql import functions as F
    from pyspark.sql.types import (
        ArrayType,
        FloatType,
        LongType,
        StructField,
        StructType,
    )

    t0 = time.monotonic()
    spark = build_session(
        "triton-two-executors",
        master=TWO_EXECUTORS,
        conf=gpu_executor_conf(gpu_script),
        remote=remote,
    )
    _ship_models_by_value()
    result: dict = {"session_s": round(time.monotonic() - t0, 1), "connect": is_connect(spark)}

    servers = TritonServerManager(spark, triton_models.bind_test_models, model_name="affine")
    servers.start()
    result["start_s"] = servers.timings["start_s"]
    result["servers"] = {
        k: {
            "pid": s.pid,
            "port": s.port,
            "address": s.address,
            "name": s.executor_name,
            "tree": _tree(s.pid),
            "cuda_visible_devices": psutil.Process(s.pid).environ().get("CUDA_VISIBLE_DEVICES"),
        }
        for k, s in servers.servers.items()
    }
    pids = [pid for s in result["servers"].values() for pid in s["tree"]]
    result["listen_addresses"] = sorted(listen_addresses(pids))

    out_type = StructType(
        [StructField("y", ArrayType(FloatType())), StructField("pid", LongType())]
    )
    udf = predict_batch_udf(
        triton_predict_fn(servers, ["x"], ["y", "pid"]),
        return_type=out_type,
        batch_size=7,
        input_tensor_shapes=[[2]],
    )
    executor_key = executor_key_udf()

    df = spark.range(0, 200, numPartitions=8).select(
        "id", F.array(F.col("id").cast("float"), F.lit(1.0).cast("float")).alias("x")
    )
    rows = df.select("id", "x", udf("x").alias("p"), executor_key("id").alias("key")).collect()
    ref = triton_models.affine_reference
    result["rows"] = len(rows)
    result["all_equal"] = all(list(r.p.y) == ref(r.x).tolist() for r in rows)
    result["pairs"] = sorted({(r.key, r.p.pid) for r in rows})
    servers.stop()
    result["stop_s"] = servers.timings["stop_s"]
    result["left_after_stop"] = [pid for pid in pids if alive(pid)]
    print("RESULT " + json.dumps(result), flush=True)

    again = TritonServerManager(spark, triton_models.bind_test_models, model_name="affine")
    again.start()
    _ready_and_wait(again)


if __name__ == "__main__":
    os.environ.setdefault("DL_HELPERS_OFFLINE", "1")
    if sys.argv[1] == "owner-local":
        owner_local()
    elif sys.argv[1] == "cluster":
        cluster(sys.argv[2], *(sys.argv[3:4]))
    else:
        raise SystemExit(f"unknown scenario {sys.argv[1]!r}")
