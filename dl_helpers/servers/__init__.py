"""Model servers beside Spark executors: Triton (PyTriton) and OpenAI-compatible
(``transformers serve``, vLLM), one server per executor, one lifecycle.

Usage::

    from dl_helpers.servers import TritonServerManager, triton_predict_fn

    with TritonServerManager(spark, bind_model, model_name="m") as servers:
        udf = predict_batch_udf(triton_predict_fn(servers, input_names=["x"]),
                                return_type=ArrayType(FloatType()), batch_size=64)
        df.withColumn("y", udf("x")).write.parquet(out)

What a user can rely on is in the README's "Model servers" section. Internals, by where their
code runs: ``_managers`` and ``_spark_jobs`` (driver), ``_launcher`` (the server's machine),
``_serve`` (the server process), ``_triton_server`` / ``_openai_server`` (each kind),
``_triton_client`` / ``_openai_client`` (Spark tasks), ``_base`` and ``_run_folder`` (shared).
"""

from dl_helpers.servers._base import (
    STOP_GRACE_S,
    ExecutorIdentity,
    ServerError,
    ServerInfo,
    executor_identity,
)
from dl_helpers.servers._managers import (
    OpenAIServerManager,
    ServerManager,
    TritonServerManager,
    stop_all_servers,
)
from dl_helpers.servers._openai_client import openai_predict_fn
from dl_helpers.servers._openai_server import vllm_available
from dl_helpers.servers._serve import OWNER_POLL_S
from dl_helpers.servers._triton_client import from_triton_output, to_triton_input, triton_predict_fn
from dl_helpers.servers._triton_server import PROTOCOLS

__all__ = [
    "OWNER_POLL_S",
    "PROTOCOLS",
    "STOP_GRACE_S",
    "ExecutorIdentity",
    "OpenAIServerManager",
    "ServerError",
    "ServerInfo",
    "ServerManager",
    "TritonServerManager",
    "executor_identity",
    "from_triton_output",
    "openai_predict_fn",
    "stop_all_servers",
    "to_triton_input",
    "triton_predict_fn",
    "vllm_available",
]
