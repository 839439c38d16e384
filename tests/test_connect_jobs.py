"""SparkProgress and run_chunked on a Spark Connect session (a real Connect server on local[2]):
the classic tests' own functions and the Connect-only cases of tests/connect_jobs_driver.py, run
in a process of their own (a process holds one kind of session, and the test run's is classic).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from connect_jobs_driver import SCENARIOS

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def connect_run(tmp_path_factory):
    """Every scenario's result from one driver run: name -> {"ok", "error", "seconds"}."""
    work = tmp_path_factory.mktemp("connect_jobs")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "connect_jobs_driver.py"), str(work)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    results = {}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            r = json.loads(line[len("RESULT ") :])
            results[r["name"]] = r
    log = (proc.stdout + proc.stderr)[-4000:]
    return results, proc.returncode, log


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_on_spark_connect(connect_run, name):
    results, rc, log = connect_run
    assert name in results, f"the Connect driver gave no result for {name} (exit {rc}):\n{log}"
    assert results[name]["ok"], results[name]["error"]


def test_driver_exits_cleanly(connect_run):
    results, rc, log = connect_run
    assert rc == 0 and set(results) == set(SCENARIOS), log
