"""OpenAI-compatible servers per executor (``transformers serve`` on CPU; vLLM on GPUs) through
the lifecycle Triton uses, with real Spark and real servers, no mocks.

The model is tests/support/tiny_llm.py's tiny chat model (SmolLM2's tokenizer and chat template,
random weights), so that exact-answer checks are cheap; the notebook test runs the real
SmolLM2. Local mode uses the session fixture (``local[2]``); the two-executor cluster and the
owner-killed cases run tests/support/llm_driver.py, a driver program of their own.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from driver_process import gpu_discovery_script, kill_owner_and_time, read_line, start_driver
from server_processes import (
    listen_addresses,
    process_tree,
    running,
)
from tiny_llm import CONTEXT, greedy_one_by_one, tiny_model  # noqa: F401  (a fixture)

from dl_helpers.llm import return_type
from dl_helpers.servers import OpenAIServerManager, openai_predict_fn, vllm_available
from dl_helpers.servers._base import ServeContext
from dl_helpers.servers._openai_server import OpenAIServer

SUPPORT = Path(__file__).resolve().parents[2] / "support"
DRIVER = SUPPORT / "llm_driver.py"
OWNER_GONE_BOUND_S = 60  # owner poll 1 s + engine stop (<= 10 s) + a busy CI box's slack
PROMPTS = [
    "What is the capital of France?",
    "Name three colors.",
    "Hi",
    "Summarise: Spark splits a table into partitions.",
    "Is this review positive?",
    "Translate 'cat' to French.",
]
NEW_TOKENS = 8
ONE_THREAD = {"OMP_NUM_THREADS": "1"}  # 2 cores: more threads only fight over them


def _chat_udf(servers, batch_size=4, **kw):
    from pyspark.ml.functions import predict_batch_udf

    return predict_batch_udf(
        openai_predict_fn(servers, **kw), return_type=return_type(), batch_size=batch_size
    )


def _prompts_df(spark, prompts):
    return spark.createDataFrame(list(enumerate(prompts)), "id long, prompt string")


def _posts(log_path: str) -> int:
    return Path(log_path).read_text("utf-8", "replace").count('"POST /v1/chat/completions')


# ---------------------------------------------------------------------------------------------
# no server


def test_vllm_command_is_tensor_parallel_over_the_executors_gpus(tmp_path):
    kind = OpenAIServer(model="/models/qwen", engine="vllm", served_model_name="qwen")
    ctx = ServeContext(
        address="127.0.0.1",
        port=8123,
        token="secret",
        gpus=["0", "1"],
        run_dir=tmp_path,
        stop=threading.Event(),
        set_status=print,
    )
    cmd = kind.command(ctx)
    args = dict(zip(cmd, cmd[1:]))
    assert args["--tensor-parallel-size"] == "2" and args["--api-key"] == "secret"
    assert args["--host"] == "127.0.0.1" and args["--served-model-name"] == "qwen"
    assert kind.supports_token and kind.model_id == "qwen"
    # transformers serve: no API key option; it answers to the model folder's own name.
    hf = OpenAIServer(model="/models/tiny")
    assert not hf.supports_token and hf.model_id == "/models/tiny"
    assert "--api-key" not in hf.command(ctx) and hf.command(ctx)[-1] == "/models/tiny"
    with pytest.raises(ValueError, match="engine must be one of"):
        OpenAIServer(model="m", engine="llama.cpp")


# ---------------------------------------------------------------------------------------------
# local mode


@pytest.mark.spark
def test_local_server_answers_like_the_model(spark, tiny_model, no_server_left):  # noqa: F811
    expected = greedy_one_by_one(tiny_model, PROMPTS, NEW_TOKENS)
    with socket.socket() as taken:  # the requested port is busy: the server takes another
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with OpenAIServerManager(
            spark, str(tiny_model), port=port, start_timeout_s=240, server_env=ONE_THREAD
        ) as servers:
            (info,) = servers.servers.values()
            tree = process_tree(info.pid)
            assert info.port != port and info.log_path.endswith("server-2.log")
            assert "already in use" in (Path(info.run_dir) / "server-1.log").read_text()
            assert listen_addresses(p.pid for p in tree) == {"127.0.0.1"}
            assert info.token is None  # transformers serve has no API key: loopback only

            df = _prompts_df(spark, PROMPTS).repartition(2)
            udf = _chat_udf(servers, max_new_tokens=NEW_TOKENS, tokenizer=str(tiny_model))
            # (sorted here: a Spark orderBy would run the UDF twice, once to sample the keys)
            rows = sorted(df.select("id", udf("prompt", "id").alias("a")).collect())
            assert [r.a.text for r in rows] == expected  # exact strings
            assert all(r.a.new_tokens == NEW_TOKENS for r in rows)
            assert _posts(info.log_path) == 1 + len(PROMPTS)  # the warm-up, then one per row

            # A model the server does not have: the task fails at once, naming what it has.
            t0 = time.monotonic()
            with pytest.raises(Exception, match="has no model 'other-model'; it serves"):
                df.select(_chat_udf(servers, model="other-model")("prompt", "id")).collect()
            assert time.monotonic() - t0 < 20

            # Bad input gets an error naming the row.
            long = " ".join(["word"] * CONTEXT)
            for bad, message in [
                (None, r"prompt \(row 1\): is null"),
                ("  ", r"prompt \(row 1\): is empty"),
                (
                    long,
                    r"prompt \(row 1\): \d+ tokens .* exceeds the model's "
                    f"context of {CONTEXT} tokens",
                ),
            ]:
                bad_df = _prompts_df(spark, ["Hi", bad, "Hello"])
                with pytest.raises(Exception, match=message):
                    bad_df.select(udf("prompt", "id")).collect()
            _check_quarantine(spark, servers, tiny_model, expected)
            _check_schema_is_ignored(spark, servers, info, tiny_model, expected)
    assert running(tree) == [] and not Path(info.run_dir).exists()
    print(
        f"\nlocal transformers serve: start {servers.timings['start_s']} s, "
        f"stop {servers.timings['stop_s']} s"
    )


def _check_quarantine(spark, servers, folder, expected):
    """Quarantine: a null and an over-long prompt (refused before sending) and a request the
    server fails on every try give rows with their reasons; the other answers are unchanged."""
    from pyspark.ml.functions import predict_batch_udf

    kw = dict(max_new_tokens=NEW_TOKENS, tokenizer=str(folder), on_bad_row="quarantine")
    udf = predict_batch_udf(
        openai_predict_fn(servers, **kw), return_type=return_type("quarantine"), batch_size=4
    )
    prompts = [PROMPTS[0], None, PROMPTS[1], " ".join(["word"] * CONTEXT)]
    got = dict(_prompts_df(spark, prompts).select("id", udf("prompt", "id")).collect())
    assert [got[0].text, got[2].text] == expected[:2] and got[0].error is None
    assert got[1].text is None and got[1].error == "prompt: is null"
    assert f"exceeds the model's context of {CONTEXT} tokens" in got[3].error

    # A lone surrogate reaches the server as valid JSON ("\ud800") that its tokenizer cannot
    # encode: HTTP 500 on every try. (Arrow cannot carry one, so the batch goes through a
    # plain Spark task; the predict function is the one predict_batch_udf would call.)
    make = openai_predict_fn(
        servers, max_new_tokens=NEW_TOKENS, on_bad_row="quarantine", retry_wait_s=0.1
    )
    batch = [PROMPTS[0], "\ud800", PROMPTS[1]]
    (out,) = (
        spark.sparkContext.parallelize([0], 1).map(lambda _: make()(batch, [0, 1, 2])).collect()
    )
    assert list(out["text"]) == [expected[0], None, expected[1]]
    assert out["error"][1].startswith("request: HTTP 500") and "(after 3 tries)" in out["error"][1]
    assert out["error"][0] is None and out["error"][2] is None
    with pytest.raises(Exception, match=r"request for row 1 failed: HTTP 500 .*\(after 3 tries\)"):
        fail = openai_predict_fn(servers, max_new_tokens=NEW_TOKENS, retry_wait_s=0.1)
        spark.sparkContext.parallelize([0], 1).map(lambda _: fail()(batch, [0, 1, 2])).collect()


def _check_schema_is_ignored(spark, servers, info, folder, expected):
    """``transformers serve`` accepts ``response_format`` and ignores it (it logs so): the
    answers equal the unconstrained ones, which is why its answers go through the parse path."""
    schema = {"type": "object", "properties": {"a": {"enum": ["x"]}}, "required": ["a"]}
    udf = _chat_udf(servers, max_new_tokens=NEW_TOKENS, json_schema=schema)
    rows = sorted(
        _prompts_df(spark, PROMPTS).select("id", udf("prompt", "id").alias("a")).collect()
    )
    assert [r.a.text for r in rows] == expected
    log = Path(info.log_path).read_text("utf-8", "replace")
    assert "Ignoring unsupported fields in the request: {'response_format'}" in log


@pytest.mark.spark
def test_server_killed_mid_job_fails_fast(spark, tiny_model, no_server_left):  # noqa: F811
    with OpenAIServerManager(
        spark, str(tiny_model), start_timeout_s=240, server_env=ONE_THREAD
    ) as servers:
        (info,) = servers.servers.values()
        tree = process_tree(info.pid)
        killed_at = {}

        def kill_when_busy():
            deadline = time.monotonic() + 120
            while _posts(info.log_path) < 4 and time.monotonic() < deadline:
                time.sleep(0.05)
            os.killpg(info.pid, signal.SIGKILL)  # the server process and the engine
            killed_at["t"] = time.monotonic()

        killer = threading.Thread(target=kill_when_busy, daemon=True)
        killer.start()
        df = _prompts_df(spark, [f"Question number {i}?" for i in range(400)]).repartition(2)
        with pytest.raises(Exception) as err:
            df.select(_chat_udf(servers, batch_size=8, max_new_tokens=24)("prompt", "id")).collect()
        failed_at = time.monotonic()
        killer.join(5)
        assert "t" in killed_at, "the job failed before the server was killed"
        msg = str(err.value)
        assert f"transformers serve server for {info.executor_name}" in msg, msg[-3000:]
        assert "NOT running" in msg and re.search(r"request for row \d+ failed", msg), msg[-3000:]
        elapsed = failed_at - killed_at["t"]
        assert elapsed < 30, f"job took {elapsed:.1f} s to fail after the server was killed"
        print(f"\njob failed {elapsed:.2f} s after the server was killed")
    assert running(tree) == []


@pytest.mark.spark
@pytest.mark.gpu
def test_vllm_answers_like_the_model(spark, tiny_model, no_server_left):  # noqa: F811
    vllm = vllm_available()
    if not vllm:
        pytest.skip(vllm.reason)
    expected = greedy_one_by_one(tiny_model, PROMPTS, NEW_TOKENS)
    with OpenAIServerManager(
        spark,
        str(tiny_model),
        engine="vllm",
        served_model_name="tiny",
        extra_args=["--max-model-len", str(CONTEXT), "--enforce-eager"],
        start_timeout_s=600,
    ) as servers:
        (info,) = servers.servers.values()
        assert info.token  # vLLM requires the manager's API key
        df = _prompts_df(spark, PROMPTS)
        udf = _chat_udf(servers, max_new_tokens=NEW_TOKENS)
        rows = sorted(df.select("id", udf("prompt", "id").alias("a")).collect())
        assert [r.a.text for r in rows] == expected


# ---------------------------------------------------------------------------------------------
# own driver processes: owner killed, two executors


@pytest.mark.spark
@pytest.mark.slow
def test_two_executors_one_host(tiny_model, no_server_left, tmp_path):  # noqa: F811
    gpu = gpu_discovery_script(tmp_path)
    seen: list[str] = []
    proc = start_driver(DRIVER, ["cluster", str(gpu), str(tiny_model)])
    try:
        res = read_line(proc, "RESULT", 540, seen)
        servers = res["servers"]
        assert len(servers) == 2 and len({s["port"] for s in servers.values()}) == 2, servers
        assert res["listen_addresses"] == ["127.0.0.1"]
        assert {s["cuda_visible_devices"] for s in servers.values()} == {"0"}  # the task's GPU
        assert res["answers_equal"] and res["rows"] == res["expected_rows"]
        # Each executor's rows were answered by its own server: its log counts exactly them.
        per_exec = res["rows_per_executor"]
        assert set(per_exec) == set(servers) and all(n > 0 for n in per_exec.values()), per_exec
        for key, s in servers.items():
            assert s["posts"] == 1 + per_exec[key], (key, s["posts"], per_exec)
        assert res["left_after_stop"] == []
        print(f"\ncluster timings: { {k: res[k] for k in ('session_s', 'start_s', 'stop_s')} }")

        again = read_line(proc, "READY", 300, seen)
        assert len(again) == 2
        elapsed = kill_owner_and_time(proc, again, OWNER_GONE_BOUND_S)
        print(f"cluster: servers gone {elapsed:.1f} s after the driver was killed")
    finally:
        if proc.poll() is None:
            proc.kill()
