"""Which model-server processes of this test run are alive: every process of a dl_helpers
server (the detached server process and all its children: tritonserver, stubs, an inference
engine) carries ``DL_HELPERS_SERVER`` in its environment, and this run's servers also carry the
run's ``DL_HELPERS_TRITON_DIR`` (set by conftest). ``no_server_left`` fails a test that leaves
one running."""

from __future__ import annotations

import os
import time

import pytest

from dl_helpers.servers.run_folder import ROOT_ENV
from dl_helpers.servers.serve import SERVER_ENV


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


@pytest.fixture
def no_server_left():
    before = set(server_processes())
    yield
    deadline = time.monotonic() + 30
    left = set(server_processes()) - before
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = set(server_processes()) - before
    assert not left, f"server processes left running: {sorted(left)}"
