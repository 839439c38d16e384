"""Triton Inference Server (PyTriton) on a Spark cluster: one server per executor, never leaked.

A Triton server beside each executor lets every CPU task of that executor share one copy of the
model (on its GPU), instead of one copy per task. This module starts those servers, tells each
Spark task where its executor's server listens, and stops them.

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

``triton`` in ``bind_model`` is PyTriton's ``Triton``; its ``bind`` fills in ``config`` from the
manager's settings (``max_batch_size``, ``batching_delay_us``) when none is given and runs
``instances`` copies of ``infer_func`` (a list of callables is used as given).

How it works, and what it guarantees:

- **One server per executor, not per host.** In local mode (``local[n]``) the driver starts one
  server for itself (its Python workers are its executor). On a cluster (standalone, YARN, K8s,
  ``local-cluster``, Databricks, Dataproc) the manager waits for the executors, then runs one
  barrier task per executor with a task resource profile asking for all of an executor's cores
  and GPUs, so no executor gets two. An executor is identified by its JVM process (host, pid,
  start time), which a Python worker finds among its ancestors; tasks look their server up by
  that key, never by hostname alone. If two start tasks land on one executor anyway, start fails.
- **A fresh process.** The server is ``python -m dl_helpers.triton serve DIR``, exec'ed with the
  worker's interpreter and ``sys.path``, detached from Spark (own session). ``bind_model`` travels
  by cloudpickle. ``LD_LIBRARY_PATH`` gets the interpreter's ``LIBDIR`` first (the PyTriton stub
  otherwise loads a mismatched system libpython) in that process's environment only, once.
  ``CUDA_VISIBLE_DEVICES`` is set to the GPUs Spark gave the start task.
- **Ports without races.** Ports come from the kernel (bind to port 0); if the server still
  fails to bind (someone took the port meanwhile, or a requested ``http_port`` is busy) it is
  started again on other ports, up to ``port_attempts`` times.
- **Loopback and a token.** Servers listen on 127.0.0.1 unless ``address`` says otherwise, and
  every endpoint requires a per-manager access token (sent by :func:`triton_predict_fn`).
- **Readiness.** ``start()`` waits up to ``start_timeout_s`` for every server to answer for its
  models; a failure or timeout raises :class:`TritonServerError` naming the executor, with the
  tail of that server's log. Nothing is swallowed.
- **No leaks.** Use the manager as a context manager (or call ``stop()``): stopping sends
  SIGTERM, waits for a clean shutdown, then kills the server's whole process group. A server
  also watches its owner (the driver process in local mode, the executor JVM on a cluster,
  which exits with its application) and shuts down when the owner is gone: at most
  ``OWNER_POLL_S + STOP_GRACE_S`` (21 s) later; the clean stop took 4-9 s here (a cluster adds
  the time its executors take to exit after the driver died).
  ``stop_all_servers(spark)`` removes every server of this package on the driver host and the
  executors, e.g. after a notebook on a shared Databricks cluster was detached without stopping.
- **Failures are loud and fast.** A task whose executor has no server, or whose server died,
  fails at once with the executor, URL, server state and log tail in the message; requests have
  ``inference_timeout_s``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import traceback
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_ADDRESS = "127.0.0.1"
PROTOCOLS = ("http", "grpc")
OWNER_POLL_S = 1.0  # how often a server checks that its owner is alive
STOP_GRACE_S = 20.0  # SIGTERM -> clean Triton stop; after this, SIGKILL of the process group
LOG_TAIL_LINES = 40
ROOT_ENV = "DL_HELPERS_TRITON_DIR"  # where servers keep their run folders (default: temp dir)
_JVM_NAMES = ("java",)


# Start failures worth another attempt (on new ports): log marker -> reason.
_RETRYABLE = {
    "already in use": "its port was taken",
    # PyTriton 0.7 gives a model's second and later instances 1 s to find the first one's
    # handshake socket; on a saturated CPU they may not.
    "Timeout occurred while waiting for config file": "a model instance missed its handshake",
    # ... or find the socket there but nobody listening (ConnectionRefusedError; seen in CI).
    "get_config_from_handshake_server": "a model instance could not reach its handshake socket",
}


def _retry_reason(log_text: str) -> str | None:
    """Why a failed start is worth another attempt, from the server log; None: it is not."""
    return next((why for marker, why in _RETRYABLE.items() if marker in log_text), None)


class TritonServerError(RuntimeError):
    """A Triton server could not be started, found or reached."""


# --------------------------------------------------------------------------------------------
# Processes: identity, liveness, termination


def _proc_start(pid: int) -> float | None:
    """Start time of a process (seconds since the epoch), None if it is gone or a zombie."""
    import psutil

    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return None
        return round(p.create_time(), 2)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _alive(pid: int | None, start: float | None) -> bool:
    """Is the process with this pid and start time still running (guards against pid reuse)?"""
    if not pid:
        return False
    now = _proc_start(pid)
    return now is not None and (start is None or abs(now - start) < 0.05)


@dataclasses.dataclass(frozen=True)
class ExecutorIdentity:
    """An executor: its JVM process on a host. ``key`` is what servers are looked up by."""

    host: str
    jvm_pid: int
    jvm_start: float
    executor_id: str  # Spark's executor id, or "driver" in local mode ("?" if unknown)

    @property
    def key(self) -> str:
        return f"{self.host}/{self.jvm_pid}@{self.jvm_start:.2f}"

    def describe(self) -> str:
        return f"executor {self.executor_id} on {self.host} (JVM pid {self.jvm_pid})"


def _executor_id_from_cmdline(cmdline: Sequence[str]) -> str:
    for i, arg in enumerate(cmdline):
        if arg == "--executor-id" and i + 1 < len(cmdline):
            return cmdline[i + 1]
    return "?"


def executor_identity() -> ExecutorIdentity:
    """The executor this Python worker belongs to: the nearest ``java`` ancestor process.

    Spark starts Python workers from the executor JVM (directly or through ``pyspark.daemon``),
    and ``SPARK_EXECUTOR_ID`` is not in a worker's environment, so the JVM is found by walking up.
    """
    import psutil

    p = psutil.Process()
    chain = []
    for _ in range(8):
        p = p.parent()
        if p is None:
            break
        try:
            name = p.name()
            chain.append(f"{p.pid} {name}")
            if name in _JVM_NAMES or os.path.basename(p.exe() or "") in _JVM_NAMES:
                try:
                    eid = _executor_id_from_cmdline(p.cmdline())
                except psutil.AccessDenied:
                    eid = "?"
                return ExecutorIdentity(
                    socket.gethostname(),
                    p.pid,
                    round(p.create_time(), 2),
                    "driver" if eid == "?" and _is_driver_jvm(p) else eid,
                )
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    raise TritonServerError(
        "cannot tell which Spark executor this Python process belongs to: no JVM among its "
        f"ancestors ({' <- '.join(chain) or 'none'}). Is this running inside a Spark task?"
    )


def _is_driver_jvm(p) -> bool:
    try:
        cmd = p.cmdline()
    except Exception:
        return False
    return any("SparkSubmit" in a or a == "pyspark-shell" for a in cmd)


def _driver_identity(sc) -> ExecutorIdentity:
    """The driver JVM (the executor of local mode), asked through py4j."""
    pid = int(sc._jvm.java.lang.ProcessHandle.current().pid())
    start = _proc_start(pid)
    if start is None:
        raise TritonServerError(f"the driver JVM (pid {pid}) is not visible from this process")
    return ExecutorIdentity(socket.gethostname(), pid, start, "driver")


def _terminate(pid: int, start: float | None, grace_s: float = STOP_GRACE_S) -> bool:
    """Stop a server: SIGTERM (clean Triton shutdown), then SIGKILL its process group and tree.

    Returns True if a live process was found.
    """
    import psutil

    if not _alive(pid, start):
        return False
    try:
        proc = psutil.Process(pid)
        tree = [proc] + proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return False
    with contextlib.suppress(psutil.NoSuchProcess):
        proc.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs([proc], timeout=grace_s)
    if alive:
        log.warning("Triton server pid %d did not stop in %.0f s: killing it", pid, grace_s)
    # The server runs in its own session and process group (pgid == pid): kill what is left of
    # it, including a tritonserver or stub whose parent already died.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    for p in tree:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            if p.is_running():
                p.kill()
    psutil.wait_procs(tree, timeout=10)
    return True


def _log_tail(path: str | os.PathLike | None, lines: int = LOG_TAIL_LINES) -> str:
    if not path:
        return "(no log)"
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"(log {path} unreadable: {e})"
    # Triton prints wide tables at start; they say nothing about failures.
    keep = [ln for ln in text.splitlines() if not ln.startswith(("+-", "| "))]
    return "\n".join(keep[-lines:]) or "(empty log)"


# --------------------------------------------------------------------------------------------
# Run folders: <root>/<manager id>/<executor tag>/ holding spec, status and logs. PyTriton's
# workspace (a copy of tritonserver, and the models' Unix sockets, whose paths may not exceed
# 107 characters) goes into a short /tmp/dlt-XXXXXXXX folder named in the status file.


def _root_dir() -> Path:
    root = os.environ.get(ROOT_ENV)
    if root:
        return Path(root)
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"dl_helpers_triton-{uid}"


def _tag(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", key)


def _short_tmp() -> str:
    return "/tmp" if os.access("/tmp", os.W_OK) else tempfile.gettempdir()


def _remove_workspace(status: dict | None) -> None:
    """Delete a server's PyTriton workspace (its own stop does; a hard kill leaves it)."""
    ws = (status or {}).get("workspace")
    if ws and Path(ws).name.startswith("dlt-"):
        shutil.rmtree(ws, ignore_errors=True)


