"""Managed GPU clusters (Databricks, Dataproc): their Spark settings, and shipping dl_helpers.

The Spark settings a GPU inference cluster needs live here and nowhere else:
``gpu_spark_conf()`` is what the cluster-creation scripts in ``databricks/`` and ``dataproc/``
put into the cluster definitions they emit (they call this module's command line), and what the
tests compare those definitions with. It extends :data:`dl_helpers.session.INFERENCE_CONF`
(Arrow, Python-worker reuse, Arrow batch size) with GPU scheduling: one executor per GPU node
owning all its cores and its GPU, and ``spark.task.resource.gpu.amount = 1 / cores`` so every
core runs a task that shares the node's GPU.

``ship_package()`` zips the installed dl_helpers and hands it to ``SparkContext.addPyFile``, for
clusters where nothing can be installed on the executors.

Only the standard library is imported, so the cluster scripts can run this module with any
``python3`` (``python3 -m dl_helpers.session --help``).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

from dl_helpers.session._spark import INFERENCE_CONF, QUIET_ENV

# The inference settings a cluster definition carries. The console-progress switch is left out:
# it is a driver UI preference that managed notebooks set themselves.
CLUSTER_INFERENCE_KEYS = (
    "spark.sql.execution.arrow.pyspark.enabled",
    "spark.sql.execution.arrow.maxRecordsPerBatch",
    "spark.python.worker.reuse",
)

# Written on every Dataproc node by dataproc/init_dl_helpers.sh (prints the node's GPUs in the
# JSON form Spark expects).
DATAPROC_GPU_DISCOVERY_SCRIPT = "/usr/local/share/spark-dl/get_gpus_resources.sh"

FRAMEWORKS = ("torch", "tf")

# Worker environment per framework. TensorFlow otherwise reserves nearly all GPU memory at start
# and keeps it; the async allocator returns what it does not use.
FRAMEWORK_ENV: dict[str, dict[str, str]] = {
    "torch": {},
    "tf": {"TF_GPU_ALLOCATOR": "cuda_malloc_async"},
}

# Keys of a Databricks template that are ours, not the Clusters API's; removed before emitting.
TEMPLATE_META_KEY = "_spark_dl"


# --------------------------------------------------------------------------------------------
# Spark settings
# --------------------------------------------------------------------------------------------


def task_gpu_amount(cores_per_executor: int, gpus_per_executor: int = 1) -> str:
    """``spark.task.resource.gpu.amount`` letting all ``cores_per_executor`` tasks share the GPUs.

    Spark turns a fractional amount ``a <= 0.5`` into ``floor(1 / a)`` task slots per GPU, so the
    string is chosen with ``floor(1 / a) == cores / gpus`` exactly: the exact decimal where it is
    short (1/16 -> ``0.0625``), else 1/n truncated to 6 decimals, never rounded up (1/36 ->
    ``0.027777``; ``0.027778`` would give only 35 slots and leave a core idle).
    """
    if cores_per_executor < 1 or gpus_per_executor < 1:
        raise ValueError("cores_per_executor and gpus_per_executor must be >= 1")
    if cores_per_executor % gpus_per_executor:
        raise ValueError(
            f"{cores_per_executor} cores cannot be split evenly over {gpus_per_executor} GPUs"
        )
    per_gpu = cores_per_executor // gpus_per_executor
    if per_gpu == 1:
        return "1"
    exact = Decimal(1) / Decimal(per_gpu)
    for places in range(1, 9):
        q = exact.quantize(Decimal(10) ** -places, rounding=ROUND_DOWN)
        if q == exact:
            return format(q, "f")
    q = exact.quantize(Decimal("0.000001"), rounding=ROUND_DOWN)
    if int(Decimal(1) / q) != per_gpu:  # only for > ~1000 tasks per GPU
        raise ValueError(f"no 6-decimal task GPU amount gives {per_gpu} tasks per GPU")
    return format(q, "f")


def gpu_spark_conf(cores_per_executor: int, gpus_per_executor: int = 1) -> dict[str, str]:
    """Spark conf of a GPU inference cluster: one executor per GPU node with all its cores.

    Contains the inference settings of :data:`dl_helpers.session.INFERENCE_CONF` (Arrow, worker
    reuse, Arrow batch size) plus executor cores, executor GPU amount and task GPU amount.
    """
    conf = {k: INFERENCE_CONF[k] for k in CLUSTER_INFERENCE_KEYS}
    conf.update(
        {
            "spark.executor.cores": str(cores_per_executor),
            "spark.executor.resource.gpu.amount": str(gpus_per_executor),
            "spark.task.resource.gpu.amount": task_gpu_amount(
                cores_per_executor, gpus_per_executor
            ),
        }
    )
    return conf


def worker_env(framework: str) -> dict[str, str]:
    """Environment variables for the Python workers of a cluster running ``framework``."""
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {FRAMEWORKS}, not {framework!r}")
    return {**QUIET_ENV, **FRAMEWORK_ENV[framework]}


def check_cluster_conf(conf: Mapping[str, str]) -> list[str]:
    """Problems of a running cluster's Spark conf for GPU inference; empty when it fits.

    ``conf`` is e.g. ``dict(spark.sparkContext.getConf().getAll())``. The expected values come
    from :func:`gpu_spark_conf` for the conf's own executor cores and GPU amount.
    """
    try:
        cores = int(conf.get("spark.executor.cores", ""))
        gpus = int(float(conf.get("spark.executor.resource.gpu.amount", "")))
    except ValueError:
        return [
            "spark.executor.cores and spark.executor.resource.gpu.amount must be set "
            "(this is not a GPU cluster made by databricks/ or dataproc/ scripts)"
        ]
    problems = []
    for key, want in gpu_spark_conf(cores, gpus).items():
        got = conf.get(key)
        if key == "spark.task.resource.gpu.amount" and got is not None:
            ok = _slots(got, gpus) == cores
        else:
            ok = got is not None and got.lower() == want.lower()
        if not ok:
            problems.append(f"{key}={got!r}, expected {want!r}")
    return problems


def _slots(task_amount: str, gpus: int) -> int:
    """Task slots per executor that Spark derives from a task GPU amount."""
    a = Decimal(task_amount)
    if a > Decimal("0.5"):
        return gpus // int(a) if a == a.to_integral_value() else 0
    return gpus * int(Decimal(1) / a)


# --------------------------------------------------------------------------------------------
# Cluster definitions
# --------------------------------------------------------------------------------------------


def databricks_cluster(
    template: Mapping,
    framework: str,
    home: str,
    cluster_name: str | None = None,
    num_workers: int | None = None,
    spark_version: str | None = None,
    single_user: str | None = None,
) -> dict:
    """The Databricks Clusters API JSON for a GPU inference cluster.

    ``template`` is one of ``databricks/cluster-*.json``: node types and runtime, plus a
    ``_spark_dl`` entry with ``cores_per_node`` / ``gpus_per_node`` of the worker node type.
    ``home`` is where the files were uploaded: a workspace folder (``/Users/me@x.com/spark-dl``)
    or a Unity Catalog volume folder (``/Volumes/cat/schema/vol/spark-dl``). ``single_user`` is
    the cluster's user where the template asks for ``SINGLE_USER`` access mode (the mode in which
    init scripts and Unity Catalog work together without an allowlist).
    """
    worker_env(framework)  # validates framework
    if not home.startswith("/"):
        raise ValueError(f"home must be an absolute workspace or /Volumes path, not {home!r}")
    out = copy.deepcopy(dict(template))
    meta = out.pop(TEMPLATE_META_KEY, None)
    if not meta or "cores_per_node" not in meta:
        raise ValueError(f"template lacks {TEMPLATE_META_KEY}.cores_per_node")
    home = home.rstrip("/")
    volume = home.startswith("/Volumes/")
    # Init scripts and the files they read: workspace paths appear under /Workspace on the nodes.
    node_home = home if volume or home.startswith("/Workspace/") else f"/Workspace{home}"
    init_dest = f"{home}/init_dl_helpers.sh"
    if home.startswith("/Workspace/"):
        init_dest = init_dest[len("/Workspace") :]

    conf = dict(out.get("spark_conf", {}))
    conf.update(gpu_spark_conf(int(meta["cores_per_node"]), int(meta.get("gpus_per_node", 1))))
    out["spark_conf"] = dict(sorted(conf.items()))
    env = dict(out.get("spark_env_vars", {}))
    env.update(worker_env(framework))
    env.update({"FRAMEWORK": framework, "SPARK_DL_HOME": node_home})
    out["spark_env_vars"] = dict(sorted(env.items()))
    out["init_scripts"] = [{"volumes" if volume else "workspace": {"destination": init_dest}}]
    out["cluster_name"] = cluster_name or f"spark-dl-inference-{framework}"
    if num_workers is not None:
        out["num_workers"] = int(num_workers)
    if spark_version:
        out["spark_version"] = spark_version
    if out.get("data_security_mode") == "SINGLE_USER":
        if not single_user:
            raise ValueError("the template uses SINGLE_USER access mode: give the user's name")
        out["single_user_name"] = single_user
    return out


def cores_of_machine_type(machine_type: str) -> int:
    """vCPUs of a Compute Engine machine type from its name (``n1-standard-16`` -> 16)."""
    m = re.fullmatch(r"[a-z0-9]+-[a-z]+-(\d+)(-.*)?", machine_type)
    if not m:
        raise ValueError(
            f"cannot read the vCPU count from machine type {machine_type!r}; pass the cores"
        )
    return int(m.group(1))


def dataproc_properties(
    cores_per_node: int,
    num_workers: int,
    framework: str,
    executor_memory: str = "32g",
    gpus_per_node: int = 1,
    discovery_script: str = DATAPROC_GPU_DISCOVERY_SCRIPT,
) -> dict[str, str]:
    """``gcloud dataproc clusters create --properties`` for a GPU inference cluster.

    Keys carry Dataproc's file prefix (``spark:``). One executor per worker: as many executors
    as workers, no dynamic allocation, each with all the node's cores and its GPU.
    """
    props = {f"spark:{k}": v for k, v in gpu_spark_conf(cores_per_node, gpus_per_node).items()}
    props.update(
        {
            "spark:spark.executor.resource.gpu.discoveryScript": discovery_script,
            "spark:spark.executor.instances": str(num_workers),
            "spark:spark.dynamicAllocation.enabled": "false",
            "spark:spark.executor.memory": executor_memory,
        }
    )
    for k, v in worker_env(framework).items():
        props[f"spark:spark.executorEnv.{k}"] = v
    return dict(sorted(props.items()))


def gcloud_properties_arg(props: Mapping[str, str]) -> str:
    """Join properties for ``--properties``; switch to gcloud's ``^#^`` delimiter if needed."""
    items = [f"{k}={v}" for k, v in props.items()]
    if any("," in i for i in items):
        if any("#" in i for i in items):
            raise ValueError("property values contain both ',' and '#'")
        return "^#^" + "#".join(items)
    return ",".join(items)


