"""Processes: which Spark executor this is, whether a process still runs, how a server stops.

Runs everywhere (driver, Spark Python workers, the detached server process). An executor is its
JVM process (host, pid, start time); a Python worker finds it among its ancestors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import socket
from collections.abc import Sequence

from dl_helpers.servers.errors import ServerError

log = logging.getLogger(__name__)

STOP_GRACE_S = 20.0  # SIGTERM -> clean server stop; after this, SIGKILL of the process group
LOG_TAIL_LINES = 40
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
