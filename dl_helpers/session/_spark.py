"""Building a SparkSession for batch inference, on a laptop or a cluster.

``build_session()`` is what every notebook calls. It detects the platform
(:mod:`dl_helpers.session`), keeps a managed platform's own session (Databricks, Dataproc),
and otherwise starts one with the settings inference needs: Arrow on, Python workers reused,
workers started with the same interpreter as the driver, and quiet logs.

``session_settings()`` is the pure part (environment + Spark conf for a platform); it is
unit-tested without starting Spark.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from dl_helpers.session._environment import (
    DATABRICKS,
    DATAPROC,
    LOCAL,
    LOCAL_CLUSTER,
    STANDALONE,
    Platform,
    detect_platform,
)

log = logging.getLogger(__name__)

# Settings every inference session wants. Arrow moves column batches to the Python workers;
# worker reuse keeps a loaded model alive between tasks (predict_batch_udf caches it per worker).
INFERENCE_CONF: dict[str, str] = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "1024",
    "spark.python.worker.reuse": "true",
    "spark.ui.showConsoleProgress": "false",
}

# Environment for Python workers (and the servers they start): quiet TensorFlow, set once here
# so that predict functions need not; one math thread per task is set by Spark
# itself (OMP_NUM_THREADS = spark.task.cpus).
QUIET_ENV: dict[str, str] = {"TF_CPP_MIN_LOG_LEVEL": "2"}

# TensorFlow in Spark's Python workers: one thread pool of one thread per task (Spark runs a task
# per core; TF's own pools would oversubscribe them), and GPU memory taken as needed rather than
# all at start, since every task of an executor shares its GPU.
TF_WORKER_CONF: dict[str, str] = {
    "spark.executorEnv.TF_NUM_INTRAOP_THREADS": "1",
    "spark.executorEnv.TF_NUM_INTEROP_THREADS": "1",
    "spark.executorEnv.TF_FORCE_GPU_ALLOW_GROWTH": "true",
}

# glibc returns big activation buffers to the kernel after every forward pass and faults them
# in again; raising the thresholds keeps them (benchmark/RESULTS.md: faster CPU ResNet-50).
MALLOC_ENV: dict[str, str] = {
    "MALLOC_MMAP_THRESHOLD_": "33554432",
    "MALLOC_TRIM_THRESHOLD_": "68719476736",
}


@dataclass
class SessionSettings:
    """What build_session() will apply: process environment and Spark conf."""

    platform: Platform
    env: dict[str, str] = field(default_factory=dict)
    conf: dict[str, str] = field(default_factory=dict)


def _same_host(master: str) -> bool:
    host = master.split("://", 1)[-1].rsplit(":", 1)[0]
    return host in {"localhost", "127.0.0.1", socket.gethostname(), socket.getfqdn()}


def _loopback(master: str) -> bool:
    host = master.split("://", 1)[-1].rsplit(":", 1)[0]
    return host in {"localhost", "127.0.0.1"}


def session_settings(
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    python: str | None = None,
    tune_malloc: bool = False,
) -> SessionSettings:
    """Work out the environment variables and Spark conf for a new session.

    ``env`` is the process environment to read (default ``os.environ``); nothing is changed
    here. User ``conf`` always wins over the defaults.
    """
    env = os.environ if env is None else env
    python = python or sys.executable
    platform = detect_platform(env, master)
    out = SessionSettings(platform)
    out.conf.update(INFERENCE_CONF)

    worker_env = dict(QUIET_ENV)
    if tune_malloc:
        worker_env.update(MALLOC_ENV)

    if platform.managed:
        # The platform's session already exists (Databricks) or is configured by the cluster
        # (Dataproc: Python, Arrow and GPU settings come from the cluster definition).
        out.conf = {}
    else:
        # Workers on this host run the driver's interpreter, so they import the same packages.
        # On a remote cluster the executor's Python is the cluster's business: keep the user's.
        same_host = platform.name in (LOCAL, LOCAL_CLUSTER) or (
            platform.name == STANDALONE and _same_host(platform.master or "")
        )
        if same_host:
            out.env.setdefault("PYSPARK_PYTHON", env.get("PYSPARK_PYTHON", python))
            out.env.setdefault("PYSPARK_DRIVER_PYTHON", env.get("PYSPARK_DRIVER_PYTHON", python))
        if platform.name in (LOCAL, LOCAL_CLUSTER) or (
            platform.name == STANDALONE and _loopback(platform.master or "")
        ):
            # Bind the driver to loopback: no firewall prompt, no traffic off the laptop (and a
            # standalone master on loopback has its workers on this host).
            out.env["SPARK_LOCAL_IP"] = env.get("SPARK_LOCAL_IP", "127.0.0.1")
            out.conf["spark.driver.host"] = "127.0.0.1"
            out.conf["spark.driver.bindAddress"] = "127.0.0.1"
        for k, v in worker_env.items():
            out.conf[f"spark.executorEnv.{k}"] = v
    for k, v in worker_env.items():
        out.env.setdefault(k, env.get(k, v))
    if conf:
        out.conf.update({k: str(v) for k, v in conf.items()})
    return out


def build_session(
    app_name: str = "dl-inference",
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
    tune_malloc: bool = False,
    log_level: str = "ERROR",
    remote: str | None = None,
):
    """Return a SparkSession ready for batch inference.

    - Databricks: the notebook's ``spark`` session, unchanged (its conf is the cluster's; on
      shared access mode and serverless compute it is a Spark Connect session).
    - Dataproc: the active session or one built on YARN with the cluster's defaults.
    - Otherwise ``master`` (argument, else $SPARK_MASTER / $MASTER, else ``local[*]``), with
      Arrow, worker reuse and the driver's Python for workers on this host.

    ``remote`` (else $SPARK_REMOTE) asks for a Spark Connect session instead:

    - ``"sc://host:port"``: connect to a running Connect server. Only the settings a client may
      change (runtime SQL settings such as Arrow's) are applied; the rest are the server's.
    - ``"local"``: start a Connect server in this process on ``master`` (as above), with every
      setting applied, listening on loopback only (a free port, a per-process token), and
      connect to it; ``"local[4]"`` is short for ``remote="local", master="local[4]"``.

    ``conf`` entries override the defaults. ``tune_malloc`` applies the glibc allocator settings
    that speed up CPU inference of large models (see ``MALLOC_ENV``).
    """
    from pyspark.sql import SparkSession

    remote = remote if remote is not None else os.environ.get("SPARK_REMOTE") or None
    if remote and remote.startswith("local") and remote != "local":
        if master and master != remote:
            raise ValueError(
                f"remote={remote!r} names its own master; give remote='local' with "
                f"master={master!r}, or one of them"
            )
        master, remote = remote, "local"
    if remote and remote != "local" and not remote.startswith("sc://"):
        raise ValueError(
            f"remote={remote!r}: expected 'sc://host:port' (a running Spark Connect server) or "
            "'local' / 'local[N]' (start one in this process)"
        )
    settings = session_settings(master, conf, tune_malloc=tune_malloc)
    platform = settings.platform
    for k, v in settings.env.items():
        os.environ[k] = v

    if platform.name == DATABRICKS:
        spark = SparkSession.getActiveSession()
        if spark is None:  # e.g. Databricks Connect
            spark = SparkSession.builder.getOrCreate()
        log.info("Databricks detected: using the cluster's SparkSession")
        return spark

    if remote and remote.startswith("sc://"):
        return _connect_to_server(remote, app_name, settings.conf)

    # PySpark refuses a master while $SPARK_REMOTE is set, and would start a "local" server on
    # plain "local" (one core): the master given here wins, the variable is set aside meanwhile.
    saved_remote = os.environ.pop("SPARK_REMOTE", None) if remote == "local" else None
    try:
        spark = _build_classic_or_local_connect(SparkSession, app_name, platform, settings, remote)
    finally:
        if saved_remote is not None:
            os.environ["SPARK_REMOTE"] = saved_remote
    _set_log_level(spark, log_level)
    log.info(
        "SparkSession on %s (%s)%s",
        platform.name,
        session_master(spark),
        " over Spark Connect" if is_connect(spark) else "",
    )
    return spark


def _build_classic_or_local_connect(SparkSession, app_name, platform, settings, remote):
    if remote == "local":
        return _start_local_connect(app_name, platform.master or "local[*]", settings.conf)
    builder = SparkSession.builder.appName(app_name)
    if platform.master and platform.name != DATAPROC:
        builder = builder.master(platform.master)
    for k, v in settings.conf.items():
        builder = builder.config(k, v)
    return builder.getOrCreate()


# A Connect server in this process: loopback only, on a port the kernel picks (so that two
# notebooks, or a notebook and another server, never collide on Connect's default 15002),
# each session's artifacts kept apart as on a shared Connect server.
LOCAL_CONNECT_CONF: dict[str, str] = {
    "spark.connect.grpc.binding.address": "127.0.0.1",
    "spark.connect.grpc.binding.port": "0",
    "spark.sql.artifact.isolation.enabled": "true",
    "spark.sql.artifact.isolation.alwaysApplyClassloader": "true",
}
CONNECT_PLUGIN = "org.apache.spark.sql.connect.SparkConnectPlugin"


def _start_local_connect(app_name: str, master: str, conf: Mapping[str, str]):
    """Start a SparkContext with the Connect plugin here and connect to it as a client.

    PySpark's own ``remote("local")`` binds every interface on port 15002; this binds loopback
    on a free port, protected by a token only this process (and the JVM it starts) knows.
    """
    import secrets

    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession as ClassicSession
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    if SparkContext._active_spark_context is not None:
        raise RuntimeError(
            "a classic SparkSession is already running in this process; stop it before asking "
            "for a Spark Connect one (remote='local')"
        )
    os.environ.setdefault("SPARK_CONNECT_AUTHENTICATE_TOKEN", secrets.token_urlsafe(32))
    spark_conf = SparkConf(loadDefaults=True).setAppName(app_name).setMaster(master)
    spark_conf.setAll(list(LOCAL_CONNECT_CONF.items()))
    spark_conf.setAll([(k, str(v)) for k, v in conf.items()])
    plugins = [p for p in (spark_conf.get("spark.plugins") or "").split(",") if p]
    spark_conf.set("spark.plugins", ",".join(dict.fromkeys(plugins + [CONNECT_PLUGIN])))
    classic = ClassicSession(SparkContext.getOrCreate(spark_conf))
    service = getattr(classic._jvm, "org.apache.spark.sql.connect.service.SparkConnectService$")
    port = int(getattr(service, "MODULE$").localPort())
    # As PySpark's local mode does: stop() on the client also stops the server here.
    os.environ["SPARK_LOCAL_REMOTE"] = "1"
    os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"
    # "localhost": the client sends the token over gRPC local credentials (no TLS on loopback).
    return ConnectSession.builder.remote(f"sc://localhost:{port}").getOrCreate()


def _connect_to_server(url: str, app_name: str, conf: Mapping[str, str]):
    """A session on a running Connect server; applies the settings a client may change."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.remote(url).getOrCreate()
    skipped = []
    for k, v in conf.items():
        try:
            if spark.conf.isModifiable(k):
                spark.conf.set(k, v)
                continue
        except Exception:  # noqa: S110 - not a SQL setting: the server's to decide
            pass
        skipped.append(k)
    if skipped:
        log.info("Spark Connect server %s keeps its own %s", url, ", ".join(sorted(skipped)))
    return spark


def _set_log_level(spark, log_level: str) -> None:
    sc = context_or_none(spark)
    if sc is None:
        # A Connect server started in this process has its SparkContext here too.
        from pyspark import SparkContext

        sc = SparkContext._active_spark_context
    if sc is not None:
        sc.setLogLevel(log_level)


def is_connect(spark) -> bool:
    """True for a Spark Connect session (no SparkContext on this side): its class is Connect's."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def context_or_none(spark):
    """The session's SparkContext, or None on Spark Connect (where it does not exist)."""
    if is_connect(spark):
        return None
    return spark.sparkContext


class SparkConnectUnsupported(RuntimeError):
    """Something was asked of a Spark Connect session that only a classic session can do."""


def session_master(spark) -> str:
    """The session's master URL, on a classic session or over Spark Connect."""
    sc = context_or_none(spark)
    if sc is not None:
        return sc.master
    return spark.conf.get("spark.master", "local[*]")


def default_parallelism(spark) -> int:
    """Cores Spark runs tasks on (``defaultParallelism``), on a classic or a Connect session."""
    sc = context_or_none(spark)
    if sc is not None:
        return int(sc.defaultParallelism)
    value = spark.conf.get("spark.default.parallelism", None)
    if value:
        return int(value)
    from pyspark.sql import functions as F

    # Without the setting: spark.range with no partition count has defaultParallelism
    # partitions (one job; every partition of 65,536 rows is non-empty).
    parts = spark.range(0, 1 << 16).select(F.spark_partition_id().alias("p")).distinct()
    return int(parts.count())


def describe(spark) -> dict[str, str]:
    """A short description of a session, for notebook output and recorded results."""
    master = session_master(spark)
    return {
        "spark_version": spark.version,
        "master": master,
        "default_parallelism": str(default_parallelism(spark)),
        "python": os.environ.get("PYSPARK_PYTHON", sys.executable),
        "platform": detect_platform(master=master).name,
        "connect": str(is_connect(spark)).lower(),
    }
