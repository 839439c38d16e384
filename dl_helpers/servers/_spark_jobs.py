"""The Spark side of the lifecycle: one barrier task per executor, to start or to stop servers.

Usage (by the managers): ``start_on_executors(spark, kind, settings, manager_id, n)``,
``stop_on_executors(spark, manager_id, timeout_s, what)``. DataFrame jobs, so they run the same
from a Spark Connect client."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator

from dl_helpers.servers._base import ServerError, ServerInfo, ServerKind, executor_identity
from dl_helpers.servers._launcher import LaunchSettings, launch_server, stop_local_servers
from dl_helpers.session._executors import (
    conf_or,
    executors,
    expected_executors,
    is_local_mode,
    wait_for_executors,
)
from dl_helpers.session._spark import context_or_none

log = logging.getLogger(__name__)

JOB_SLACK_S = 120.0  # a start job may take this long beyond the servers' start timeout


def session_gone(spark) -> bool:
    """True once the session (classic: its SparkContext; Connect: the client) is stopped."""
    sc = context_or_none(spark)
    if sc is not None:
        return sc._jsc is None
    return bool(getattr(spark, "is_stopped", False))


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
        info = launch_server(
            kind,
            launch,
            manager_id,
            ident,
            owner=(ident.jvm_pid, ident.jvm_start),
            gpus=_task_gpus(),
        )
        yield json.dumps({"ok": True, "info": dataclasses.asdict(info)})
    except BaseException as e:
        yield json.dumps(
            {
                "ok": False,
                "executor": ident.describe() if ident else "?",
                "error": f"{type(e).__name__}: {e}",
            }
        )


@dataclasses.dataclass(frozen=True)
class LateStart:
    """Start the server of an executor that joined after the manager started (it replaced a lost
    one, or dynamic allocation added it), from that executor's first inference task.

    The same launch as a start task's: the manager's run folder and settings, owned by the
    executor's JVM (the owner watchdog stops it when the executor goes), found by the manager's
    stop job like the others. The run-folder lock makes it one server per executor: a second
    task waits for the first's start and finds its server. GPUs: those Spark gave the task."""

    kind: ServerKind
    launch: LaunchSettings
    manager_id: str

    def __call__(self, ident) -> ServerInfo:
        log.warning(
            "%s has no %s server (it joined after the servers started): starting one",
            ident.describe(),
            self.kind.display,
        )
        owner = (ident.jvm_pid, ident.jvm_start)
        return launch_server(
            self.kind, self.launch, self.manager_id, ident, owner=owner, gpus=_task_gpus()
        )


def _stop_task(manager_id: str | None) -> Iterator[str]:
    """In a barrier task: stop this executor's servers (of one manager, or all), report as JSON."""
    try:
        ident = executor_identity()
        # Every executor's stop begins at the same moment (a barrier stage's tasks may start
        # apart): the stops of one host always overlap, so any flaw in their sharing of the run
        # folders shows on every run, not by chance.
        from pyspark import BarrierTaskContext

        BarrierTaskContext.get().barrier()
        found = stop_local_servers(manager_id, ident)
        yield json.dumps({"ok": True, "executor": ident.describe(), "found": found})
    except BaseException as e:
        yield json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"})


class _JobTimeout:
    """Run Spark jobs under a tag and cancel them after a timeout (no hang on missing slots).

    Session tags (``SparkSession.addTag`` / ``interruptTag``) work on classic and Spark Connect
    sessions alike."""

    def __init__(self, spark, timeout_s: float, what: str):
        self.spark, self.timeout_s, self.what = spark, timeout_s, what
        self.tag = f"dl-helpers-servers-{uuid.uuid4().hex[:8]}"
        self.fired = False

    def __enter__(self):
        self.spark.addTag(self.tag)
        self.timer = threading.Timer(self.timeout_s, self._cancel)
        self.timer.daemon = True
        self.timer.start()
        return self

    def _cancel(self):
        self.fired = True
        self.spark.interruptTag(self.tag)

    def __exit__(self, exc_type, exc, tb):
        self.timer.cancel()
        self.spark.removeTag(self.tag)
        if exc is not None and self.fired:
            raise ServerError(
                f"{self.what} did not finish in {self.timeout_s:.0f} s and was cancelled "
                "(were all executors free? a barrier stage needs one free slot per executor)"
            ) from exc
        return False


