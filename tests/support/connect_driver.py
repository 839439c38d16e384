"""A Spark Connect client program for tests/cluster/test_connect.py (a process of its own: PySpark
keeps
one session kind per process, and the other tests hold a classic session).

``server URL``: connect to a Connect server the test started with the pip package's
``sbin/start-connect-server.sh`` (its workers without dl_helpers); ship dl_helpers as an
artifact; check the session, the input checks and a Triton server per
executor (start, infer, stop; a failed block; ``stop_all_servers``); print ``RESULT {json}``.
``orphan URL`` starts servers and waits to be killed; ``cleanup URL PIDS`` stops what it left
from a new client. tests/support/connect_jobs_driver.py runs the same checks on a Connect server
started in the client's process.
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

import numpy as np  # noqa: E402
import triton_models  # noqa: E402
from server_processes import alive, process_tree  # noqa: E402

from dl_helpers.session._spark import (  # noqa: E402
    build_session,
    describe,
    is_connect,
)

WEIGHTS = np.arange(12, dtype=np.float32).reshape(12, 1) / 10


def _tree(pid: int) -> list[int]:
    return [p.pid for p in process_tree(pid)]


def _running(pids) -> list[int]:
    return [pid for pid in pids if alive(pid)]


def _gone(pids, timeout_s: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while _running(pids) and time.monotonic() < deadline:
        time.sleep(0.3)
    return _running(pids)


def session_facts(spark) -> dict:
    facts = {
        "module": type(spark).__module__,
        "is_connect": is_connect(spark),
        "describe": describe(spark),
        "arrow": spark.conf.get("spark.sql.execution.arrow.pyspark.enabled"),
        "arrow_batch": spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch"),
    }
    return facts


def _make_predict_fn():
    def predict(x):
        return x @ WEIGHTS

    return predict


def run_input_checks(spark) -> dict:
    from pyspark.sql.types import FloatType

    from dl_helpers.udfs import checked_predict_batch_udf

    udf = checked_predict_batch_udf(
        _make_predict_fn,
        return_type=FloatType(),
        batch_size=4,
        input_tensor_shapes=[[12]],
        row_id="id",
    )
    x = np.random.default_rng(0).random((10, 12), dtype=np.float32)
    schema = "id long, data array<float>"
    df = spark.createDataFrame([(i, x[i].tolist()) for i in range(10)], schema)
    out = df.select("id", udf("data").alias("out")).orderBy("id").collect()
    got = np.array([r.out for r in out], dtype=np.float32)
    bad = spark.createDataFrame([(0, [0.0] * 12), (41, [0.0] * 11)], schema)
    try:
        bad.select(udf("data")).collect()
        error = None
    except Exception as e:
        error = str(e)
    return {
        "rows": len(out),
        "equal": bool(np.allclose(got, (x @ WEIGHTS)[:, 0], rtol=1e-6)),
        "error": error,
    }


def _infer(spark, servers) -> dict:
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, FloatType, LongType, StructField, StructType

    from dl_helpers.servers import triton_predict_fn

    out_type = StructType(
        [StructField("y", ArrayType(FloatType())), StructField("pid", LongType())]
    )
    predict = triton_predict_fn(servers, ["x"], ["y", "pid"])
    udf = predict_batch_udf(predict, return_type=out_type, batch_size=7, input_tensor_shapes=[[2]])
    df = spark.range(0, 100, numPartitions=4).select(
        "id", F.array(F.col("id").cast("float"), F.lit(1.0).cast("float")).alias("x")
    )
    rows = df.select("x", udf("x").alias("p")).collect()
    ref = triton_models.affine_reference
    return {
        "rows": len(rows),
        "equal": all(list(r.p.y) == ref(r.x).tolist() for r in rows),
        "server_pids": sorted({r.p.pid for r in rows}),
    }


def run_server_lifecycle(spark, full: bool) -> dict:
    import cloudpickle

    from dl_helpers.servers import TritonServerManager, stop_all_servers

    cloudpickle.register_pickle_by_value(triton_models)  # the server imports it by value
    res: dict = {}
    with TritonServerManager(spark, triton_models.bind_test_models, model_name="affine") as m:
        res["start_s"] = m.timings["start_s"]
        res["servers"] = {
            k: {"pid": s.pid, "address": s.address, "executor": s.executor_name}
            for k, s in m.servers.items()
        }
        tree = [p for s in m.servers.values() for p in _tree(s.pid)]
        res["infer"] = _infer(spark, m)
    res["stop_s"] = m.timings["stop_s"]
    res["left_after_stop"] = _gone(tree)
    if not full:
        return res

    # A block that fails (a notebook cell raising) leaves nothing either.
    tree = []
    try:
        with TritonServerManager(spark, triton_models.bind_test_models, model_name="affine") as m:
            tree = [p for s in m.servers.values() for p in _tree(s.pid)]
            raise RuntimeError("the cell failed")
    except RuntimeError as e:
        res["failed_block"] = str(e)
    res["failed_block_servers"] = len(tree)
    res["left_after_failure"] = _gone(tree)

    # Servers whose manager never stopped them: stop_all_servers finds them on the executors.
    m = TritonServerManager(spark, triton_models.bind_test_models, model_name="affine")
    m.start()
    tree = [p for s in m.servers.values() for p in _tree(s.pid)]
    res["stop_all_found"] = len(stop_all_servers(spark))
    res["left_after_stop_all"] = _gone(tree)
    m.stop()
    return res


def orphan(url: str) -> None:
    """Start servers from a client that is then killed (no stop, no atexit)."""
    import cloudpickle

    from dl_helpers.servers import TritonServerManager

    cloudpickle.register_pickle_by_value(triton_models)
    spark = build_session("connect-orphan", remote=url)
    _ship(spark)
    m = TritonServerManager(spark, triton_models.bind_test_models, model_name="affine")
    m.start()
    tree = [p for s in m.servers.values() for p in _tree(s.pid)]
    print("READY " + json.dumps({"tree": tree}), flush=True)
    time.sleep(3600)


def cleanup(url: str, tree: str) -> None:
    """A new client stops what a killed one left: stop_all_servers on the executors."""
    from dl_helpers.servers import stop_all_servers

    pids = [int(p) for p in tree.split(",")]
    spark = build_session("connect-cleanup", remote=url)
    _ship(spark)
    result = {"running_before": _running(pids), "found": len(stop_all_servers(spark))}
    result["left"] = _gone(pids)
    print("RESULT " + json.dumps(result), flush=True)
    spark.stop()


def _dl_helpers_on_workers(spark) -> str:
    """Where the executors import dl_helpers from (or the ImportError)."""
    from pyspark.sql import functions as F

    def probe(_):  # defined in __main__: pickled by value, needs nothing on the worker
        try:
            import dl_helpers.session._environment as e
        except ImportError as exc:
            return "ImportError: " + str(exc)
        return e.__file__ + " | " + e.master_kind("local[2]")

    rows = spark.range(2).select(F.udf(probe)("id").alias("where")).collect()
    return sorted({r.where for r in rows})[0]


def _ship(spark) -> None:
    """dl_helpers to this session's executors (artifacts are per session)."""
    import tempfile

    from dl_helpers.session import ship_package

    ship_package(spark, tempfile.mkdtemp(prefix="dlh-zip-"))


def main(url: str) -> None:
    t0 = time.monotonic()
    spark = build_session("connect-tests", remote=url)
    result: dict = {"session_s": round(time.monotonic() - t0, 1)}
    # The server's workers do not have dl_helpers: the client sends it as an artifact.
    before = _dl_helpers_on_workers(spark)
    _ship(spark)
    result["shipped"] = {"before": before, "after": _dl_helpers_on_workers(spark)}
    result["session"] = session_facts(spark)
    result["checks"] = run_input_checks(spark)
    result["servers"] = run_server_lifecycle(spark, full=True)
    print("RESULT " + json.dumps(result), flush=True)
    spark.stop()


if __name__ == "__main__":
    os.environ.setdefault("DL_HELPERS_OFFLINE", "1")
    if sys.argv[1] == "orphan":
        orphan(sys.argv[2])
    elif sys.argv[1] == "cleanup":
        cleanup(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "server":
        main(sys.argv[2])
    else:
        raise SystemExit(f"unknown scenario {sys.argv[1]!r}")
