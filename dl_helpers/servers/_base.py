"""What every part of the server lifecycle shares: the error type, executor identity and
process control, the JSON-over-HTTP client, a server kind's interface, and ``ServerInfo``."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


class ServerError(RuntimeError):
    """A model server (Triton, OpenAI-compatible) could not be started, found or reached."""


log = logging.getLogger(__name__)

STOP_GRACE_S = 20.0  # SIGTERM -> clean server stop; after this, SIGKILL of the process group
LOG_TAIL_LINES = 40
DEATH_SETTLE_S = 2.0  # a request that failed on a dying server: how long to wait for it to exit
_JVM_NAMES = ("java",)


def proc_start(pid: int) -> float | None:
    """Start time of a process (seconds since the epoch), None if it is gone or a zombie."""
    import psutil

    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return None
        return round(p.create_time(), 2)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def alive(pid: int | None, start: float | None) -> bool:
    """Is the process with this pid and start time still running (guards against pid reuse)?"""
    if not pid:
        return False
    now = proc_start(pid)
    return now is not None and (start is None or abs(now - start) < 0.05)


@dataclasses.dataclass(frozen=True)
class ExecutorIdentity:
    """An executor: its JVM process on a host. ``key`` is what servers are looked up by."""

    host: str
    jvm_pid: int
    jvm_start: float
    executor_id: str  # Spark's executor id, or "driver" in local mode ("?" if unknown)
    cores: int | None = None  # the executor's cores (its JVM's --cores), None if unknown

    @property
    def key(self) -> str:
        return f"{self.host}/{self.jvm_pid}@{self.jvm_start:.2f}"

    def describe(self) -> str:
        return f"executor {self.executor_id} on {self.host} (JVM pid {self.jvm_pid})"


def _cmdline_value(cmdline: Sequence[str], flag: str) -> str | None:
    for i, arg in enumerate(cmdline):
        if arg == flag and i + 1 < len(cmdline):
            return cmdline[i + 1]
    return None


def _executor_id_from_cmdline(cmdline: Sequence[str]) -> str:
    return _cmdline_value(cmdline, "--executor-id") or "?"


def _is_driver_jvm(p) -> bool:
    try:
        cmd = p.cmdline()
    except Exception:
        return False
    return any("SparkSubmit" in a or a == "pyspark-shell" for a in cmd)


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
                    cmdline = p.cmdline()
                except psutil.AccessDenied:
                    cmdline = []
                eid = _executor_id_from_cmdline(cmdline)
                cores = _cmdline_value(cmdline, "--cores")
                return ExecutorIdentity(
                    socket.gethostname(),
                    p.pid,
                    round(p.create_time(), 2),
                    "driver" if eid == "?" and _is_driver_jvm(p) else eid,
                    int(cores) if cores and cores.isdigit() else None,
                )
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    raise ServerError(
        "cannot tell which Spark executor this Python process belongs to: no JVM among its "
        f"ancestors ({' <- '.join(chain) or 'none'}). Is this running inside a Spark task?"
    )


def driver_identity(sc) -> ExecutorIdentity:
    """The driver JVM (the executor of local mode), asked through py4j."""
    pid = int(sc._jvm.java.lang.ProcessHandle.current().pid())
    start = proc_start(pid)
    if start is None:
        raise ServerError(f"the driver JVM (pid {pid}) is not visible from this process")
    return ExecutorIdentity(socket.gethostname(), pid, start, "driver")


def terminate(pid: int, start: float | None, grace_s: float = STOP_GRACE_S) -> bool:
    """Stop a server: SIGTERM (its clean shutdown), then SIGKILL its process group and tree.

    Returns True if a live process was found.
    """
    import psutil

    if not alive(pid, start):
        return False
    try:
        proc = psutil.Process(pid)
        tree = [proc] + proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return False
    with contextlib.suppress(psutil.NoSuchProcess):
        proc.send_signal(signal.SIGTERM)
    _, left = psutil.wait_procs([proc], timeout=grace_s)
    if left:
        log.warning("server pid %d did not stop in %.0f s: killing it", pid, grace_s)
    # The server runs in its own session and process group (pgid == pid): kill what is left of
    # it, including a child (tritonserver, a stub, an inference engine) whose parent died.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    for p in tree:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            if p.is_running():
                p.kill()
    psutil.wait_procs(tree, timeout=10)
    return True


def log_tail(path: str | os.PathLike | None, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a server log (wide start-up tables left out)."""
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


def http_json(
    url: str, body: dict | None = None, token: str | None = None, timeout_s: float = 30.0
) -> tuple[int, object]:
    """GET (no body) or POST JSON; returns (HTTP status, parsed JSON or text). No retries:
    connection errors and timeouts raise ``OSError``."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    text = raw.decode("utf-8", "replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


# Start failures worth another attempt on new ports, for every kind: log marker -> reason.
COMMON_RETRYABLE = {"already in use": "its port was taken"}


def retry_reason_from(log_text: str, retryable: dict[str, str]) -> str | None:
    """The reason of the first marker (common ones, then ``retryable``) found in a log."""
    markers = {**COMMON_RETRYABLE, **retryable}
    return next((why for marker, why in markers.items() if marker in log_text), None)


@dataclasses.dataclass
class ServeContext:
    """What the server process hands a kind's ``start``."""

    address: str
    port: int
    token: str | None
    gpus: list[str]
    run_dir: Path
    stop: threading.Event  # set when the server is asked to stop
    set_status: Callable[..., None]  # set_status("starting", workspace=...) records details


