"""The Spark side of the lifecycle: one barrier task per executor, to start or to stop servers.

Run from the driver. Each job runs n barrier tasks with a task resource profile asking for all
of an executor's cores and GPUs, so that no executor gets two; a job that cannot get its slots
is cancelled after a timeout instead of hanging. Both stop paths (a manager's ``stop()`` and
``stop_all_servers``) run the same stop job.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator

from dl_helpers.servers.errors import ServerError
from dl_helpers.servers.info import ServerInfo
from dl_helpers.servers.kind import ServerKind
from dl_helpers.servers.launcher import LaunchSettings, launch_server, stop_local_servers
from dl_helpers.servers.processes import executor_identity

log = logging.getLogger(__name__)

JOB_SLACK_S = 120.0  # a start job may take this long beyond the servers' start timeout


def is_local(sc) -> bool:
    m = sc.master.lower()
    return m.startswith("local") and not m.startswith("local-cluster")


def _task_gpus() -> list[str]:
    from pyspark import TaskContext

    ctx = TaskContext.get()
    res = ctx.resources() if ctx is not None else {}
    return list(res["gpu"].addresses) if "gpu" in res else []


def _start_task(kind: ServerKind, launch: LaunchSettings, manager_id: str) -> Iterator[str]:
    """In a barrier task: start this executor's server, report as JSON."""
    ident = None
    try:
        ident = executor_identity()
        info = launch_server(kind, launch, manager_id, ident,
                             owner=(ident.jvm_pid, ident.jvm_start), gpus=_task_gpus())  # fmt: skip
        yield json.dumps({"ok": True, "info": dataclasses.asdict(info)})
    except BaseException as e:
        yield json.dumps({"ok": False, "executor": ident.describe() if ident else "?",
                          "error": f"{type(e).__name__}: {e}"})  # fmt: skip


def _stop_task(manager_id: str | None) -> Iterator[str]:
    """In a barrier task: stop this executor's servers (of one manager, or all), report as JSON."""
    try:
        ident = executor_identity()
        found = stop_local_servers(manager_id, ident)
        yield json.dumps({"ok": True, "executor": ident.describe(), "found": found})
    except BaseException as e:
        yield json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"})


def expected_executors(sc, num_executors: int | None) -> int | None:
    if num_executors:
        return int(num_executors)
    m = re.match(r"local-cluster\[\s*(\d+)\s*,", sc.master)
    if m:
        return int(m.group(1))
    conf = sc.getConf()
    if conf.get("spark.dynamicAllocation.enabled", "false").lower() == "true":
        return None
    n = conf.get("spark.executor.instances")
    return int(n) if n else None


def executors(sc) -> list[dict]:
    """Registered, active executors (not the driver): id, host, cores."""
    out = []
    try:
        it = sc._jsc.sc().statusStore().executorList(True).iterator()
    except Exception as e:  # py4j access restricted (some managed clusters): block managers
        log.debug("executor list unavailable (%s): counting block managers", e)
        cores = int(sc.getConf().get("spark.executor.cores", "1"))
        # One block manager per executor, plus the driver's.
        n = int(sc._jsc.sc().getExecutorMemoryStatus().size()) - 1
        return [{"id": "?", "host": "?", "cores": cores} for _ in range(n)]
    while it.hasNext():
        e = it.next()
        if e.id() == "driver":
            continue
        out.append({"id": e.id(), "host": e.hostPort(), "cores": int(e.totalCores())})
    return out


def wait_for_executors(sc, expected: int | None, timeout_s: float) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        last = executors(sc)
        if expected is not None and len(last) >= expected:
            return last
        if expected is None and last:
            time.sleep(2)  # let executors that start together register
            return executors(sc)
        if time.monotonic() > deadline:
            raise ServerError(
                f"waited {timeout_s:.0f} s for {expected or 'any'} executors, "
                f"{len(last)} registered: {[e['id'] for e in last]}"
            )
        time.sleep(0.5)


class _JobTimeout:
    """Run Spark jobs under a tag and cancel them after a timeout (no hang on missing slots)."""

    def __init__(self, sc, timeout_s: float, what: str):
        self.sc, self.timeout_s, self.what = sc, timeout_s, what
        self.tag = f"dl-helpers-servers-{uuid.uuid4().hex[:8]}"
        self.fired = False

    def __enter__(self):
        if not hasattr(self.sc, "addJobTag"):  # PySpark < 3.5: no job tags, no timeout
            self.timer = threading.Timer(0, lambda: None)
            return self
        self.sc.addJobTag(self.tag)
        self.timer = threading.Timer(self.timeout_s, self._cancel)
        self.timer.daemon = True
        self.timer.start()
        return self

    def _cancel(self):
        self.fired = True
        self.sc.cancelJobsWithTag(self.tag)

    def __exit__(self, exc_type, exc, tb):
        self.timer.cancel()
        if hasattr(self.sc, "removeJobTag"):
            self.sc.removeJobTag(self.tag)
        if exc is not None and self.fired:
            raise ServerError(
                f"{self.what} did not finish in {self.timeout_s:.0f} s and was cancelled "
                "(were all executors free? a barrier stage needs one free slot per executor)"
            ) from exc
        return False


