"""A Spark driver program for the LLM server tests that need a process of their own.

``cluster GPU_SCRIPT MODEL_DIR``: ``local-cluster[2,1,1024]`` (two executor JVMs on this host)
with a GPU resource declared through GPU_SCRIPT; start one ``transformers serve`` per executor
through the shared lifecycle, answer prompts from both executors, compare with the model's own
greedy answers, count each server's requests, stop, print ``RESULT {json}``; then start again,
print ``READY {json}`` and wait to be killed (the owner-killed case).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from llm_models import greedy_one_by_one  # noqa: E402

from dl_helpers.llm_generation import return_type  # noqa: E402
from dl_helpers.llm_serving import OpenAIServerManager, openai_predict_fn  # noqa: E402
from dl_helpers.servers.processes import executor_identity  # noqa: E402
from dl_helpers.spark import build_session  # noqa: E402

NEW_TOKENS = 6


def _tree(pid: int) -> list[int]:
    import psutil

    return [pid] + [c.pid for c in psutil.Process(pid).children(recursive=True)]


def _running(pid: int) -> bool:
    """Alive and not a zombie; a process that exits while it is looked at is not running."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def cluster(gpu_script: str, model_dir: str) -> None:
    import psutil
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    conf = {
        "spark.executor.cores": "1",
        "spark.executor.memory": "768m",
        "spark.executor.resource.gpu.amount": "1",
        "spark.executor.resource.gpu.discoveryScript": gpu_script,
        "spark.worker.resource.gpu.amount": "1",
        "spark.worker.resource.gpu.discoveryScript": gpu_script,
        "spark.task.resource.gpu.amount": "1",
    }
    t0 = time.monotonic()
    spark = build_session("llm-two-executors", master="local-cluster[2,1,1024]", conf=conf)
    result: dict = {"session_s": round(time.monotonic() - t0, 1)}

    servers = OpenAIServerManager(spark, model_dir, start_timeout_s=300)
    servers.start()
    result["start_s"] = servers.timings["start_s"]
    result["servers"] = {
        k: {"port": s.port, "pid": s.pid, "tree": _tree(s.pid), "log": s.log_path,
            "cuda_visible_devices": psutil.Process(s.pid).environ().get("CUDA_VISIBLE_DEVICES")}
        for k, s in servers.servers.items()
    }  # fmt: skip
    listen = set()
    for s in servers.servers.values():
        tree = set(_tree(s.pid))
        listen |= {c.laddr.ip for c in psutil.net_connections(kind="inet")
                   if c.status == psutil.CONN_LISTEN and c.pid in tree}  # fmt: skip
    result["listen_addresses"] = sorted(listen)

    prompts = [f"Question {i}: what is {i} plus {i}?" for i in range(16)]
    udf = predict_batch_udf(openai_predict_fn(servers, max_new_tokens=NEW_TOKENS),
                            return_type=return_type(), batch_size=3)  # fmt: skip

    @F.pandas_udf(StringType())
    def executor_key(ids):
        import pandas as pd

        return pd.Series([executor_identity().key] * len(ids))

    df = spark.createDataFrame(list(enumerate(prompts)), "id long, prompt string").repartition(4)
    rows = df.select("id", udf("prompt", "id").alias("a"), executor_key("id").alias("key"))
    rows = sorted(rows.collect(), key=lambda r: r.id)
    expected = greedy_one_by_one(Path(model_dir), prompts, NEW_TOKENS)
    result["rows"] = len(rows)
    result["expected_rows"] = len(prompts)
    result["answers_equal"] = [r.a.text for r in rows] == expected
    per_exec: dict = {}
    for r in rows:
        per_exec[r.key] = per_exec.get(r.key, 0) + 1
    result["rows_per_executor"] = per_exec
    for s in result["servers"].values():
        s["posts"] = (
            Path(s["log"]).read_text("utf-8", "replace").count('"POST /v1/chat/completions')
        )
    servers.stop()
    result["stop_s"] = servers.timings["stop_s"]
    result["left_after_stop"] = [
        pid for s in result["servers"].values() for pid in s["tree"] if _running(pid)
    ]  # fmt: skip
    print("RESULT " + json.dumps(result), flush=True)

    again = OpenAIServerManager(spark, model_dir, start_timeout_s=300)
    again.start()
    info = {k: {"pid": s.pid, "tree": _tree(s.pid), "run_dir": s.run_dir}
            for k, s in again.servers.items()}  # fmt: skip
    print("READY " + json.dumps(info), flush=True)
    time.sleep(3600)


if __name__ == "__main__":
    os.environ.setdefault("DL_HELPERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if sys.argv[1] == "cluster":
        cluster(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(f"unknown scenario {sys.argv[1]!r}")
