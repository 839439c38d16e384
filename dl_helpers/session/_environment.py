"""Where is this code running: local Spark, a standalone/YARN/K8s cluster, Databricks or Dataproc.

Detection only reads environment variables and well-known files, so it is cheap, has no side
effects and is unit-tested with fake environments.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

LOCAL = "local"
LOCAL_CLUSTER = "local-cluster"  # real executor JVMs on one host (standalone backend)
STANDALONE = "standalone"
YARN = "yarn"
KUBERNETES = "kubernetes"
DATABRICKS = "databricks"
DATAPROC = "dataproc"

# Dataproc images carry this file; the metadata server is not asked (it may be unreachable).
_DATAPROC_MARKERS = ("/usr/local/share/google/dataproc",)


@dataclass(frozen=True)
class Platform:
    """The detected platform and the Spark master to use (None: keep the platform's own)."""

    name: str
    master: str | None
    managed: bool  # True where the platform owns the SparkSession (Databricks, Dataproc)

    @property
    def is_local(self) -> bool:
        return self.name == LOCAL


def master_kind(master: str) -> str:
    """Classify a Spark master URL."""
    m = master.strip().lower()
    if m.startswith("local-cluster"):
        return LOCAL_CLUSTER
    if m.startswith("local"):
        return LOCAL
    if m.startswith("spark://"):
        return STANDALONE
    if m == "yarn":
        return YARN
    if m.startswith("k8s://"):
        return KUBERNETES
    raise ValueError(
        f"unrecognised Spark master {master!r}: expected local[...], local-cluster[...], "
        "spark://host:port, yarn or k8s://..."
    )


def detect_platform(
    env: Mapping[str, str] | None = None,
    master: str | None = None,
    markers: tuple[str, ...] = _DATAPROC_MARKERS,
) -> Platform:
    """Detect the platform.

    Order: Databricks (DATABRICKS_RUNTIME_VERSION), Dataproc (DATAPROC_IMAGE_VERSION or the
    image's marker folder), then the master: the ``master`` argument, else SPARK_MASTER or
    MASTER from the environment, else ``local[*]``.
    """
    env = os.environ if env is None else env
    if env.get("DATABRICKS_RUNTIME_VERSION"):
        return Platform(DATABRICKS, None, managed=True)
    if env.get("DATAPROC_IMAGE_VERSION") or any(Path(p).exists() for p in markers):
        return Platform(DATAPROC, master or "yarn", managed=True)
    chosen = master or env.get("SPARK_MASTER") or env.get("MASTER") or "local[*]"
    return Platform(master_kind(chosen), chosen, managed=False)
