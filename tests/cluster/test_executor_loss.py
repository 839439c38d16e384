"""An executor lost in the middle of a Triton inference job, on the fixture cluster: Spark runs
the lost tasks again on the executor that replaces it, which starts its own server; every row
comes back once, equal to the model; the dead executor's server stops by itself (its owner
watchdog) and nothing is left. About 1.5 minutes on a busy 2-core machine, so not in CI:
``make test-executor-loss`` (DL_TEST_EXECUTOR_LOSS=1). The late start itself is tested in CI by
tests/unit/servers/test_triton.py::test_executor_added_later_starts_one_server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SUPPORT = Path(__file__).resolve().parents[1] / "support"
ROWS, PARTITIONS = 1200, 24


def _run_folders_left(cluster, manager_id: str) -> list[str]:
    """The manager's run folders still on the workers (each worker's /tmp is its own: read it
    through a worker process's view of the file system)."""
    from dl_helpers.servers._run_folder import root_dir

    left = []
    for proc in cluster.procs[1:]:  # the workers (procs[0] is the master)
        folder = Path(f"/proc/{proc.pid}/root") / str(root_dir()).lstrip("/") / manager_id
        if folder.exists():
            left.extend(str(p) for p in folder.iterdir())
    return left


@pytest.mark.spark
@pytest.mark.triton
@pytest.mark.cluster
def test_executor_killed_during_triton_job(request, no_server_left):
    if os.environ.get("DL_TEST_EXECUTOR_LOSS") != "1":
        pytest.skip("an executor killed during a Triton job: set DL_TEST_EXECUTOR_LOSS=1")
    cluster = request.getfixturevalue("cluster")  # not started for a skipped test
    from dl_helpers.servers._base import STOP_GRACE_S
    from dl_helpers.servers._serve import OWNER_POLL_S

    proc = subprocess.run(
        [
            sys.executable,
            str(SUPPORT / "fault_driver.py"),
            cluster.master,
            str(cluster.shared / "executor_loss"),
            str(ROWS),
            str(PARTITIONS),
        ],
        capture_output=True,
        text=True,
        timeout=420,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-4000:] + proc.stderr[-4000:]
    r = json.loads(lines[-1][len("RESULT ") :])
    print(json.dumps(r, indent=1))

    # The kill landed mid-job: some batches were answered before it, the job went on after it.
    assert r["killed_after_batches"] >= 4 and r["killed_server_processes"] >= 2, r
    # Every row exactly once, equal to the model.
    assert r["rows"] == ROWS and r["distinct_ids"] == ROWS and r["ids_ok"], r
    assert r["mismatches"] == 0, r
    # A new executor replaced the lost one and its tasks were answered by a server it started.
    assert len(r["executors_after"]) == 2 and r["executors_after"] != r["first_executors"], r
    late = set(r["answered_by"]) - set(r["first_pids"])
    assert late, f"no row answered by a server of the replacing executor: {r}"
    assert r["killed_server_pid"] not in set(r["answered_by"]) - set(r["first_pids"])
    # The dead executor's server (all its processes) stopped within the watchdog's bound.
    assert r["orphan_left"] == [], r
    assert r["orphan_gone_s"] <= OWNER_POLL_S + STOP_GRACE_S + 2, r
    # stop() found the late server too: no run folder left on any worker (and no process:
    # the no_server_left fixture).
    assert _run_folders_left(cluster, r["manager_id"]) == []