def gpus_per_executor(spark) -> float:
    amount = conf_or(spark, "spark.executor.resource.gpu.amount")
    return float(amount) if amount else 0.0


_NO_STAGE_LEVEL = ("TaskResourceProfiles are only supported", "ResourceProfiles are only supported")


def per_executor_job(
    spark, n: int, fn: Callable, cores: int, gpus: float, timeout_s: float, what: str
) -> list[str]:
    """Run ``fn`` (an iterator of strings) once per executor: n barrier tasks, each claiming a
    whole executor through a task resource profile.

    A DataFrame job (``mapInPandas(barrier=True, profile=...)``), so it runs the same on a
    classic session and over Spark Connect.
    """
    from pyspark.resource import ResourceProfileBuilder, TaskResourceRequests

    def task(batches):
        import pandas as pd

        for _ in batches:
            pass
        yield pd.DataFrame({"out": list(fn())})

    def run(profile):
        df = spark.range(n, numPartitions=n)
        out = df.mapInPandas(task, "out string", barrier=True, profile=profile)
        return [r.out for r in out.collect()]

    with _JobTimeout(spark, timeout_s, what):
        if is_local_mode(spark):
            return run(None)  # one executor, the driver: no slots to claim
        req = TaskResourceRequests().cpus(max(1, cores))
        if gpus:
            req = req.resource("gpu", gpus)
        try:
            return run(ResourceProfileBuilder().require(req).build)
        except Exception as e:
            msg = str(e)
            if not any(m in msg for m in _NO_STAGE_LEVEL):
                raise
            # No stage-level scheduling here (e.g. dynamic allocation on): a plain barrier stage
            # still runs the n tasks at once; the caller checks they landed on n executors.
            log.warning(
                "stage-level scheduling unavailable (%s); using a plain barrier stage",
                msg.splitlines()[0][:200],
            )
            return run(None)


def start_on_executors(
    spark, kind: ServerKind, launch: LaunchSettings, manager_id: str, num_executors: int | None
) -> dict[str, ServerInfo]:
    """Start one server per executor; returns ``{executor key: ServerInfo}``.

    Raises :class:`ServerError` naming every executor whose server failed; the caller stops
    those that did start (the stop job finds them by manager id).
    """
    if (conf_or(spark, "spark.dynamicAllocation.enabled") or "false").lower() == "true":
        log.warning(
            "dynamic allocation is on: an executor added later starts its %s server in its "
            "first inference task (that task waits for it); an executor removed takes its "
            "server with it",
            kind.display,
        )
    if is_local_mode(spark):
        execs = [{"id": "driver", "host": "driver", "cores": 1}]
    else:
        expected = expected_executors(spark, num_executors)
        try:
            execs = wait_for_executors(spark, expected, launch.start_timeout_s)
        except TimeoutError as e:
            raise ServerError(f"cannot start {kind.display} servers: {e}") from e
    results = per_executor_job(
        spark,
        len(execs),
        lambda: _start_task(kind, launch, manager_id),
        min(e["cores"] for e in execs),
        gpus_per_executor(spark),
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


def stop_on_executors(spark, manager_id: str | None, timeout_s: float, what: str) -> list:
    """Stop the servers of ``manager_id`` (every manager's if None) on every executor; returns
    what was found. The one stop job of both stop paths."""
    if session_gone(spark):
        log.warning(
            "Spark session already stopped: the executors, and with them their servers, "
            "are gone or going"
        )
        return []
    if is_local_mode(spark):
        execs = [{"id": "driver", "host": "driver", "cores": 1}]
    else:
        execs = executors(spark)
    if not execs:
        return []
    results = per_executor_job(
        spark,
        len(execs),
        lambda: _stop_task(manager_id),
        min(e["cores"] for e in execs),
        gpus_per_executor(spark),
        timeout_s,
        what,
    )
    parsed = [json.loads(r) for r in results]
    errors = [r["error"] for r in parsed if not r["ok"]]
    if errors:
        raise ServerError(f"{what} failed: {errors}")
    return [f for r in parsed for f in r.get("found", [])]
