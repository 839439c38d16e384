"""Spark sessions for inference: the platform, the session, shared storage, managed clusters.

Usage::

    from dl_helpers.session import build_session, describe, shared_storage

    spark = build_session("my-notebook")
    storage = shared_storage(spark, shared_dir, output_dir=out)

``python -m dl_helpers.session spark-conf|databricks|dataproc ...`` prints the GPU cluster
settings (see ``databricks/`` and ``dataproc/``).
"""

from dl_helpers.session._clusters import (
    check_cluster_conf,
    databricks_cluster,
    dataproc_properties,
    gpu_spark_conf,
    ship_package,
)
from dl_helpers.session._environment import (
    DATABRICKS,
    DATAPROC,
    KUBERNETES,
    LOCAL,
    LOCAL_CLUSTER,
    STANDALONE,
    YARN,
    Platform,
    detect_platform,
    master_kind,
)
from dl_helpers.session._executors import (
    ExecutorGpus,
    executor_gpus,
    executors,
    expected_executors,
    wait_for_executors,
)
from dl_helpers.session._spark import (
    INFERENCE_CONF,
    MALLOC_ENV,
    TF_WORKER_CONF,
    SparkConnectUnsupported,
    build_session,
    default_parallelism,
    describe,
    is_connect,
    session_settings,
)
from dl_helpers.session._storage import (
    SHARED_DIR_ENV,
    SharedStorage,
    SharedStorageError,
    shared_storage,
)

__all__ = [
    "DATABRICKS",
    "ExecutorGpus",
    "DATAPROC",
    "INFERENCE_CONF",
    "KUBERNETES",
    "LOCAL",
    "LOCAL_CLUSTER",
    "MALLOC_ENV",
    "SHARED_DIR_ENV",
    "STANDALONE",
    "TF_WORKER_CONF",
    "YARN",
    "Platform",
    "SharedStorage",
    "SharedStorageError",
    "build_session",
    "check_cluster_conf",
    "databricks_cluster",
    "dataproc_properties",
    "default_parallelism",
    "describe",
    "detect_platform",
    "executor_gpus",
    "executors",
    "expected_executors",
    "gpu_spark_conf",
    "SparkConnectUnsupported",
    "is_connect",
    "master_kind",
    "session_settings",
    "shared_storage",
    "ship_package",
    "wait_for_executors",
]
