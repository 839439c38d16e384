"""Starting and stopping servers on this machine (the driver in local mode, a start or stop
task on a cluster executor): one run folder and one detached server process per executor and
manager. Usage: ``launch_server(kind, settings, manager_id, identity, owner)``,
``stop_local_servers(manager_id, identity)``."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Sequence
from pathlib import Path

from dl_helpers.servers._base import (
    ExecutorIdentity,
    ServerError,
    ServerInfo,
    ServerKind,
    alive,
    log_tail,
    terminate,
)
from dl_helpers.servers._run_folder import (
    read_json,
    remove_manager_folder,
    remove_run,
    remove_workspace,
    root_dir,
    run_lock,
    tag,
    unlink_lock,
    write_json,
)
from dl_helpers.servers._serve import SERVER_ENV

log = logging.getLogger(__name__)

DEFAULT_ADDRESS = "127.0.0.1"
STATUS_WAIT_S = 30.0  # a server process that wrote no status by then is not going to


@dataclasses.dataclass
class LaunchSettings:
    """How servers of one manager are started (plain data, picklable)."""

    address: str = DEFAULT_ADDRESS
    port: int | None = None  # requested port; None: any free one
    token: str | None = dataclasses.field(default=None, repr=False)
    server_env: dict = dataclasses.field(default_factory=dict)
    start_timeout_s: float = 180.0
    port_attempts: int = 4


def free_port(address: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def library_path(existing: str | None) -> str:
    """LD_LIBRARY_PATH with this interpreter's LIBDIR first, exactly once (the PyTriton stub
    otherwise loads a mismatched system libpython)."""
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    parts = [p for p in (existing or "").split(os.pathsep) if p and p != libdir]
    return os.pathsep.join(([libdir] if libdir else []) + parts)


def python_path(existing: str | None) -> str:
    """PYTHONPATH for the server: this process's sys.path (e.g. a zip from addPyFile)."""
    seen: list[str] = []
    for p in [os.getcwd() if p == "" else p for p in sys.path] + (existing or "").split(os.pathsep):
        if p and p not in seen and os.path.exists(p):
            seen.append(p)
    return os.pathsep.join(seen)


def _pickler():
    try:
        from pyspark import cloudpickle
    except ImportError:  # pragma: no cover - pyspark is always there when Spark runs this
        import cloudpickle
    return cloudpickle


def launch_server(
    kind: ServerKind,
    launch: LaunchSettings,
    manager_id: str,
    identity: ExecutorIdentity,
    owner: tuple[int, float],
    gpus: Sequence[str] | None = None,
) -> ServerInfo:
    """Start (or find, if this manager already has one here) the server for ``identity``.

    ``owner`` is (pid, start time) of the process whose death must stop the server. Raises
    :class:`ServerError` with the server's log tail if it does not become ready.
    """
    base = root_dir() / manager_id
    run_dir = base / tag(identity.key)
    with run_lock(base, run_dir.name, create=True):  # two start tasks on one executor: one server
        existing = read_json(run_dir / "status.json") if run_dir.exists() else None
        if (
            existing
            and existing.get("state") == "ready"
            and existing.get("info")
            and alive(existing["pid"], existing["pid_start"])
        ):
            info = dict(existing["info"], token=launch.token)
            info["models"] = tuple(info["models"])
            return ServerInfo(**info)
        if run_dir.exists():
            remove_run(run_dir, existing)
        run_dir.mkdir(mode=0o700)
        return _launch_locked(kind, launch, identity, owner, list(gpus or []), run_dir)


def _server_env(kind: ServerKind, launch: LaunchSettings, gpus: list[str]) -> dict:
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = library_path(env.get("LD_LIBRARY_PATH"))
    env["PYTHONPATH"] = python_path(env.get("PYTHONPATH"))
    env["PYTHONUNBUFFERED"] = "1"
    env[SERVER_ENV] = kind.display
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
    env.update({k: str(v) for k, v in launch.server_env.items()})
    return env


