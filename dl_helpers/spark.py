"""Building a SparkSession for batch inference, on a laptop or a cluster.

``build_session()`` is what every notebook calls. It detects the platform
(:mod:`dl_helpers.environment`), keeps a managed platform's own session (Databricks, Dataproc),
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

from dl_helpers.environment import (
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

# Environment for Python workers: quiet TensorFlow; one math thread per task is set by Spark
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
# in again; raising the thresholds keeps them (see FACTS.md: ~40% faster CPU ResNet-50).
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
):
    """Return a SparkSession ready for batch inference.

    - Databricks: the notebook's ``spark`` session, unchanged (its conf is the cluster's).
    - Dataproc: the active session or one built on YARN with the cluster's defaults.
    - Otherwise ``master`` (argument, else $SPARK_MASTER / $MASTER, else ``local[*]``), with
      Arrow, worker reuse and the driver's Python for workers on this host.

    ``conf`` entries override the defaults. ``tune_malloc`` applies the glibc allocator settings
    that speed up CPU inference of large models (see ``MALLOC_ENV``).
    """
    from pyspark.sql import SparkSession

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

    builder = SparkSession.builder.appName(app_name)
    if platform.master and platform.name != DATAPROC:
        builder = builder.master(platform.master)
    for k, v in settings.conf.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(log_level)
    log.info("SparkSession on %s (%s)", platform.name, spark.sparkContext.master)
    return spark


def session_master(spark) -> str:
    """The session's master URL, on a classic session or over Spark Connect."""
    sc = getattr(spark, "_sc", None)
    if sc is not None:
        return sc.master
    return spark.conf.get("spark.master", "local[*]")


def describe(spark) -> dict[str, str]:
    """A short description of a session, for notebook output and recorded results."""
    sc = spark.sparkContext
    return {
        "spark_version": spark.version,
        "master": sc.master,
        "default_parallelism": str(sc.defaultParallelism),
        "python": os.environ.get("PYSPARK_PYTHON", sys.executable),
        "platform": detect_platform(master=sc.master).name,
    }