class ServerKind:
    """Base of the server kinds. Subclasses are dataclasses holding their settings."""

    display = "model"  # "Triton", "transformers serve", "vLLM": used in every message
    protocol = "http"
    supports_token = False
    retryable: dict[str, str] = {}

    def retry_reason(self, log_text: str) -> str | None:
        """Why a failed start is worth another attempt, from the server log; None: it is not."""
        return retry_reason_from(log_text, self.retryable)

    def url(self, address: str, port: int) -> str:
        host = f"[{address}]" if ":" in address else address
        return f"{self.protocol}://{host}:{port}"

    # -- in the server process --------------------------------------------------------------

    def start(self, ctx: ServeContext) -> list[str]:
        """Start serving on ``ctx.port``; return the model names once they answer.

        May raise any exception (reported in the status file and the log). Called once.
        """
        raise NotImplementedError

    def alive(self) -> bool:
        """Is the server still serving (checked twice a second once ready)?"""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop whatever :meth:`start` started, even if it failed half way. Called once."""
        raise NotImplementedError


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
    kind: str = "Triton"  # the kind's display name, for messages

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.protocol}://{host}:{self.port}"

    def is_alive(self, settle_s: float = 0.0) -> bool:
        """Is the server process running? With ``settle_s``, a process seen running is watched
        that long for exiting: a killed server's sockets close before all its processes end."""
        deadline = time.monotonic() + settle_s
        while alive(self.pid, self.pid_start):
            if time.monotonic() >= deadline:
                return True
            time.sleep(0.05)
        return False

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return log_tail(self.log_path, lines)

    def failure(self, what: str, model: str, cause: BaseException | None = None) -> ServerError:
        """An error naming this server, its state and log tail (and the cause, if any). After a
        failed request (``cause``), a process still running is given a moment to exit first."""
        state = "running" if self.is_alive(DEATH_SETTLE_S if cause else 0.0) else "NOT running"
        return ServerError(
            f"{self.kind} server for {self.executor_name} at {self.url} (model {model!r}): "
            f"{what}. Server process {self.pid} is {state}.\n--- server log {self.log_path} "
            f"(last lines) ---\n{self.log_tail()}"
            + (f"\n--- cause ---\n{type(cause).__name__}: {cause}" if cause else "")
        )

    def check_model(self, model: str) -> None:
        """Fail at once if this server does not serve ``model`` (it said which it has)."""
        if model not in self.models:
            raise ServerError(
                f"{self.kind} server for {self.executor_name} at {self.url} has no model "
                f"{model!r}; it serves {list(self.models)}"
            )


def server_table(servers, model: str | None, model_arg: str) -> tuple[dict, str, Callable | None]:
    """``({executor key: ServerInfo}, model, start)`` from a started manager (its model unless
    ``model`` names another) or from its ``servers`` dict (``model`` then required, passed to
    the predict function as ``model_arg``). ``start(identity)`` starts the server of an executor
    that joined after the manager started (a manager's ``late_start``; None for a dict). Runs on
    the driver, when a predict function is made."""
    if hasattr(servers, "servers") and hasattr(servers, "model_name"):
        if not servers.servers:
            raise ServerError(f"the {type(servers).__name__} is not started")
        start = servers.late_start() if hasattr(servers, "late_start") else None
        return dict(servers.servers), model or servers.model_name, start
    if not model:
        raise ValueError(f"{model_arg} is required when servers is a dict")
    return dict(servers), model, None


def task_server(
    table: Mapping[str, ServerInfo],
    model: str,
    kind: str,
    start: Callable[[ExecutorIdentity], ServerInfo] | None = None,
) -> ServerInfo:
    """In a Spark task: this executor's server, alive and serving ``model``, else a clear error.

    An executor that joined after the servers started (it replaced a lost one, or dynamic
    allocation added it) is not in ``table``: ``start`` starts its server now, once per
    executor (its other tasks wait for it and find it), owned by the executor's JVM and stopped
    with the manager's others. Without ``start`` (a plain dict of servers) that is an error.
    """
    ident = executor_identity()
    info = table.get(ident.key)
    if info is None and start is not None:
        info = start(ident)
    if info is None:
        raise ServerError(
            f"no {kind} server for {ident.describe()} (key {ident.key}); servers were started "
            f"for: {[s.executor_name for s in table.values()]}. A dict of servers cannot start "
            "one for an executor added later: pass the manager itself."
        )
    if not info.is_alive():
        raise info.failure("server is gone", model)
    info.check_model(model)
    return info
