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
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

from driver_process import TWO_EXECUTORS, executor_key_udf, gpu_executor_conf  # noqa: E402
from server_processes import alive, listen_addresses, process_tree  # noqa: E402
from tiny_llm import greedy_one_by_one  # noqa: E402

from dl_helpers.llm import return_type  # noqa: E402
from dl_helpers.servers import OpenAIServerManager, openai_predict_fn  # noqa: E402
from dl_helpers.session import build_session  # noqa: E402

NEW_TOKENS = 6


def _tree(pid: int) -> list[int]:
    return [p.pid for p in process_tree(pid)]


def cluster(gpu_script: str, model_dir: str) -> None:
    import psutil
    from pyspark.ml.functions import predict_batch_udf

    t0 = time.monotonic()
    spark = build_session(
        "llm-two-executors", master=TWO_EXECUTORS, conf=gpu_executor_conf(gpu_script)
    )
    result: dict = {"session_s": round(time.monotonic() - t0, 1)}

    servers = OpenAIServerManager(spark, model_dir, start_timeout_s=300)
    servers.start()
    result["start_s"] = servers.timings["start_s"]
    result["servers"] = {
        k: {
            "port": s.port,
            "pid": s.pid,
            "tree": _tree(s.pid),
            "log": s.log_path,
            "cuda_visible_devices": psutil.Process(s.pid).environ().get("CUDA_VISIBLE_DEVICES"),
        }
        for k, s in servers.servers.items()
    }
    pids = [pid for s in result["servers"].values() for pid in s["tree"]]
    result["listen_addresses"] = sorted(listen_addresses(pids))

    prompts = [f"Question {i}: what is {i} plus {i}?" for i in range(16)]
    udf = predict_batch_udf(
        openai_predict_fn(servers, max_new_tokens=NEW_TOKENS),
        return_type=return_type(),
        batch_size=3,
    )
    executor_key = executor_key_udf()

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
    result["left_after_stop"] = [pid for pid in pids if alive(pid)]
    print("RESULT " + json.dumps(result), flush=True)

    again = OpenAIServerManager(spark, model_dir, start_timeout_s=300)
    again.start()
    info = {
        k: {"pid": s.pid, "tree": _tree(s.pid), "run_dir": s.run_dir}
        for k, s in again.servers.items()
    }
    print("READY " + json.dumps(info), flush=True)
    time.sleep(3600)


if __name__ == "__main__":
    os.environ.setdefault("DL_HELPERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if sys.argv[1] == "cluster":
        cluster(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(f"unknown scenario {sys.argv[1]!r}")
