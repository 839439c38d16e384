"""Server managers, run on the driver: one server per executor, started and stopped together.

Usage: ``with TritonServerManager(spark, bind_model, model_name="m") as servers: ...`` or
``OpenAIServerManager(spark, model_dir)``; ``stop_all_servers(spark)`` for servers a lost
session left. ``ServerManager`` is the lifecycle, written once; the subclasses only say which
kind of server to run."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dl_helpers.servers._base import ServerInfo, ServerKind, driver_identity, proc_start
from dl_helpers.servers._launcher import (
    DEFAULT_ADDRESS,
    LaunchSettings,
    launch_server,
    stop_local_servers,
    stop_started,
)
from dl_helpers.servers._openai_server import OpenAIServer
from dl_helpers.servers._spark_jobs import LateStart, start_on_executors, stop_on_executors
from dl_helpers.servers._triton_server import TritonServer
from dl_helpers.session._executors import is_local_mode
from dl_helpers.session._spark import context_or_none


class ServerManager:
    """Start one server of ``kind`` per executor; stop them all.

    Arguments (shared by every kind):
        address: listen address (loopback by default; "0.0.0.0" exposes the servers).
        port: port to try first (default: one the kernel picks); if taken, another is used.
        require_token: protect the server with a random per-manager token, where the kind
            supports one (Triton, vLLM; ``transformers serve`` has none and listens on
            loopback only).
        start_timeout_s: how long each server may take to become ready (model loading
            included).
        num_executors: executors to wait for before starting (default: from the master or
            ``spark.executor.instances``, else those registered).
        server_env: extra environment variables for the server processes.
        port_attempts: starts tried per server (new ports, transient failures) before failing.
    """

    def __init__(
        self,
        spark,
        kind: ServerKind,
        *,
        address: str = DEFAULT_ADDRESS,
        port: int | None = None,
        require_token: bool = True,
        start_timeout_s: float = 180.0,
        num_executors: int | None = None,
        server_env: Mapping[str, str] | None = None,
        port_attempts: int = 4,
    ):
        self.spark = spark
        self.kind = kind
        self.num_executors = num_executors
        self.manager_id = f"{int(time.time())}-{uuid.uuid4().hex[:10]}"
        self.launch = LaunchSettings(
            address=address,
            port=port,
            token=secrets.token_urlsafe(24) if require_token else None,
            server_env=dict(server_env or {}),
            start_timeout_s=start_timeout_s,
            port_attempts=max(1, port_attempts),
        )
        self.servers: dict[str, ServerInfo] = {}
        self.timings: dict[str, float] = {}
        self._local_servers: list = []  # (pid, start, run_dir), stopped at exit if still running
        self._finalizer = weakref.finalize(self, stop_started, self._local_servers)
        self._started = False

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def local(self) -> bool:
        return is_local_mode(self.spark)

    @property
    def _in_driver(self) -> bool:
        """Local mode on a classic session: this process's JVM is the only executor, so the
        server is started from here. Over Spark Connect the driver may be on another machine:
        a one-task job starts it there, as on a cluster."""
        return self.local and context_or_none(self.spark) is not None

    def start(self) -> dict[str, ServerInfo]:
        """Start the servers (one per executor); returns ``{executor key: ServerInfo}``.

        In local mode (``local[n]``) on a classic session the driver starts one server for
        itself (its Python workers are its executor); on a cluster (standalone, YARN, K8s,
        ``local-cluster``, Databricks, Dataproc) and over Spark Connect one barrier task per
        executor starts that executor's server. A failed or interrupted start leaves nothing.
        """
        if self._started:
            return self.servers
        t0 = time.monotonic()
        self._started = True
        try:
            if self._in_driver:
                ident = driver_identity(self.spark.sparkContext)
                me = (os.getpid(), proc_start(os.getpid()))
                info = launch_server(self.kind, self.launch, self.manager_id, ident, owner=me)
                self.servers = {info.executor: info}
                self._local_servers.append((info.pid, info.pid_start, info.run_dir))
            else:
                self.servers = start_on_executors(
                    self.spark, self.kind, self.launch, self.manager_id, self.num_executors
                )
        except BaseException:
            # A failed or interrupted start leaves nothing behind.
            with contextlib.suppress(Exception):
                self.stop()
            raise
        self.timings["start_s"] = round(time.monotonic() - t0, 3)
        return self.servers

    def stop(self, timeout_s: float = 180.0) -> None:
        """Stop every server this manager started (safe to call twice, or after a failure)."""
        if not self._started:
            return
        t0 = time.monotonic()
        try:
            if self._in_driver:
                stop_local_servers(self.manager_id)
                stop_started(self._local_servers)  # any whose status file was lost
            else:
                what = f"stopping {self.kind.display} servers"
                stop_on_executors(self.spark, self.manager_id, timeout_s, what)
        finally:
            self._local_servers.clear()
            self.servers = {}
            self._started = False
            self.timings["stop_s"] = round(time.monotonic() - t0, 3)

    def late_start(self) -> LateStart | None:
        """What a predict function's task calls on an executor that joined after :meth:`start`
        (None in local mode, where the driver is the only executor). Its server is stopped by
        :meth:`stop` with the others, and is not in :attr:`servers` (which the driver filled)."""
        if self._in_driver:
            return None
        return LateStart(self.kind, self.launch, self.manager_id)

    def endpoints(self) -> dict[str, str]:
        """``{executor description: url}``."""
        return {s.executor_name: s.url for s in self.servers.values()}

    def __repr__(self) -> str:
        state = f"{len(self.servers)} servers" if self._started else "stopped"
        return f"{type(self).__name__}({self.model_name!r}, {state})"

    @property
    def model_name(self) -> str:
        raise NotImplementedError


class TritonServerManager(ServerManager):
    """One PyTriton server per executor, serving what ``bind_model(triton)`` binds.

    ``bind_model`` runs in each new server process and calls ``triton.bind(...)`` one or more
    times; pickled with cloudpickle, so it may be a function defined in the notebook. Load the
    model inside it. ``triton.bind`` fills in ``config`` from ``max_batch_size`` and
    ``batching_delay_us`` when none is given and runs ``instances`` copies of ``infer_func``.
    ``model_name`` is the model :func:`triton_predict_fn` calls by default; ``bind_model`` must
    bind it. ``protocol``: "http" or "grpc" (only that endpoint is opened). ``triton_config``:
    extra ``pytriton.triton.TritonConfig`` fields. Other arguments: :class:`ServerManager`.
    """

    def __init__(
        self,
        spark,
        bind_model: Callable,
        model_name: str,
        *,
        protocol: str = "http",
        max_batch_size: int = 64,
        batching_delay_us: int | None = None,
        instances: int = 1,
        triton_config: Mapping[str, Any] | None = None,
        log_verbose: int = 0,
        **lifecycle,
    ):
        kind = TritonServer(
            bind_model=bind_model,
            model_name=model_name,
            protocol=protocol,
            max_batch_size=max_batch_size,
            batching_delay_us=batching_delay_us,
            instances=instances,
            log_verbose=log_verbose,
            triton_config=dict(triton_config or {}),
        )
        super().__init__(spark, kind, **lifecycle)
        self.bind_model = bind_model

    @property
    def model_name(self) -> str:
        return self.kind.model_name


class OpenAIServerManager(ServerManager):
    """One OpenAI-compatible server per executor for ``model`` (see :class:`OpenAIServer`).

    ``engine``: "transformers" (``transformers serve``, CPU or GPU) or "vllm" (GPUs; tensor
    parallel over the GPUs Spark gives each executor, ``spark.executor.resource.gpu.amount``).
    ``extra_args``: more engine arguments (e.g. ``["--max-model-len", "4096"]`` for vLLM).
    Other arguments: :class:`ServerManager`.
    """

    def __init__(
        self,
        spark,
        model: str,
        *,
        engine: str = "transformers",
        served_model_name: str | None = None,
        extra_args: Sequence[str] = (),
        **lifecycle,
    ):
        if engine == "transformers" and os.path.isdir(model):
            model = os.path.abspath(model)  # the server answers to exactly this name
        kind = OpenAIServer(
            model=model,
            engine=engine,
            served_model_name=served_model_name,
            extra_args=list(extra_args),
        )
        super().__init__(spark, kind, **lifecycle)

    @property
    def model_name(self) -> str:
        return self.kind.model_id

    @property
    def engine(self) -> str:
        return self.kind.engine


def stop_all_servers(spark, timeout_s: float = 180.0) -> list:
    """Stop every dl_helpers model server (any kind) on the driver's host and on every executor.

    For servers whose manager is gone without stopping them (e.g. a notebook detached from a
    shared cluster, whose executors live on). Returns what was found.
    """
    found = stop_local_servers(None)
    if not is_local_mode(spark) or context_or_none(spark) is None:
        found.extend(stop_on_executors(spark, None, timeout_s, "stopping all model servers"))
    return found
