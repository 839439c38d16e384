"""A Spark driver program for the server stress test (tests/unit/servers/test_server_stress.py).

- ``cycles GPU_SCRIPT MODEL_DIR CYCLES``: ``local-cluster[3,1,1024]`` (three executor JVMs on
  this host, each with the GPU of GPU_SCRIPT); CYCLES start/stop cycles of Triton, then of
  ``transformers serve``, one server per executor each time; prints ``CYCLE {json}`` per cycle
  and ``RESULT {json}`` at the end.
- ``local-loop STOP_FILE``: local mode on the same host; starts and stops a Triton manager
  over and over until STOP_FILE exists, so that its starts overlap the other driver's stops;
  prints ``RESULT {json}``.
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
from driver_process import gpu_executor_conf  # noqa: E402
from server_processes import alive  # noqa: E402

from dl_helpers.servers import OpenAIServerManager, TritonServerManager  # noqa: E402
from dl_helpers.session import build_session  # noqa: E402

THREE_EXECUTORS = "local-cluster[3,1,1024]"


def _cycle(make, expected: int) -> dict:
    """One start/stop cycle; what went wrong is recorded, never raised."""
    t0 = time.time()
    rec: dict = {"start_at": t0, "errors": []}
    manager = make()
    pids: list[int] = []
    try:
        servers = manager.start()
        pids = [s.pid for s in servers.values()]
        if len(servers) != expected:
            rec["errors"].append(f"{len(servers)} servers for {expected} executors")
    except Exception as e:
        rec["errors"].append(f"start: {type(e).__name__}: {str(e)[:500]}")
    rec["stop_at"] = time.time()
    try:
        manager.stop()
    except Exception as e:
        rec["errors"].append(f"stop: {type(e).__name__}: {str(e)[:500]}")
    rec["end_at"] = time.time()
    rec["left"] = [pid for pid in pids if alive(pid)]
    return rec


def cycles(gpu_script: str, model_dir: str, n: int) -> None:
    spark = build_session(
        "server-stress", master=THREE_EXECUTORS, conf=gpu_executor_conf(gpu_script)
    )
    from pyspark import cloudpickle

    cloudpickle.register_pickle_by_value(triton_models)
    kinds = {
        "Triton": lambda: TritonServerManager(
            spark, triton_models.bind_test_models, model_name="affine", start_timeout_s=300
        ),
        "transformers serve": lambda: OpenAIServerManager(
            spark, model_dir, start_timeout_s=300, server_env={"OMP_NUM_THREADS": "1"}
        ),
    }
    result: dict = {"executors": 3, "cycles": {}}
    for name, make in kinds.items():
        recs = []
        for i in range(n):
            rec = _cycle(make, 3)
            recs.append(rec)
            print("CYCLE " + json.dumps({"kind": name, "i": i, **rec}), flush=True)
        result["cycles"][name] = recs
    spark.stop()
    print("RESULT " + json.dumps(result), flush=True)


def local_loop(stop_file: str) -> None:
    spark = build_session("server-stress-local", master="local[1]")
    recs = []
    while not os.path.exists(stop_file):
        recs.append(
            _cycle(
                lambda: TritonServerManager(
                    spark, triton_models.bind_test_models, model_name="affine"
                ),
                1,
            )
        )
    spark.stop()
    print("RESULT " + json.dumps({"cycles": recs}), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("DL_HELPERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if sys.argv[1] == "cycles":
        cycles(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "local-loop":
        local_loop(sys.argv[2])
    else:
        raise SystemExit(f"unknown scenario {sys.argv[1]!r}")
