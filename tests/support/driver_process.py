"""Driver programs of their own, for the server tests that kill the driver or need two executor
JVMs (one process holds one SparkContext): tests/support/triton_driver.py and
tests/support/llm_driver.py.

The driver side: the two-executor master and its settings (a GPU resource declared by a
discovery script, one per executor), and a UDF naming the executor a row ran on. The test side:
start a driver, read the ``PREFIX {json}`` lines it prints (in a thread: a silent driver cannot
hang the test), and SIGKILL it, timing how long its servers outlive it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from server_processes import running

# Two executor JVMs of one core on this host.
TWO_EXECUTORS = "local-cluster[2,1,1024]"


def gpu_discovery_script(folder: Path) -> Path:
    """A GPU discovery script that finds one GPU ("0"), as Spark's resource scheduling wants:
    each executor and task then claims it, as on a GPU cluster (nothing uses a real GPU)."""
    script = Path(folder) / "gpus.sh"
    script.write_text('#!/usr/bin/env bash\necho \'{"name":"gpu","addresses":["0"]}\'\n')
    script.chmod(0o755)
    return script


def gpu_executor_conf(script: str) -> dict[str, str]:
    """Settings giving each one-core executor (and each task) the one GPU of ``script``: a GPU
    cluster's settings (``dl_helpers.session.gpu_spark_conf``) plus where the GPU is found."""
    from dl_helpers.session import gpu_spark_conf

    return gpu_spark_conf(1) | {
        "spark.executor.memory": "768m",
        "spark.executor.resource.gpu.discoveryScript": script,
        "spark.worker.resource.gpu.amount": "1",
        "spark.worker.resource.gpu.discoveryScript": script,
    }


def executor_key_udf():
    """A pandas UDF giving each row the key of the executor it ran on."""
    from pyspark import cloudpickle
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    # Executors need not import this module (tests/ is not installed): pickle it by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])

    @F.pandas_udf(StringType())
    def executor_key(ids):
        import pandas as pd

        from dl_helpers.servers import executor_identity

        return pd.Series([executor_identity().key] * len(ids))

    return executor_key


def start_driver(script: Path, args: list[str]) -> subprocess.Popen:
    """Run ``script`` with this Python; its stdout and stderr come back as lines."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def read_line(proc: subprocess.Popen, prefix: str, timeout_s: float, seen: list[str]) -> dict:
    """The JSON after ``prefix`` on the driver's output; every line read is kept in ``seen``.
    Kills the driver and fails, with its traceback and last lines, if none comes in time."""
    box: dict = {}

    def reader():
        for line in proc.stdout:
            seen.append(line)
            if line.startswith(prefix + " "):
                box["v"] = json.loads(line[len(prefix) + 1 :])
                return

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    t.join(timeout_s)
    if "v" not in box:
        proc.kill()
        # A Python traceback may be followed by many lines of Spark's shutdown: show it too.
        start = next((i for i, x in enumerate(seen) if x.startswith("Traceback")), None)
        trace = "".join(seen[start : start + 40]) if start is not None else ""
        raise AssertionError(
            f"no {prefix} line from the driver in {timeout_s} s (exit {proc.poll()}):\n{trace}"
            "\n...\n" + "".join(seen[-60:])
        )
    return box["v"]


def kill_owner_and_time(proc: subprocess.Popen, servers: dict, bound_s: float) -> float:
    """SIGKILL the driver that owns ``servers`` (key -> {"tree": pids, "run_dir": ...}); fail
    unless every server process is gone within ``bound_s`` and its run folder soon after.
    Returns the seconds until the processes were gone."""
    import psutil

    procs = []
    for s in servers.values():
        for pid in s["tree"]:
            try:
                procs.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                pass
    assert running(procs), "servers not running before the owner was killed"
    proc.send_signal(signal.SIGKILL)  # no stop(), no atexit, no finalizers
    t0 = time.monotonic()
    while running(procs) and time.monotonic() - t0 < bound_s:
        time.sleep(0.2)
    elapsed = time.monotonic() - t0
    proc.wait(10)
    assert running(procs) == [], f"left {bound_s} s after the owner died"
    # An orphaned server also removes its run folder (nobody else will).
    deadline = time.monotonic() + 10
    dirs = [Path(s["run_dir"]) for s in servers.values()]
    while any(d.exists() for d in dirs) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(d.exists() for d in dirs), dirs
    return elapsed