def _launch_locked(kind, launch, identity, owner, gpus, run_dir: Path) -> ServerInfo:
    """Start the server process and wait until it is ready. Ports come from the kernel (bind to
    port 0); a server that still fails to bind (the port was taken meanwhile, or a requested
    port is busy), or fails in another transient way its kind names, is started again on
    another port, up to ``port_attempts`` times."""
    env = _server_env(kind, launch, gpus)
    token = launch.token if kind.supports_token else None
    errors = []
    for attempt in range(1, launch.port_attempts + 1):
        # A requested port is tried first; any later attempt takes a port the kernel says is free.
        port = launch.port if (attempt == 1 and launch.port) else free_port(launch.address)
        spec = {
            "kind": kind,
            "address": launch.address,
            "port": port,
            "token": token,
            "gpus": gpus,
            "owner_pid": owner[0],
            "owner_start": owner[1],
        }
        with open(run_dir / "spec.pkl", "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            _pickler().dump(spec, f)
        status_path = run_dir / "status.json"
        status_path.unlink(missing_ok=True)
        log_path = run_dir / f"server-{attempt}.log"
        t0 = time.monotonic()
        launcher = _spawn(run_dir, log_path, env)
        try:
            launcher.wait(timeout=60)
            state = _wait_ready(kind, status_path, log_path, launch.start_timeout_s, identity, t0)
        except BaseException:
            st = read_json(status_path) or {}
            if st.get("pid"):
                terminate(st["pid"], st.get("pid_start"), grace_s=5)
                remove_workspace(st)
            raise
        if state["state"] == "ready":
            info = ServerInfo(
                executor=identity.key,
                executor_name=identity.describe(),
                host=identity.host,
                pid=state["pid"],
                pid_start=state["pid_start"],
                protocol=kind.protocol,
                address=launch.address,
                port=port,
                models=tuple(state["models"]),
                log_path=str(log_path),
                run_dir=str(run_dir),
                token=token,
                kind=kind.display,
            )
            _record(status_path, state, info)
            log.info(
                "%s server for %s ready at %s in %.1f s (pid %d)",
                kind.display,
                identity.describe(),
                info.url,
                time.monotonic() - t0,
                info.pid,
            )
            return info
        tail = log_tail(log_path)
        errors.append(f"attempt {attempt} (port {port}): {state.get('error')}")
        if state.get("pid"):
            terminate(state["pid"], state.get("pid_start"), grace_s=5)
        remove_workspace(read_json(status_path) or state)
        retry = kind.retry_reason(log_path.read_text("utf-8", "replace"))
        if retry and attempt < launch.port_attempts:
            log.warning(
                "%s server on %s: %s; starting it again", kind.display, identity.host, retry
            )
            continue
        raise ServerError(
            f"{kind.display} server for {identity.describe()} failed to start: "
            f"{'; '.join(errors)}\n--- server log {log_path} (last lines) ---\n{tail}"
        )
    raise AssertionError("unreachable")  # pragma: no cover


def _spawn(run_dir: Path, log_path: Path, env: dict) -> subprocess.Popen:
    """The server process, in a session of its own; it forks away at once (``--detach``)."""
    with open(log_path, "ab") as logf:
        return subprocess.Popen(
            [sys.executable, "-m", "dl_helpers.servers._serve", str(run_dir), "--detach"],
            cwd=run_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )


def _record(status_path: Path, state: dict, info: ServerInfo) -> None:
    """Keep the ready server's info (without its token) in its status, for a second start
    task of the same executor to find."""
    record = dict(dataclasses.asdict(info), token=None)
    write_json(status_path, dict(read_json(status_path) or state, info=record))


def _wait_ready(kind, status_path: Path, log_path: Path, timeout_s: float, identity, t0) -> dict:
    deadline = t0 + timeout_s
    while True:
        st = read_json(status_path)
        if st:
            if st.get("state") in ("ready", "failed"):
                return st
            if st.get("pid") and not alive(st["pid"], st.get("pid_start")):
                time.sleep(0.3)  # let a final status write land
                st = read_json(status_path) or st
                if st.get("state") in ("ready", "failed"):
                    return st
                return dict(st, state="failed", error="server process exited while starting")
        elif time.monotonic() - t0 > STATUS_WAIT_S:
            why = f"server process wrote no status in {STATUS_WAIT_S:.0f} s"
            return {"state": "failed", "error": why}
        if time.monotonic() > deadline:
            if st and st.get("pid"):
                terminate(st["pid"], st.get("pid_start"), grace_s=5)
                remove_workspace(st)
            raise ServerError(
                f"{kind.display} server for {identity.describe()} was not ready after "
                f"{timeout_s:.0f} s (start_timeout_s)\n--- server log {log_path} (last lines) "
                f"---\n{log_tail(log_path)}"
            )
        time.sleep(0.1)


def stop_local_servers(manager_id: str | None, identity: ExecutorIdentity | None = None) -> list:
    """Stop servers on this machine: of ``manager_id`` (all managers if None), for
    ``identity``'s executor (any executor if None), plus any whose owner is gone.

    Returns [(executor tag, pid, was running)] for the servers found. Safe with any number of
    executors of this host stopping (or starting) at once: see :func:`run_lock`.
    """
    root = root_dir()
    bases = [root / manager_id] if manager_id else [p for p in _entries(root) if p.is_dir()]
    found = []
    for base in bases:
        runs = sorted((p for p in _entries(base) if p.is_dir()), key=lambda p: p.name)
        # This executor's own servers first, waiting for their lock (a start task may still be
        # launching one); another's only if its lock is free: a held one is being started or
        # stopped by its own executor, which also removes it.
        mine = [p for p in runs if identity is None or p.name == tag(identity.key)]
        others = [p for p in runs if p not in mine]
        for run_dir, own in [(p, True) for p in mine] + [(p, False) for p in others]:
            found.extend(_stop_run(base, run_dir, own))
        for lock_path in [p for p in _entries(base) if p.suffix == ".lock"]:
            if not (base / lock_path.stem).exists():  # a lock a failed start left
                with run_lock(base, lock_path.stem, create=False, wait=False) as held:
                    if held and not (base / lock_path.stem).exists():
                        unlink_lock(base, lock_path.stem)
        remove_manager_folder(base)
    return found


def _entries(folder: Path) -> list[Path]:
    """A folder's entries; none if another executor's stop removed it meanwhile."""
    try:
        return list(folder.iterdir())
    except FileNotFoundError:
        return []


def _stop_run(base: Path, run_dir: Path, own: bool) -> list:
    """Stop one run folder's server if it is ``own`` or its owner is gone; remove the folder."""
    with run_lock(base, run_dir.name, create=False, wait=own) as held:
        if not held:
            return []
        if not run_dir.exists():  # stopped by another executor meanwhile
            unlink_lock(base, run_dir.name)
            return []
        st = read_json(run_dir / "status.json") or {}
        pid = st.get("pid")
        if not (own or not pid or not alive(st.get("owner_pid"), st.get("owner_start"))):
            return []
        was = bool(pid) and terminate(pid, st.get("pid_start"))
        remove_run(run_dir, st)
        unlink_lock(base, run_dir.name)
        return [(run_dir.name, pid, was)]


def stop_started(servers: list) -> None:
    """Interpreter exit or garbage collection: stop these (pid, start, run_dir) servers."""
    for pid, start, run_dir in servers:
        with contextlib.suppress(Exception):
            terminate(pid, start, grace_s=10)
            remove_run(Path(run_dir), read_json(Path(run_dir) / "status.json"))
