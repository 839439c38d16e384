"""Which model-server processes of this test run are alive: every process of a dl_helpers
server (the detached server process and all its children: tritonserver, stubs, an inference
engine) carries ``DL_HELPERS_SERVER`` in its environment, and this run's servers also carry the
run's ``DL_HELPERS_SERVERS_DIR`` (set by conftest, whose ``no_server_left`` fixture fails a test
that leaves one running). Also: a process's tree, which of some processes still run, what they
listen on."""

from __future__ import annotations

import os

from dl_helpers.servers._run_folder import ROOT_ENV
from dl_helpers.servers._serve import SERVER_ENV


def server_processes() -> list[str]:
    """'pid command' of this run's live server processes."""
    import psutil

    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            env = p.environ()
            if SERVER_ENV in env and env.get(ROOT_ENV) == os.environ.get(ROOT_ENV):
                if p.status() != psutil.STATUS_ZOMBIE:
                    found.append(f"{p.pid} {' '.join(p.info['cmdline'] or [])[:120]}")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def process_tree(pid: int) -> list:
    """The process and everything under it, as ``psutil.Process`` objects."""
    import psutil

    p = psutil.Process(pid)
    return [p] + p.children(recursive=True)


def running(procs) -> list[str]:
    """'pid name' of those of ``procs`` (``psutil.Process``) that still run (zombies do not)."""
    import psutil

    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(f"{p.pid} {p.name()}")
        except psutil.NoSuchProcess:
            pass
    return out


def alive(pid: int) -> bool:
    """Whether the process runs (not a zombie); one that exits while looked at does not."""
    import psutil

    try:
        return bool(running([psutil.Process(pid)]))
    except psutil.NoSuchProcess:
        return False


def listen_addresses(pids) -> set[str]:
    """Addresses the processes listen on (an IPv4-mapped IPv6 address, as gRPC binds
    127.0.0.1, is shown as its IPv4 address)."""
    import ipaddress

    import psutil

    pids = set(pids)
    out = set()
    for c in psutil.net_connections(kind="inet"):
        if c.status == psutil.CONN_LISTEN and c.pid in pids:
            ip = ipaddress.ip_address(c.laddr.ip.split("%")[0])
            out.add(str(getattr(ip, "ipv4_mapped", None) or ip))
    return out