def gpus_per_executor(sc) -> float:
    amount = sc.getConf().get("spark.executor.resource.gpu.amount")
    return float(amount) if amount else 0.0


def per_executor_job(sc, n: int, fn: Callable, cores: int, gpus: float, timeout_s: float,
                     what: str) -> list:  # fmt: skip
    """Run ``fn`` once per executor: n barrier tasks, each claiming a whole executor."""
    from pyspark.resource import ResourceProfileBuilder, TaskResourceRequests

    rdd = sc.parallelize(range(n), n).barrier().mapPartitions(lambda _: fn())
    req = TaskResourceRequests().cpus(max(1, cores))
    if gpus:
        req = req.resource("gpu", gpus)
    with _JobTimeout(sc, timeout_s, what):
        try:
            return rdd.withResources(ResourceProfileBuilder().require(req).build).collect()
        except Exception as e:
            msg = str(e)
            if (
                "TaskResourceProfiles are only supported" not in msg
                and "ResourceProfiles are only supported" not in msg
            ):
                raise
            # No stage-level scheduling here (e.g. dynamic allocation on): a plain barrier stage
            # still runs the n tasks at once; the caller checks they landed on n executors.
            log.warning(
                "stage-level scheduling unavailable (%s); using a plain barrier stage",
                msg.splitlines()[0][:200],
            )
            rdd = sc.parallelize(range(n), n).barrier().mapPartitions(lambda _: fn())
            return rdd.collect()


def start_on_executors(sc, kind: ServerKind, launch: LaunchSettings, manager_id: str,
                       num_executors: int | None) -> dict[str, ServerInfo]:  # fmt: skip
    """Start one server per executor; returns ``{executor key: ServerInfo}``.

    Raises :class:`ServerError` naming every executor whose server failed; the caller stops
    those that did start (the stop job finds them by manager id).
    """
    conf = sc.getConf()
    if conf.get("spark.dynamicAllocation.enabled", "false").lower() == "true":
        log.warning(
            "dynamic allocation is on: executors added later have no %s server (their tasks "
            "fail with a clear error); turn it off for model servers",
            kind.display,
        )
    execs = wait_for_executors(sc, expected_executors(sc, num_executors), launch.start_timeout_s)
    results = per_executor_job(
        sc,
        len(execs),
        lambda: _start_task(kind, launch, manager_id),
        min(e["cores"] for e in execs),
        gpus_per_executor(sc),
        launch.start_timeout_s + JOB_SLACK_S,
        f"starting {kind.display} servers on {len(execs)} executors",
    )
    parsed = [json.loads(r) for r in results]
    servers: dict[str, ServerInfo] = {}
    for r in parsed:
        if r["ok"]:
            info = dict(r["info"], models=tuple(r["info"]["models"]))
            servers[info["executor"]] = ServerInfo(**info)
    failed = [r for r in parsed if not r["ok"]]
    if failed:
        raise ServerError(
            f"{kind.display} servers failed to start on {len(failed)} of {len(parsed)} "
            "executors:\n" + "\n".join(f"- {r['executor']}: {r['error']}" for r in failed)
        )
    if len(servers) != len(execs):
        raise ServerError(
            f"{len(execs)} start tasks reached only {len(servers)} distinct executors "
            f"({sorted(servers)}); set spark.executor.cores so that one task per executor "
            "takes all its cores"
        )
    return servers


def stop_on_executors(sc, manager_id: str | None, timeout_s: float, what: str) -> list:
    """Stop the servers of ``manager_id`` (every manager's if None) on every executor; returns
    what was found. The one stop job of both stop paths."""
    if sc._jsc is None:
        log.warning("SparkContext already stopped: the executors, and with them their servers, "
                    "are gone or going")  # fmt: skip
        return []
    execs = executors(sc)
    if not execs:
        return []
    results = per_executor_job(
        sc,
        len(execs),
        lambda: _stop_task(manager_id),
        min(e["cores"] for e in execs),
        gpus_per_executor(sc),
        timeout_s,
        what,
    )
    parsed = [json.loads(r) for r in results]
    errors = [r["error"] for r in parsed if not r["ok"]]
    if errors:
        raise ServerError(f"{what} failed: {errors}")
    return [f for r in parsed for f in r.get("found", [])]