def _remove_run(run_dir: Path, status: dict | None) -> None:
    """Delete a server's run folder and its workspace."""
    _remove_workspace(status)
    shutil.rmtree(run_dir, ignore_errors=True)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _free_port(address: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def _library_path(existing: str | None) -> str:
    """LD_LIBRARY_PATH with this interpreter's LIBDIR first, exactly once."""
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    parts = [p for p in (existing or "").split(os.pathsep) if p and p != libdir]
    return os.pathsep.join(([libdir] if libdir else []) + parts)


def _python_path(existing: str | None) -> str:
    """PYTHONPATH for the server: this process's sys.path (e.g. a zip from addPyFile)."""
    seen: list[str] = []
    for p in [os.getcwd() if p == "" else p for p in sys.path] + (existing or "").split(os.pathsep):
        if p and p not in seen and os.path.exists(p):
            seen.append(p)
    return os.pathsep.join(seen)


# --------------------------------------------------------------------------------------------
# What a server is


@dataclasses.dataclass(frozen=True)
class ServerInfo:
    """Where one executor's server listens, and how to reach and check it."""

    executor: str  # ExecutorIdentity.key
    executor_name: str  # for messages: "executor 1 on host (JVM pid ...)"
    host: str
    pid: int
    pid_start: float
    protocol: str
    address: str
    port: int
    models: tuple[str, ...]
    log_path: str
    run_dir: str
    token: str | None = dataclasses.field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"{self.protocol}://{self.address}:{self.port}"

    def is_alive(self) -> bool:
        return _alive(self.pid, self.pid_start)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return _log_tail(self.log_path, lines)


@dataclasses.dataclass
class _Settings:
    """Everything a server process needs besides ``bind_model`` (plain data, picklable)."""

    model_name: str
    protocol: str = "http"
    address: str = DEFAULT_ADDRESS
    port: int | None = None  # requested port for the protocol; None: any free one
    max_batch_size: int = 64
    batching_delay_us: int | None = None
    instances: int = 1
    token: str | None = None
    log_verbose: int = 0
    triton_config: dict = dataclasses.field(default_factory=dict)
    server_env: dict = dataclasses.field(default_factory=dict)
    start_timeout_s: float = 180.0
    port_attempts: int = 4


# --------------------------------------------------------------------------------------------
# The server process (python -m dl_helpers.triton serve RUN_DIR)


class _Binder:
    """PyTriton's Triton, with ``bind`` defaults from the manager's settings."""

    def __init__(self, triton, settings: _Settings):
        self._triton = triton
        self._settings = settings
        self.models: list[str] = []

    def model_config(self, **overrides):
        """The ModelConfig the manager's settings describe (keywords override)."""
        from pytriton.model_config import DynamicBatcher, ModelConfig

        s = self._settings
        kwargs: dict[str, Any] = {"max_batch_size": s.max_batch_size}
        if s.batching_delay_us is not None:
            kwargs["batcher"] = DynamicBatcher(max_queue_delay_microseconds=s.batching_delay_us)
        kwargs.update(overrides)
        return ModelConfig(**kwargs)

    def bind(self, model_name: str, infer_func, inputs, outputs, config=None, **kwargs):
        if config is None:
            config = self.model_config()
        if callable(infer_func) and self._settings.instances > 1:
            infer_func = [infer_func] * self._settings.instances
        self._triton.bind(
            model_name=model_name,
            infer_func=infer_func,
            inputs=inputs,
            outputs=outputs,
            config=config,
            **kwargs,
        )
        self.models.append(model_name)

    def __getattr__(self, name):
        return getattr(self._triton, name)


class _Stop(BaseException):
    """Raised in the server's main thread by SIGTERM/SIGINT while it is still starting."""


def _serve(run_dir: Path) -> int:
    """Body of the server process. Exit codes: 0 stopped cleanly, 1 failed, 3 bind failure."""
    import pickle

    import psutil

    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stdout,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
    )
    status_path = run_dir / "status.json"
    me = psutil.Process()
    status: dict[str, Any] = {"pid": me.pid, "pid_start": round(me.create_time(), 2)}

    def set_status(state: str, **extra):
        status.update(extra, state=state)
        _write_json(status_path, status)

    set_status("starting")
    try:  # bind_model may name modules this interpreter cannot import
        with open(run_dir / "spec.pkl", "rb") as f:
            spec = pickle.load(f)
    except BaseException as e:
        traceback.print_exc(file=sys.stdout)
        set_status("failed", error=f"cannot load bind_model: {type(e).__name__}: {e}")
        return 1
    settings: _Settings = spec["settings"]
    owner_pid, owner_start = spec["owner_pid"], spec["owner_start"]
    port = spec["port"]
    set_status("starting", owner_pid=owner_pid, owner_start=owner_start)

    stop = threading.Event()
    ready = threading.Event()

    def on_signal(signum, _frame):
        log.info("signal %d received: stopping", signum)
        stop.set()
        if not ready.is_set():
            raise _Stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    holder: dict[str, Any] = {}

    def watch_owner():
        while not stop.wait(OWNER_POLL_S):
            if not _alive(owner_pid, owner_start):
                log.warning("owner process %d is gone: stopping", owner_pid)
                holder["orphaned"] = True
                os.kill(os.getpid(), signal.SIGTERM)
                # The main thread may be stuck in native code (a model loading): the stop
                # must not depend on it. tritonserver follows by its parent-death signal.
                time.sleep(STOP_GRACE_S)
                log.error("no clean stop in %.0f s: exiting hard", STOP_GRACE_S)
                sys.stdout.flush()
                _remove_run(run_dir, status)
                os._exit(5)

    def started_and_exited() -> bool | None:
        # PyTriton's TritonServer (private, so read defensively): was it started, is it dead?
        server = getattr(holder.get("triton"), "_triton_server", None)
        if server is None or getattr(server, "_tritonserver_running_cmd", None) is None:
            return None
        return not server.is_alive()

    def watch_startup():
        # PyTriton waits a minute for a tritonserver that already exited (e.g. port in use):
        # notice the exit and fail at once, so the launcher can retry on other ports.
        seen = False
        while not ready.is_set() and not stop.is_set():
            alive = False
            for c in me.children():
                with contextlib.suppress(psutil.Error):
                    if "tritonserver" in c.name() and c.status() != psutil.STATUS_ZOMBIE:
                        alive = True
            seen = seen or alive
            exited = started_and_exited()
            if (exited is True or (seen and not alive)) and not ready.is_set():
                time.sleep(1.0)  # let PyTriton's reader thread copy tritonserver's last words
                log.error("tritonserver exited while starting")
                sys.stdout.flush()
                set_status("failed", error="tritonserver exited while starting")
                os._exit(3)
            time.sleep(0.2)

    threading.Thread(target=watch_owner, name="owner-watch", daemon=True).start()
    threading.Thread(target=watch_startup, name="startup-watch", daemon=True).start()

    triton = None
    try:
        from pytriton.client import ModelClient
        from pytriton.triton import Triton, TritonConfig

        http = settings.protocol == "http"
        cfg: dict[str, Any] = {
            "allow_http": http,
            "allow_grpc": not http,
            "allow_metrics": False,
            "allow_sagemaker": False,
            "allow_vertex_ai": False,
            "log_verbose": settings.log_verbose,
            "exit_on_error": True,
            # Idle keep-alive connections of Spark workers would hold a stop for 30 s.
            "exit_timeout_secs": 5,
        }
        if http:
            cfg.update(http_address=settings.address, http_port=port)
        else:
            cfg.update(grpc_address=settings.address, grpc_port=port)
        cfg.update(settings.triton_config)
        if cfg.get("allow_metrics"):
            cfg.setdefault("metrics_address", settings.address)
            cfg.setdefault("metrics_port", _free_port(settings.address))
        kwargs: dict[str, Any] = {}
        if settings.token:
            try:  # nvidia-pytriton >= 0.7
                from pytriton.triton import DEFAULT_PROTECTED_ENDPOINTS, TritonSecurityConfig
            except ImportError as e:
                raise TritonServerError(
                    "require_token needs nvidia-pytriton >= 0.7 (or pass require_token=False)"
                ) from e
            # Inference and the admin endpoints need the token. Health stays open: PyTriton's
            # own readiness wait sends no token (0.7.0).
            kwargs["security_config"] = TritonSecurityConfig(
                access_token=settings.token,
                restricted_endpoints=sorted({*DEFAULT_PROTECTED_ENDPOINTS, "inference"}),
            )
        workspace = Path(tempfile.mkdtemp(prefix="dlt-", dir=_short_tmp()))
        workspace.rmdir()  # PyTriton creates it, and removes it on stop
        set_status("starting", workspace=str(workspace))
        triton = Triton(config=TritonConfig(**cfg), workspace=workspace, **kwargs)
        holder["triton"] = triton
        binder = _Binder(triton, settings)
        spec["bind_model"](binder)
        if settings.model_name not in binder.models:
            raise TritonServerError(
                f"bind_model bound {binder.models or 'no model'}, not {settings.model_name!r}"
            )
        t0 = time.monotonic()
        triton.run()
        url = f"{settings.protocol}://{settings.address}:{port}"
        auth = {"access_token": settings.token} if settings.token else {}
        for name in binder.models:
            with ModelClient(url, name, init_timeout_s=60, **auth) as c:
                c.wait_for_model(timeout_s=60)
        ready.set()
        set_status(
            "ready", port=port, models=binder.models, url=url, run_s=round(time.monotonic() - t0, 3)
        )
        log.info("ready at %s with models %s", url, binder.models)
        while not stop.wait(0.5):
            if not triton.is_alive():
                raise TritonServerError("tritonserver or a model process exited")
        code = 0
    except _Stop:
        code = 0
    except BaseException as e:  # report it in the status file, then exit non-zero
        set_status("failed", error=f"{type(e).__name__}: {e}")
        traceback.print_exc(file=sys.stdout)
        code = 1
    finally:
        stop.set()
        ready.set()
        if triton is not None:
            if status["state"] != "failed":
                set_status("stopping")
            # A hung stop must not keep the process alive: hard exit after the grace period
            # (tritonserver then gets SIGTERM from its parent-death signal).
            timer = threading.Timer(STOP_GRACE_S - 2, lambda: os._exit(4))
            timer.daemon = True
            timer.start()
            t0 = time.monotonic()
            try:
                triton.stop()
            except Exception:
                traceback.print_exc(file=sys.stdout)
            timer.cancel()
            log.info("Triton stopped in %.1f s", time.monotonic() - t0)
    if status["state"] != "failed":
        set_status("stopped")
    sys.stdout.flush()
    if holder.get("orphaned"):
        # Nobody is left to clean up after us: remove the run folder (and an empty parent).
        _remove_run(run_dir, status)
        (run_dir.parent / f"{run_dir.name}.lock").unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            run_dir.parent.rmdir()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dl_helpers.triton serve RUN_DIR [--detach]``: run one server."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or argv[0] != "serve":
        print(main.__doc__, file=sys.stderr)
        return 2
    run_dir = Path(argv[1])
    if "--detach" in argv[2:]:
        # Leave the launcher (a Spark Python worker) at once, so that it never has to wait for us
        # and we never become its zombie; init adopts the server. Nothing has run yet but the
        # interpreter's start, so this fork copies no threads or state.
        if os.fork() > 0:
            os._exit(0)
        os.setsid()
    code = _serve(run_dir)
    # Triton is stopped and the status written: skip the interpreter's slow teardown (PyTriton
    # and gRPC threads), which only delays the exit that stop() waits for.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# --------------------------------------------------------------------------------------------