# --------------------------------------------------------------------------------------------
# Shipping dl_helpers to executors
# --------------------------------------------------------------------------------------------


def package_zip(dest_dir: str | Path | None = None) -> Path:
    """Zip the imported dl_helpers package (its .py files) for ``addPyFile``.

    The file name carries the version and a content hash, so a changed package is a new file
    (Spark refuses a second file of the same name) and the same package zips to the same path.
    """
    import dl_helpers

    pkg = Path(dl_helpers.__file__).resolve().parent
    files = sorted(p for p in pkg.rglob("*.py") if "__pycache__" not in p.parts)
    digest = hashlib.sha256()
    for p in files:
        digest.update(p.relative_to(pkg).as_posix().encode())
        digest.update(p.read_bytes())
    dest = Path(dest_dir) if dest_dir else Path(tempfile.gettempdir()) / "dl_helpers_zip"
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / f"dl_helpers-{dl_helpers.__version__}-{digest.hexdigest()[:12]}.zip"
    if not out.exists():
        tmp = out.with_suffix(".zip.tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in files:
                # Fixed timestamps: the same sources give the same bytes.
                info = zipfile.ZipInfo(f"dl_helpers/{p.relative_to(pkg).as_posix()}")
                info.date_time = (2020, 1, 1, 0, 0, 0)
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, p.read_bytes())
        tmp.replace(out)
    return out


