"""The executors of a session: how many to expect, waiting for them, and which ones a job reaches.

Written once for the shared-storage check and the model servers. A classic session asks the
driver's status store; a Spark Connect session cannot see the driver, so a short job of a few
tasks per core reports the executors its tasks ran on (:func:`spread_job`).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from dl_helpers.session._environment import LOCAL, master_kind
from dl_helpers.session._spark import (
    context_or_none,
    default_parallelism,
    is_connect,
    session_master,
)

log = logging.getLogger(__name__)


def conf_or(spark, key: str, default: str | None = None) -> str | None:
    """A Spark setting, or ``default`` (a Connect server may refuse to show some settings)."""
    try:
        return spark.conf.get(key, default)
    except Exception:
        return default


def is_local_mode(spark) -> bool:
    """``local[...]``: the driver is the only executor (``local-cluster`` has real executors)."""
    return master_kind(session_master(spark)) == LOCAL


def expected_executors(spark, num_executors: int | None = None) -> int | None:
    """Executors the application will have: ``num_executors`` if given, the N of
    ``local-cluster[N,...]``, else ``spark.executor.instances``; None when unknown (not set, or
    dynamic allocation on)."""
    if num_executors:
        return int(num_executors)
    m = re.match(r"local-cluster\[\s*(\d+)\s*,", session_master(spark))
    if m:
        return int(m.group(1))
    if (conf_or(spark, "spark.dynamicAllocation.enabled") or "false").lower() == "true":
        return None
    n = conf_or(spark, "spark.executor.instances")
    return int(n) if n else None


def spread_job(spark, task: Callable[[], dict], schema: str, tasks: int | None = None) -> list:
    """Run ``task()`` (returns one row as a dict) in ``tasks`` short tasks that spread over the
    executors; returns the rows. Each task holds its slot a moment, so that every free slot
    takes some."""
    import pandas as pd

    def run(batches) -> Iterator:
        for _ in batches:
            pass
        time.sleep(0.3)
        yield pd.DataFrame({k: [v] for k, v in task().items()})

    n = tasks or max(4, 3 * default_parallelism(spark))
    return spark.range(n, numPartitions=n).mapInPandas(run, schema).collect()


def _identity_row() -> dict:
    from dl_helpers.servers._base import executor_identity

    ident = executor_identity()
    return {
        "key": ident.key,
        "id": ident.executor_id,
        "host": ident.host,
        "cores": ident.cores or 0,
    }


def _probed_executors(spark) -> list[dict]:
    rows = spread_job(spark, _identity_row, "key string, id string, host string, cores int")
    found = {r.key: {"id": r.id, "host": r.host, "cores": int(r.cores) or None} for r in rows}
    out = [e for e in found.values() if e["id"] != "driver"]
    cores = conf_or(spark, "spark.executor.cores")
    for e in out:
        e["cores"] = e["cores"] or int(cores or 1)
    return out


def executors(spark) -> list[dict]:
    """Registered, active executors (not the driver): ``[{"id", "host", "cores"}]``."""
    sc = context_or_none(spark)
    if sc is None:
        return _probed_executors(spark)
    try:
        it = sc._jsc.sc().statusStore().executorList(True).iterator()
    except Exception as e:  # py4j access restricted (some managed clusters): block managers
        log.debug("executor list unavailable (%s): counting block managers", e)
        cores = int(sc.getConf().get("spark.executor.cores", "1"))
        n = int(sc._jsc.sc().getExecutorMemoryStatus().size()) - 1  # minus the driver's
        return [{"id": "?", "host": "?", "cores": cores} for _ in range(n)]
    out = []
    while it.hasNext():
        e = it.next()
        if e.id() != "driver":
            out.append({"id": e.id(), "host": e.hostPort(), "cores": int(e.totalCores())})
    return out


def wait_for_executors(spark, expected: int | None = None, timeout_s: float = 60.0) -> list[dict]:
    """Wait until ``expected`` executors have registered (None: any, then those that start
    with them); returns them. Raises ``TimeoutError`` naming how many came."""
    deadline = time.monotonic() + timeout_s
    while True:
        last = executors(spark)
        if expected is not None and len(last) >= expected:
            return last
        if expected is None and last:
            if is_connect(spark):
                return last  # the probe itself took time: executors that start together are in
            time.sleep(2)  # let executors that start together register
            return executors(spark)
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"waited {timeout_s:.0f} s for {expected or 'any'} executors, "
                f"{len(last)} registered: {[e['id'] for e in last]}"
            )
        time.sleep(0.5)


@dataclass(frozen=True)
class ExecutorGpus:
    """The GPUs one executor's tasks see: the addresses Spark assigned to the task
    (``spark.task.resource.gpu.amount``), ``CUDA_VISIBLE_DEVICES`` and the devices' names."""

    executor: str
    host: str
    addresses: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    cuda_visible_devices: str | None = None

    def __str__(self) -> str:
        where = f"executor {self.executor} on {self.host}"
        if not self.addresses and not self.names:
            return f"{where}: no GPU"
        if not self.addresses:
            return f"{where}: no GPU assigned by Spark; the host has {', '.join(self.names)}"
        named = [
            f"GPU {a} ({self.names[int(a)]})" if a.isdigit() and int(a) < len(self.names) else a
            for a in self.addresses
        ]
        return f"{where}: {', '.join(named)}"


@lru_cache(maxsize=1)
def _gpu_names() -> tuple[str, ...]:
    """The names of this host's NVIDIA GPUs, in index order (empty without nvidia-smi); asked
    once per Python worker, not once per task."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return ()
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(line.strip() for line in out.splitlines() if line.strip())


def _gpu_row() -> dict:
    from pyspark import TaskContext

    from dl_helpers.servers._base import executor_identity

    ident = executor_identity()
    ctx = TaskContext.get()
    gpu = ctx.resources().get("gpu") if ctx is not None else None
    return {
        "key": ident.key,
        "id": ident.executor_id,
        "host": ident.host,
        "addresses": ",".join(gpu.addresses) if gpu is not None else "",
        "names": "\n".join(_gpu_names()),
        "visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


def executor_gpus(spark) -> list[ExecutorGpus]:
    """Which GPUs each executor's tasks see, from one short job (also on Spark Connect).

    Prints as ``executor 1 on node-1: GPU 0 (NVIDIA H100 80GB HBM3)``, or ``... : no GPU`` on a
    CPU executor. On a GPU cluster every executor should list the GPU Spark gave its tasks; one
    without is a cluster whose ``spark.executor.resource.gpu.amount`` or discovery script is
    missing (see :func:`check_cluster_conf`).
    """
    schema = "key string, id string, host string, addresses string, names string, visible string"
    found: dict[str, ExecutorGpus] = {}
    for r in spread_job(spark, _gpu_row, schema):
        addresses = tuple(sorted({a for a in (r.addresses or "").split(",") if a}))
        prior = found.get(r.key)
        if prior is not None:
            addresses = tuple(sorted(set(prior.addresses) | set(addresses)))
        names = tuple(n for n in (r.names or "").split("\n") if n)
        found[r.key] = ExecutorGpus(r.id, r.host, addresses, names, r.visible)
    return sorted(found.values(), key=lambda e: (e.host, e.executor))