# Starting a server on this machine (driver in local mode, a start task on a cluster)


def _pickler():
    try:
        from pyspark import cloudpickle
    except ImportError:  # pragma: no cover - pyspark is always there when Spark runs this
        import cloudpickle
    return cloudpickle


def launch_server(
    bind_model: Callable,
    settings: _Settings,
    manager_id: str,
    identity: ExecutorIdentity,
    owner: tuple[int, float],
    gpus: Sequence[str] | None = None,
) -> ServerInfo:
    """Start (or find, if this manager already has one here) the server for ``identity``.

    ``owner`` is (pid, start time) of the process whose death must stop the server. Raises
    :class:`TritonServerError` with the server's log tail if it does not become ready.
    """
    import fcntl

    base = _root_dir() / manager_id
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    run_dir = base / _tag(identity.key)
    with open(base / f"{_tag(identity.key)}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two start tasks on one executor: one server
        existing = _read_json(run_dir / "status.json") if run_dir.exists() else None
        if (
            existing
            and existing.get("state") == "ready"
            and existing.get("info")
            and _alive(existing["pid"], existing["pid_start"])
        ):
            info = dict(existing["info"], token=settings.token)
            info["models"] = tuple(info["models"])
            return ServerInfo(**info)
        if run_dir.exists():
            _remove_run(run_dir, existing)
        run_dir.mkdir(mode=0o700)
        return _launch_locked(bind_model, settings, identity, owner, gpus, run_dir)


def _launch_locked(bind_model, settings, identity, owner, gpus, run_dir: Path) -> ServerInfo:
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = _library_path(env.get("LD_LIBRARY_PATH"))
    env["PYTHONPATH"] = _python_path(env.get("PYTHONPATH"))
    env["PYTHONUNBUFFERED"] = "1"
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
    env.update({k: str(v) for k, v in settings.server_env.items()})

    errors = []
    for attempt in range(1, settings.port_attempts + 1):
        # A requested port is tried first; any later attempt takes a port the kernel says is free.
        port = settings.port if (attempt == 1 and settings.port) else _free_port(settings.address)
        with open(run_dir / "spec.pkl", "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            _pickler().dump(
                {
                    "settings": settings,
                    "bind_model": bind_model,
                    "port": port,
                    "owner_pid": owner[0],
                    "owner_start": owner[1],
                },
                f,
            )
        status_path = run_dir / "status.json"
        status_path.unlink(missing_ok=True)
        log_path = run_dir / f"server-{attempt}.log"
        t0 = time.monotonic()
        with open(log_path, "ab") as logf:
            launcher = subprocess.Popen(
                [sys.executable, "-m", "dl_helpers.triton", "serve", str(run_dir), "--detach"],
                cwd=run_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        try:
            launcher.wait(timeout=60)
            state = _wait_ready(status_path, log_path, settings.start_timeout_s, identity, t0)
        except BaseException:
            st = _read_json(status_path) or {}
            if st.get("pid"):
                _terminate(st["pid"], st.get("pid_start"), grace_s=5)
                _remove_workspace(st)
            raise
        if state["state"] == "ready":
            info = ServerInfo(
                executor=identity.key,
                executor_name=identity.describe(),
                host=identity.host,
                pid=state["pid"],
                pid_start=state["pid_start"],
                protocol=settings.protocol,
                address=settings.address,
                port=port,
                models=tuple(state["models"]),
                log_path=str(log_path),
                run_dir=str(run_dir),
                token=settings.token,
            )
            record = dict(dataclasses.asdict(info), token=None)
            _write_json(status_path, dict(_read_json(status_path) or state, info=record))
            log.info(
                "Triton server for %s ready at %s in %.1f s (pid %d)",
                identity.describe(),
                info.url,
                time.monotonic() - t0,
                info.pid,
            )
            return info
        tail = _log_tail(log_path)
        errors.append(f"attempt {attempt} (port {port}): {state.get('error')}")
        if state.get("pid"):
            _terminate(state["pid"], state.get("pid_start"), grace_s=5)
        _remove_workspace(_read_json(status_path) or state)
        text = log_path.read_text("utf-8", "replace")
        retry = _retry_reason(text)
        if retry and attempt < settings.port_attempts:
            log.warning("Triton server on %s: %s; starting it again", identity.host, retry)
            continue
        raise TritonServerError(
            f"Triton server for {identity.describe()} failed to start: "
            f"{'; '.join(errors)}\n--- server log {log_path} (last lines) ---\n{tail}"
        )
    raise AssertionError("unreachable")  # pragma: no cover


def _wait_ready(status_path: Path, log_path: Path, timeout_s: float, identity, t0) -> dict:
    deadline = t0 + timeout_s
    while True:
        st = _read_json(status_path)
        if st:
            if st.get("state") in ("ready", "failed"):
                return st
            if st.get("pid") and not _alive(st["pid"], st.get("pid_start")):
                time.sleep(0.3)  # let a final status write land
                st = _read_json(status_path) or st
                if st.get("state") in ("ready", "failed"):
                    return st
                return dict(st, state="failed", error="server process exited while starting")
        elif time.monotonic() - t0 > 30:
            return {"state": "failed", "error": "server process wrote no status in 30 s"}
        if time.monotonic() > deadline:
            if st and st.get("pid"):
                _terminate(st["pid"], st.get("pid_start"), grace_s=5)
                _remove_workspace(st)
            raise TritonServerError(
                f"Triton server for {identity.describe()} was not ready after {timeout_s:.0f} s "
                f"(start_timeout_s)\n--- server log {log_path} (last lines) ---\n"
                f"{_log_tail(log_path)}"
            )
        time.sleep(0.1)


def stop_local_servers(manager_id: str | None, identity: ExecutorIdentity | None = None) -> list:
    """Stop servers on this machine: of ``manager_id`` (all managers if None), for
    ``identity``'s executor (any executor if None), plus any whose owner is gone.

    Returns [(executor key, pid, was running)] for the servers found.
    """
    import fcntl

    root = _root_dir()
    bases = [root / manager_id] if manager_id else [p for p in root.glob("*") if p.is_dir()]
    found = []
    for base in bases:
        if not base.is_dir():
            continue
        for run_dir in [p for p in base.iterdir() if p.is_dir()]:
            with open(base / f"{run_dir.name}.lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # not while a start task is launching it
                st = _read_json(run_dir / "status.json") or {}
                mine = identity is None or run_dir.name == _tag(identity.key)
                pid = st.get("pid")
                if mine or not pid or not _alive(st.get("owner_pid"), st.get("owner_start")):
                    was = bool(pid) and _terminate(pid, st.get("pid_start"))
                    found.append((run_dir.name, pid, was))
                    _remove_run(run_dir, st)
                    (base / f"{run_dir.name}.lock").unlink(missing_ok=True)
        for lock_path in base.glob("*.lock"):
            if not (base / lock_path.stem).exists():
                lock_path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            base.rmdir()  # only if empty
    return found


# --------------------------------------------------------------------------------------------
# Spark side


def _task_gpus() -> list[str]:
    from pyspark import TaskContext

    ctx = TaskContext.get()
    res = ctx.resources() if ctx is not None else {}
    return list(res["gpu"].addresses) if "gpu" in res else []


def _start_task(bind_model, settings: _Settings, manager_id: str) -> Iterator[str]:
    """One barrier task per executor: start that executor's server, report as JSON."""
    ident = None
    try:
        ident = executor_identity()
        info = launch_server(
            bind_model,
            settings,
            manager_id,
            ident,
            owner=(ident.jvm_pid, ident.jvm_start),
            gpus=_task_gpus(),
        )
        yield json.dumps({"ok": True, "info": dataclasses.asdict(info)})
    except BaseException as e:
        yield json.dumps(
            {
                "ok": False,
                "executor": ident.describe() if ident else "?",
                "key": ident.key if ident else None,
                "error": f"{type(e).__name__}: {e}",
            }
        )


def _stop_task(manager_id: str | None) -> Iterator[str]:
    try:
        ident = executor_identity()
        found = stop_local_servers(manager_id, ident)
        yield json.dumps({"ok": True, "executor": ident.describe(), "found": found})
    except BaseException as e:
        yield json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"})


def _is_local(sc) -> bool:
    m = sc.master.lower()
    return m.startswith("local") and not m.startswith("local-cluster")


def _expected_executors(sc, num_executors: int | None) -> int | None:
    if num_executors:
        return int(num_executors)
    m = re.match(r"local-cluster\[\s*(\d+)\s*,", sc.master)
    if m:
        return int(m.group(1))
    conf = sc.getConf()
    if conf.get("spark.dynamicAllocation.enabled", "false").lower() == "true":
        return None
    n = conf.get("spark.executor.instances")
    return int(n) if n else None


def _executors(sc) -> list[dict]:
    """Registered, active executors (not the driver): id, host, cores."""
    out = []
    try:
        it = sc._jsc.sc().statusStore().executorList(True).iterator()
    except Exception as e:  # py4j access restricted (some managed clusters): block managers
        log.debug("executor list unavailable (%s): counting block managers", e)
        cores = int(sc.getConf().get("spark.executor.cores", "1"))
        # One block manager per executor, plus the driver's.
        n = int(sc._jsc.sc().getExecutorMemoryStatus().size()) - 1
        return [{"id": "?", "host": "?", "cores": cores} for _ in range(n)]
    while it.hasNext():
        e = it.next()
        if e.id() == "driver":
            continue
        out.append({"id": e.id(), "host": e.hostPort(), "cores": int(e.totalCores())})
    return out


def _wait_for_executors(sc, expected: int | None, timeout_s: float) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    last: list[dict] = []
    while True:
        last = _executors(sc)
        if expected is not None and len(last) >= expected:
            return last
        if expected is None and last:
            time.sleep(2)  # let executors that start together register
            return _executors(sc)
        if time.monotonic() > deadline:
            raise TritonServerError(
                f"waited {timeout_s:.0f} s for {expected or 'any'} executors, "
                f"{len(last)} registered: {[e['id'] for e in last]}"
            )
        time.sleep(0.5)


class _JobTimeout:
    """Run Spark jobs under a tag and cancel them after a timeout (no hang on missing slots)."""

    def __init__(self, sc, timeout_s: float, what: str):
        self.sc, self.timeout_s, self.what = sc, timeout_s, what
        self.tag = f"dl-helpers-triton-{uuid.uuid4().hex[:8]}"
        self.fired = False

    def __enter__(self):
        if not hasattr(self.sc, "addJobTag"):  # PySpark < 3.5: no job tags, no timeout
            self.timer = threading.Timer(0, lambda: None)
            return self
        self.sc.addJobTag(self.tag)
        self.timer = threading.Timer(self.timeout_s, self._cancel)
        self.timer.daemon = True
        self.timer.start()
        return self

    def _cancel(self):
        self.fired = True
        self.sc.cancelJobsWithTag(self.tag)

    def __exit__(self, exc_type, exc, tb):
        self.timer.cancel()
        if hasattr(self.sc, "removeJobTag"):
            self.sc.removeJobTag(self.tag)
        if exc is not None and self.fired:
            raise TritonServerError(
                f"{self.what} did not finish in {self.timeout_s:.0f} s and was cancelled "
                "(were all executors free? a barrier stage needs one free slot per executor)"
            ) from exc
        return False


def _per_executor_job(sc, n: int, fn, cores: int, gpus: float, timeout_s: float, what: str):
    """Run ``fn`` once per executor: n barrier tasks, each claiming a whole executor."""
    from pyspark.resource import ResourceProfileBuilder, TaskResourceRequests

    rdd = sc.parallelize(range(n), n).barrier().mapPartitions(lambda _: fn())
    req = TaskResourceRequests().cpus(max(1, cores))
    if gpus:
        req = req.resource("gpu", gpus)
    with _JobTimeout(sc, timeout_s, what):
        try:
            return rdd.withResources(ResourceProfileBuilder().require(req).build).collect()
        except Exception as e:
            msg = str(e)
            if (
                "TaskResourceProfiles are only supported" not in msg
                and "ResourceProfiles are only supported" not in msg
            ):
                raise
            # No stage-level scheduling here (e.g. dynamic allocation on): a plain barrier stage
            # still runs the n tasks at once; the caller checks they landed on n executors.
            log.warning(
                "stage-level scheduling unavailable (%s); using a plain barrier stage",
                msg.splitlines()[0][:200],
            )
            rdd = sc.parallelize(range(n), n).barrier().mapPartitions(lambda _: fn())
            return rdd.collect()


def _gpus_per_executor(sc) -> float:
    amount = sc.getConf().get("spark.executor.resource.gpu.amount")
    return float(amount) if amount else 0.0


def _finalize_local(servers: list) -> None:
    """Interpreter exit or garbage collection: stop this manager's local servers."""
    for pid, start, run_dir in servers:
        with contextlib.suppress(Exception):
            _terminate(pid, start, grace_s=10)
            _remove_run(Path(run_dir), _read_json(Path(run_dir) / "status.json"))


class TritonServerManager:
    """Start one PyTriton server per executor from ``bind_model``; stop them all.

    Arguments:
        spark: the SparkSession (classic, with a SparkContext).
        bind_model: ``bind_model(triton)`` runs in each new server process and calls
            ``triton.bind(...)`` one or more times; pickled with cloudpickle, so it may be a
            function defined in the notebook. Load the model inside it.
        model_name: the model :func:`triton_predict_fn` calls by default; ``bind_model`` must
            bind it.
        protocol: "http" or "grpc" (only that endpoint is opened).
        max_batch_size, batching_delay_us, instances: the model configuration used when
            ``bind`` gets no ``config``: largest batch, dynamic batcher queue delay (None:
            Triton's default, 0), and copies of the inference function (Triton model
            instances; PyTriton's instances hand-shake with a 1 s limit, so on a saturated CPU
            a start may need a second attempt, which is made automatically).
        address: listen address (loopback by default; "0.0.0.0" exposes the servers).
        port: port to try first for the protocol (default: one the kernel picks); if taken,
            another is used.
        require_token: protect every endpoint with a random per-manager access token.
        start_timeout_s: how long each server may take to become ready (model loading
            included).
        num_executors: executors to wait for before starting (default: from the master or
            ``spark.executor.instances``, else those registered).
        server_env: extra environment variables for the server processes.
        triton_config: extra ``pytriton.triton.TritonConfig`` fields (e.g.
            ``{"log_verbose": 1}`` or ``{"allow_metrics": True}``).
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
        address: str = DEFAULT_ADDRESS,
        port: int | None = None,
        require_token: bool = True,
        start_timeout_s: float = 180.0,
        num_executors: int | None = None,
        server_env: Mapping[str, str] | None = None,
        triton_config: Mapping[str, Any] | None = None,
        log_verbose: int = 0,
        port_attempts: int = 4,
    ):
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, not {protocol!r}")
        if instances < 1 or max_batch_size < 0:
            raise ValueError("instances must be >= 1 and max_batch_size >= 0")
        self.spark = spark
        self.bind_model = bind_model
        self.model_name = model_name
        self.num_executors = num_executors
        self.manager_id = f"{int(time.time())}-{uuid.uuid4().hex[:10]}"
        self.settings = _Settings(
            model_name=model_name,
            protocol=protocol,
            address=address,
            port=port,
            max_batch_size=max_batch_size,
            batching_delay_us=batching_delay_us,
            instances=instances,
            token=secrets.token_urlsafe(24) if require_token else None,
            log_verbose=log_verbose,
            triton_config=dict(triton_config or {}),
            server_env=dict(server_env or {}),
            start_timeout_s=start_timeout_s,
            port_attempts=max(1, port_attempts),
        )
        self.servers: dict[str, ServerInfo] = {}
        self.timings: dict[str, float] = {}
        self._local_servers: list = []  # (pid, start, run_dir), stopped at exit if still running
        self._finalizer = weakref.finalize(self, _finalize_local, self._local_servers)
        self._started = False

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> TritonServerManager:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def local(self) -> bool:
        return _is_local(self.spark.sparkContext)

    def start(self) -> dict[str, ServerInfo]:
        """Start the servers (one per executor); returns ``{executor key: ServerInfo}``."""
        if self._started:
            return self.servers
        sc = self.spark.sparkContext
        t0 = time.monotonic()
        self._started = True
        try:
            if _is_local(sc):
                self._start_local(sc)
            else:
                self._start_cluster(sc)
        except BaseException:
            # A failed or interrupted start leaves nothing behind.
            with contextlib.suppress(Exception):
                self.stop()
            raise
        self.timings["start_s"] = round(time.monotonic() - t0, 3)
        return self.servers

    def _start_local(self, sc) -> None:
        ident = _driver_identity(sc)
        me = (os.getpid(), _proc_start(os.getpid()))
        info = launch_server(self.bind_model, self.settings, self.manager_id, ident, owner=me)
        self.servers = {info.executor: info}
        self._local_servers.append((info.pid, info.pid_start, info.run_dir))

    def _start_cluster(self, sc) -> None:
        conf = sc.getConf()
        if conf.get("spark.dynamicAllocation.enabled", "false").lower() == "true":
            log.warning(
                "dynamic allocation is on: executors added later have no Triton server "
                "(their tasks fail with a clear error); turn it off for Triton"
            )
        execs = _wait_for_executors(
            sc, _expected_executors(sc, self.num_executors), self.settings.start_timeout_s
        )
        cores = min(e["cores"] for e in execs)
        bind, settings, mid = self.bind_model, self.settings, self.manager_id
        results = _per_executor_job(
            sc,
            len(execs),
            lambda: _start_task(bind, settings, mid),
            cores,
            _gpus_per_executor(sc),
            self.settings.start_timeout_s + 120,
            f"starting Triton servers on {len(execs)} executors",
        )
        parsed = [json.loads(r) for r in results]
        failed = [r for r in parsed if not r["ok"]]
        for r in parsed:
            if r["ok"]:
                info = dict(r["info"], models=tuple(r["info"]["models"]))
                self.servers[info["executor"]] = ServerInfo(**info)
        if failed:
            raise TritonServerError(
                "Triton servers failed to start on "
                f"{len(failed)} of {len(parsed)} executors:\n"
                + "\n".join(f"- {r['executor']}: {r['error']}" for r in failed)
            )
        if len(self.servers) != len(execs):
            raise TritonServerError(
                f"{len(execs)} start tasks reached only {len(self.servers)} distinct executors "
                f"({sorted(self.servers)}); set spark.executor.cores so that one task per "
                "executor takes all its cores"
            )

    def stop(self, timeout_s: float = 180.0) -> None:
        """Stop every server this manager started (safe to call twice, or after a failure)."""
        if not self._started:
            return
        t0 = time.monotonic()
        sc = self.spark.sparkContext
        try:
            if _is_local(sc):
                stop_local_servers(self.manager_id)
                _finalize_local(self._local_servers)  # any whose status file was lost
            else:
                self._stop_cluster(sc, timeout_s)
        finally:
            self._local_servers.clear()
            self.servers = {}
            self._started = False
            self.timings["stop_s"] = round(time.monotonic() - t0, 3)

    def _stop_cluster(self, sc, timeout_s: float) -> None:
        if sc._jsc is None:
            log.warning(
                "SparkContext already stopped: the executors, and with them their "
                "Triton servers, are gone or going"
            )
            return
        execs = _executors(sc)
        if not execs:
            return
        mid = self.manager_id
        results = _per_executor_job(
            sc,
            len(execs),
            lambda: _stop_task(mid),
            min(e["cores"] for e in execs),
            _gpus_per_executor(sc),
            timeout_s,
            "stopping Triton servers",
        )
        errors = [r["error"] for r in map(json.loads, results) if not r["ok"]]
        if errors:
            raise TritonServerError(f"stopping Triton servers failed: {errors}")

    # -- information ------------------------------------------------------------------------

    def endpoints(self) -> dict[str, str]:
        """``{executor description: url}``."""
        return {s.executor_name: s.url for s in self.servers.values()}

    def __repr__(self) -> str:
        state = f"{len(self.servers)} servers" if self._started else "stopped"
        return f"TritonServerManager({self.model_name!r}, {state})"


def stop_all_servers(spark, timeout_s: float = 180.0) -> list:
    """Stop every dl_helpers Triton server on the driver's host and on every executor.

    For servers whose manager is gone without stopping them (e.g. a notebook detached from a
    shared cluster, whose executors live on). Returns what was found.
    """
    sc = spark.sparkContext
    found = stop_local_servers(None)
    if not _is_local(sc):
        execs = _executors(sc)
        if execs:
            results = _per_executor_job(
                sc,
                len(execs),
                lambda: _stop_task(None),
                min(e["cores"] for e in execs),
                _gpus_per_executor(sc),
                timeout_s,
                "stopping all Triton servers",
            )
            for r in map(json.loads, results):
                found.extend(r.get("found", []))
    return found


# --------------------------------------------------------------------------------------------
# Inference from Spark tasks


def to_triton_input(array, dtype=None):
    """A predict_batch_udf input column as a Triton batch: at least 2-D (one row is [1, ...],
    never a squeezed scalar), strings as UTF-8 bytes, cast to the model's ``dtype``."""
    import numpy as np

    a = np.asarray(array)
    if a.dtype.kind in ("U", "O"):
        a = np.char.encode(a.astype(np.str_), "utf-8")
    elif dtype is not None and np.dtype(dtype).kind not in ("S", "O", "U") and a.dtype != dtype:
        a = a.astype(dtype)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    return a


def from_triton_output(array, scalar: bool):
    """A Triton output as predict_batch_udf wants it: bytes decoded to str, and a per-row scalar
    (declared shape (1,)) as one value per row, keeping the batch dimension."""
    import numpy as np

    a = np.asarray(array)
    if a.dtype.kind in ("S", "O"):
        a = np.vectorize(
            lambda b: b.decode("utf-8") if isinstance(b, bytes) else b, otypes=[object]
        )(a)
    if scalar and a.ndim == 2 and a.shape[1] == 1:
        a = a.reshape(len(a))
    return a


def triton_predict_fn(
    servers,
    input_names: Sequence[str],
    output_names: Sequence[str] | None = None,
    *,
    model_name: str | None = None,
    inference_timeout_s: float = 120.0,
    init_timeout_s: float = 30.0,
) -> Callable:
    """A ``make_predict_fn`` for ``predict_batch_udf`` that sends batches to the Triton server of
    the executor the task runs on.

    ``servers`` is a started :class:`TritonServerManager` (or its ``servers`` dict).
    ``input_names`` are the model's inputs, in the order of the UDF's columns. Returns one array
    for a single output, else a dict (for a StructType return). Batches larger than the model's
    max_batch_size are split. Errors name the executor, the server and its log tail.
    """
    if isinstance(servers, TritonServerManager):
        if not servers.servers:
            raise TritonServerError("the TritonServerManager is not started")
        model = model_name or servers.model_name
        table = dict(servers.servers)
    else:
        table = dict(servers)
        if not model_name:
            raise ValueError("model_name is required when servers is a dict")
        model = model_name
    input_names = list(input_names)
    wanted = list(output_names) if output_names else None

    def make_predict_fn():
        import warnings

        from pytriton.client import ModelClient
        from pytriton.client.warnings import NotSupportedTimeoutWarning

        # "network timeout is smaller than requested": the init wait is shorter than a request.
        warnings.filterwarnings("ignore", category=NotSupportedTimeoutWarning)

        ident = executor_identity()
        info = table.get(ident.key)
        if info is None:
            raise TritonServerError(
                f"no Triton server for {ident.describe()} (key {ident.key}); servers were started "
                f"for: {[s.executor_name for s in table.values()]}. Executors added after "
                "start() (dynamic allocation, a replaced executor) have none: restart the manager."
            )

        def failure(what: str, cause: BaseException | None = None) -> TritonServerError:
            state = "running" if info.is_alive() else "NOT running"
            return TritonServerError(
                f"Triton server for {info.executor_name} at {info.url} (model {model!r}): {what}. "
                f"Server process {info.pid} is {state}.\n--- server log {info.log_path} "
                f"(last lines) ---\n{info.log_tail()}"
                + (f"\n--- cause ---\n{type(cause).__name__}: {cause}" if cause else "")
            )

        if not info.is_alive():
            raise failure("server is gone")
        auth = {"access_token": info.token} if info.token else {}
        client = ModelClient(
            info.url,
            model,
            init_timeout_s=init_timeout_s,
            inference_timeout_s=inference_timeout_s,
            **auth,
        )
        try:
            config = client.model_config
        except Exception as e:
            client.close()
            raise failure("cannot read the model configuration", e) from e
        in_dtypes = {t.name: t.dtype for t in config.inputs}
        out_specs = {t.name: t for t in config.outputs}
        names = wanted or list(out_specs)
        unknown = [n for n in input_names if n not in in_dtypes] + [
            n for n in names if n not in out_specs
        ]
        if unknown:
            client.close()
            raise failure(
                f"model has no tensor(s) {unknown}; inputs {list(in_dtypes)}, "
                f"outputs {list(out_specs)}"
            )
        scalar = {n: tuple(out_specs[n].shape) == (1,) for n in names}
        step = config.max_batch_size if config.max_batch_size > 0 else None

        def predict(*arrays):
            import numpy as np

            if len(arrays) != len(input_names):
                raise ValueError(f"got {len(arrays)} input arrays for inputs {input_names}")
            inputs = {n: to_triton_input(a, in_dtypes[n]) for n, a in zip(input_names, arrays)}
            rows = len(next(iter(inputs.values())))
            parts = []
            for lo in range(0, rows, step or rows or 1):
                chunk = {n: a[lo : lo + step] if step else a for n, a in inputs.items()}
                if not info.is_alive():
                    raise failure("server is gone")
                try:
                    parts.append(client.infer_batch(**chunk))
                except Exception as e:
                    raise failure("inference request failed", e) from e
            out = {
                n: from_triton_output(np.concatenate([p[n] for p in parts]), scalar[n])
                for n in names
            }
            return out[names[0]] if len(names) == 1 else out

        # predict_batch_udf counts the function's parameters to decide how columns map to
        # inputs: show one parameter per Triton input, not a single *arrays.
        import inspect

        predict.__signature__ = inspect.Signature(
            [inspect.Parameter(f"input_{i}", inspect.Parameter.POSITIONAL_ONLY)
             for i in range(len(input_names))]
        )  # fmt: skip
        return predict

    return make_predict_fn


if __name__ == "__main__":
    sys.exit(main())