def ship_package(spark, dest_dir: str | Path | None = None) -> Path:
    """Make dl_helpers importable on every executor through ``SparkContext.addPyFile``.

    For clusters where dl_helpers cannot be installed (the init scripts in ``databricks/`` and
    ``dataproc/`` install it where they can). On Spark Connect sessions, which have no
    SparkContext, the zip goes through ``spark.addArtifacts(..., pyfile=True)``. Returns the
    zip's path; calling again with the same package is harmless.
    """
    path = package_zip(dest_dir)
    key = str(path)
    if key in _SHIPPED.setdefault(id(spark), set()):
        return path
    try:
        sc = spark.sparkContext
    except Exception:  # Spark Connect: no JVM-side context on the client
        sc = None
    if sc is not None:
        sc.addPyFile(key)
    else:
        spark.addArtifacts(key, pyfile=True)
    _SHIPPED[id(spark)].add(key)
    return path


# Zips already shipped, per session object (Spark refuses the same file name twice).
_SHIPPED: dict[int, set[str]] = {}


# --------------------------------------------------------------------------------------------
# Command line, used by the cluster scripts
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dl_helpers.session",
        description="Emit GPU cluster definitions for Databricks and Dataproc.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("databricks", help="Clusters API JSON from a template")
    db.add_argument("--template", required=True, help="databricks/cluster-{aws,azure}.json")
    db.add_argument("--framework", required=True, choices=FRAMEWORKS)
    db.add_argument("--home", required=True, help="uploaded files: workspace or /Volumes path")
    db.add_argument("--cluster-name")
    db.add_argument("--num-workers", type=int)
    db.add_argument("--spark-version")
    db.add_argument("--single-user", help="user name for SINGLE_USER access mode")

    dp = sub.add_parser("dataproc-properties", help="the --properties value for gcloud")
    dp.add_argument("--framework", required=True, choices=FRAMEWORKS)
    dp.add_argument("--num-workers", type=int, required=True)
    dp.add_argument("--cores", type=int, help="vCPUs per worker (default: from machine type)")
    dp.add_argument("--machine-type", help="worker machine type, e.g. n1-standard-16")
    dp.add_argument("--gpus", type=int, default=1, help="GPUs per worker")
    dp.add_argument("--executor-memory", default="32g")

    sub.add_parser("spark-conf", help="the GPU Spark conf as JSON").add_argument(
        "--cores", type=int, required=True
    )

    args = parser.parse_args(argv)
    try:
        if args.command == "databricks":
            template = json.loads(Path(args.template).read_text())
            out = databricks_cluster(
                template,
                args.framework,
                args.home,
                args.cluster_name,
                args.num_workers,
                args.spark_version,
                args.single_user,
            )
            print(json.dumps(out, indent=2))
        elif args.command == "dataproc-properties":
            if args.cores is None and not args.machine_type:
                parser.error("give --cores or --machine-type")
            cores = args.cores or cores_of_machine_type(args.machine_type)
            props = dataproc_properties(
                cores, args.num_workers, args.framework, args.executor_memory, args.gpus
            )
            print(gcloud_properties_arg(props))
        else:
            print(json.dumps(gpu_spark_conf(args.cores), indent=2))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
