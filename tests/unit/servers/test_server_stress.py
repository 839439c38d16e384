"""Stress: start/stop cycles of every server kind on three executors of one host, while a
second application on the same host starts and stops its own servers (``DL_STRESS=1``;
``make stress``). Slow, so not part of ``make test``."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from driver_process import gpu_discovery_script, read_line, start_driver
from server_processes import server_processes
from tiny_llm import tiny_model  # noqa: F401  (a fixture)

from dl_helpers.servers._run_folder import ROOT_ENV

SUPPORT = Path(__file__).resolve().parents[2] / "support"
DRIVER = SUPPORT / "stress_driver.py"
CYCLES = int(os.environ.get("DL_STRESS_CYCLES", "10"))

pytestmark = pytest.mark.skipif(
    os.environ.get("DL_STRESS") != "1",
    reason="stress test: set DL_STRESS=1 (or run `make stress`); it takes about 8 minutes",
)


def _overlaps(stops: list[dict], starts: list[dict]) -> int:
    """How many of the cluster's stops overlapped a start of the other application."""
    return sum(
        1
        for s in stops
        if any(o["start_at"] < s["end_at"] and s["stop_at"] < o["stop_at"] for o in starts)
    )


@pytest.mark.spark
@pytest.mark.triton
@pytest.mark.slow
def test_start_stop_cycles_on_three_executors(tiny_model, no_server_left, tmp_path):  # noqa: F811
    t0 = time.monotonic()
    gpu = gpu_discovery_script(tmp_path)
    stop_file = tmp_path / "stop-local-loop"
    other = start_driver(DRIVER, ["local-loop", str(stop_file)])
    seen: list[str] = []
    proc = start_driver(DRIVER, ["cycles", str(gpu), str(tiny_model), str(CYCLES)])
    try:
        res = read_line(proc, "RESULT", 3000, seen)
        stop_file.touch()
        local = read_line(other, "RESULT", 300, [])
        proc.wait(60)
        other.wait(60)
    finally:
        for p in (proc, other):
            if p.poll() is None:
                p.kill()
    recs = [r for kind in res["cycles"].values() for r in kind]
    errors = [e for r in recs + local["cycles"] for e in r["errors"]]
    left_pids = [pid for r in recs + local["cycles"] for pid in r["left"]]
    time.sleep(2)
    left_procs = server_processes()
    root = Path(os.environ[ROOT_ENV])
    left_runs = [str(p) for p in root.iterdir()] if root.exists() else []
    overlaps = _overlaps(recs, local["cycles"])
    print(
        f"\nstress: {res['executors']} executors; cycles "
        f"{ {k: len(v) for k, v in res['cycles'].items()} } on the cluster, "
        f"{len(local['cycles'])} local-mode cycles beside them ({overlaps} cluster stops "
        f"overlapped a local start); errors {len(errors)}; left: {len(left_pids)} servers after "
        f"stop, {len(left_procs)} server processes, {len(left_runs)} run folders; "
        f"{time.monotonic() - t0:.0f} s"
    )
    assert errors == [], errors[:5]
    assert all(len(v) == CYCLES for v in res["cycles"].values())
    assert left_pids == [] and left_procs == [] and left_runs == []
    assert overlaps > 0, "no stop overlapped a start of the other application"
