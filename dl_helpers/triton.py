"""Triton Inference Server (PyTriton) on a Spark cluster: one server per executor, never leaked.

A Triton server beside each executor lets every task of that executor share one copy of the
model (on its GPU), instead of one copy per task. This module is the notebooks' short import;
the lifecycle it uses is shared with the OpenAI-compatible servers (``dl_helpers.servers``).

Usage::

    from pytriton.model_config import Tensor
    from dl_helpers.triton import TritonServerManager, triton_predict_fn

    def bind_model(triton):              # runs in the server process, not in Spark
        model = load_model()
        @batch
        def infer(x):
            return {"y": model(x)}
        triton.bind(model_name="m", infer_func=infer,
                    inputs=[Tensor(name="x", dtype=np.float32, shape=(-1,))],
                    outputs=[Tensor(name="y", dtype=np.float32, shape=(-1,))])

    with TritonServerManager(spark, bind_model, model_name="m", max_batch_size=64) as servers:
        udf = predict_batch_udf(triton_predict_fn(servers, input_names=["x"]),
                                return_type=ArrayType(FloatType()), batch_size=64)
        df.withColumn("y", udf("x")).write.parquet(...)

What it guarantees:

- **One server per executor, not per host.** In local mode the driver starts one server for
  itself; on a cluster one barrier task per executor (a task resource profile asking for all of
  an executor's cores and GPUs) starts that executor's. An executor is identified by its JVM
  process (host, pid, start time); tasks look their server up by that key, never by hostname.
- **A fresh process.** The server is ``python -m dl_helpers.servers.serve DIR``, exec'ed with
  the worker's interpreter and ``sys.path``, detached from Spark (own session). ``bind_model``
  travels by cloudpickle. ``LD_LIBRARY_PATH`` gets the interpreter's ``LIBDIR`` first, once.
  ``CUDA_VISIBLE_DEVICES`` is set to the GPUs Spark gave the start task.
- **Ports without races.** Ports come from the kernel; a server that fails to bind (or hits a
  transient PyTriton start failure) is started again on another port, up to ``port_attempts``.
- **Loopback and a token.** Servers listen on 127.0.0.1 unless ``address`` says otherwise, and
  every endpoint but health requires a per-manager access token (sent by the client).
- **Readiness.** ``start()`` waits up to ``start_timeout_s`` for every server to answer for its
  models; a failure or timeout raises :class:`TritonServerError` naming the executor, with the
  tail of that server's log.
- **No leaks.** Use the manager as a context manager (or call ``stop()``): SIGTERM, a clean
  shutdown, then SIGKILL of the server's process group. A server also watches its owner (the
  driver in local mode, the executor JVM on a cluster) and stops at most ``OWNER_POLL_S +
  STOP_GRACE_S`` (21 s) after it is gone. ``stop_all_servers(spark)`` removes every server of
  this package on the driver host and the executors.
- **Failures are loud and fast.** A task whose executor has no server, whose server died, or
  that names a model the server does not have fails at once, with the executor, URL, server
  state and log tail in the message.
"""

from dl_helpers.servers.errors import ServerError
from dl_helpers.servers.info import ServerInfo
from dl_helpers.servers.managers import TritonServerManager, stop_all_servers
from dl_helpers.servers.processes import STOP_GRACE_S, ExecutorIdentity, executor_identity
from dl_helpers.servers.serve import OWNER_POLL_S
from dl_helpers.servers.triton_client import (
    from_triton_output,
    to_triton_input,
    triton_predict_fn,
)
from dl_helpers.servers.triton_server import PROTOCOLS

TritonServerError = ServerError  # the name notebooks and earlier code catch

__all__ = [
    "OWNER_POLL_S",
    "PROTOCOLS",
    "STOP_GRACE_S",
    "ExecutorIdentity",
    "ServerInfo",
    "TritonServerError",
    "TritonServerManager",
    "executor_identity",
    "from_triton_output",
    "stop_all_servers",
    "to_triton_input",
    "triton_predict_fn",
]
