"""A Spark Connect session on a real Connect server started in the client's process (local[2]):
the session's settings, loopback binding, input checks, the model-server lifecycle, and
SparkProgress and run_chunked (the classic tests' own functions and Connect-only cases) — the
scenarios of tests/support/connect_jobs_driver.py, run in a process of their own (a process holds
one
kind of session, and the test run's is classic).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from connect_jobs_driver import SCENARIOS

pytestmark = [pytest.mark.spark, pytest.mark.triton]

ROOT = Path(__file__).resolve().parents[2]


def group_members(pgid: int) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter():
        try:
            if os.getpgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except (psutil.NoSuchProcess, ProcessLookupError):
            continue
    return found


@pytest.fixture(scope="module")
def connect_run(tmp_path_factory):
    """Every scenario's result from one driver run: (name -> {"ok", "error", "seconds"}, exit
    status, log tail, processes of the driver still running a while after it exited)."""
    work = tmp_path_factory.mktemp("connect_jobs")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "support" / "connect_jobs_driver.py"), str(work)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: its JVM and workers, to check and kill
    )
    try:
        out, err = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    left = group_members(proc.pid)
    deadline = time.monotonic() + 30
    while left and time.monotonic() < deadline:  # the JVM and workers exit after the driver
        time.sleep(0.5)
        left = group_members(proc.pid)
    if left:
        os.killpg(proc.pid, signal.SIGKILL)
    results = {}
    for line in out.splitlines():
        if line.startswith("RESULT "):
            r = json.loads(line[len("RESULT ") :])
            results[r["name"]] = r
    return results, proc.returncode, (out + err)[-4000:], [p.pid for p in left]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_on_spark_connect(connect_run, name):
    results, rc, log, _ = connect_run
    assert name in results, f"the Connect driver gave no result for {name} (exit {rc}):\n{log}"
    assert results[name]["ok"], results[name]["error"]


def test_driver_exits_cleanly(connect_run):
    results, rc, log, left = connect_run
    assert rc == 0 and set(results) == set(SCENARIOS), log
    assert not left, f"processes of the Connect driver still running: {left}"
