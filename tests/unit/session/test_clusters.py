"""dl_helpers.session: the GPU Spark settings of managed clusters, and shipping dl_helpers.

The pure functions are checked here without Spark. One Spark application, started in a child
process (so no other test's SparkSession is reused), proves that the task GPU amount gives
exactly one task slot per core, and that executors import dl_helpers from the addPyFile zip
when nothing is installed for them.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from dl_helpers.session import INFERENCE_CONF
from dl_helpers.session import _clusters as clusters

ROOT = Path(__file__).resolve().parents[3]


def spark_task_slots(task_amount: str, executor_gpus: int) -> int:
    """Task slots per executor as Spark computes them from a (fractional) task GPU amount.

    Spark: an amount <= 0.5 gives floor(1 / amount) slots per GPU address; above 0.5 it must be
    a whole number of GPUs per task. Written independently of dl_helpers on purpose.
    """
    a = float(task_amount)
    if a <= 0.5:
        return executor_gpus * math.floor(1.0 / a)
    assert a == int(a), f"Spark rejects a task amount of {task_amount} (> 0.5, not whole)"
    return executor_gpus // int(a)


@pytest.mark.parametrize("cores", [1, 2, 3, 4, 6, 7, 8, 12, 16, 24, 32, 36, 48, 64, 96, 128])
def test_task_gpu_amount_gives_one_slot_per_core(cores):
    conf = clusters.gpu_spark_conf(cores)
    amount = conf["spark.task.resource.gpu.amount"]
    assert spark_task_slots(amount, 1) == cores
    assert len(amount) <= 10, amount  # readable: 0.0625, 0.027777, not 0.027777777777777776


def test_task_gpu_amount_values():
    assert clusters.task_gpu_amount(16) == "0.0625"
    assert clusters.task_gpu_amount(8) == "0.125"
    assert clusters.task_gpu_amount(36) == "0.027777"  # rounded down: 0.027778 gives 35 slots
    assert clusters.task_gpu_amount(1) == "1"
    assert clusters.task_gpu_amount(8, gpus_per_executor=2) == "0.25"
    assert spark_task_slots(clusters.task_gpu_amount(8, 2), 2) == 8
    with pytest.raises(ValueError):
        clusters.task_gpu_amount(6, gpus_per_executor=4)
    with pytest.raises(ValueError):
        clusters.task_gpu_amount(0)


def test_gpu_spark_conf_carries_the_inference_settings():
    conf = clusters.gpu_spark_conf(16)
    for key in clusters.CLUSTER_INFERENCE_KEYS:
        assert conf[key] == INFERENCE_CONF[key]
    assert conf["spark.sql.execution.arrow.pyspark.enabled"] == "true"
    assert conf["spark.python.worker.reuse"] == "true"
    assert conf["spark.executor.cores"] == "16"
    assert conf["spark.executor.resource.gpu.amount"] == "1"


def test_check_cluster_conf():
    good = clusters.gpu_spark_conf(36)
    assert clusters.check_cluster_conf(good) == []
    # An equivalent amount written differently is fine; the slot count is what matters.
    assert clusters.check_cluster_conf({**good, "spark.task.resource.gpu.amount": "0.0277"}) == []
    bad = {**good, "spark.task.resource.gpu.amount": "1", "spark.python.worker.reuse": "false"}
    problems = clusters.check_cluster_conf(bad)
    assert len(problems) == 2 and any("worker.reuse" in p for p in problems)
    (problem,) = clusters.check_cluster_conf({})
    assert "not a GPU cluster" in problem


def test_worker_env_and_machine_types():
    assert clusters.worker_env("tf")["TF_GPU_ALLOCATOR"] == "cuda_malloc_async"
    assert "TF_GPU_ALLOCATOR" not in clusters.worker_env("torch")
    with pytest.raises(ValueError):
        clusters.worker_env("jax")
    assert clusters.cores_of_machine_type("n1-standard-16") == 16
    assert clusters.cores_of_machine_type("g2-standard-24") == 24
    assert clusters.cores_of_machine_type("n1-highmem-8") == 8
    with pytest.raises(ValueError):
        clusters.cores_of_machine_type("custom")


def test_gcloud_properties_arg():
    assert clusters.gcloud_properties_arg({"spark:a": "1", "spark:b": "x"}) == "spark:a=1,spark:b=x"
    assert clusters.gcloud_properties_arg({"spark:a": "1,2"}) == "^#^spark:a=1,2"


def test_databricks_cluster_rejects_bad_input():
    template = json.loads((ROOT / "databricks" / "cluster-aws.json").read_text())
    with pytest.raises(ValueError, match="SINGLE_USER"):
        clusters.databricks_cluster(template, "torch", "/Users/a@b.c/spark-dl")
    with pytest.raises(ValueError, match="absolute"):
        clusters.databricks_cluster(template, "torch", "spark-dl", single_user="a@b.c")
    with pytest.raises(ValueError, match="cores_per_node"):
        clusters.databricks_cluster({}, "torch", "/Users/a/spark-dl")


def test_databricks_home_forms():
    template = json.loads((ROOT / "databricks" / "cluster-azure.json").read_text())
    for home in ("/Users/a@b.c/spark-dl", "/Workspace/Users/a@b.c/spark-dl/"):
        cfg = clusters.databricks_cluster(template, "tf", home, single_user="a@b.c")
        assert cfg["spark_env_vars"]["SPARK_DL_HOME"] == "/Workspace/Users/a@b.c/spark-dl"
        assert cfg["init_scripts"] == [
            {"workspace": {"destination": "/Users/a@b.c/spark-dl/init_dl_helpers.sh"}}
        ]
    assert "_spark_dl" in template  # the template itself is not changed


def test_ship_package_on_spark_connect(tmp_path):
    """A Spark Connect session has no SparkContext: the zip goes through addArtifacts."""

    class ConnectSession:
        calls: list = []

        @property
        def sparkContext(self):
            raise RuntimeError("[JVM_ATTRIBUTE_NOT_SUPPORTED] sparkContext")

        def addArtifacts(self, *paths, pyfile=False, archive=False, file=False):
            self.calls.append((paths, pyfile))

    session = ConnectSession()
    path = clusters.ship_package(session, tmp_path)
    clusters.ship_package(session, tmp_path)
    assert session.calls == [((str(path),), True)]


def test_package_zip_is_complete_and_reproducible(tmp_path):
    import dl_helpers

    z1 = clusters.package_zip(tmp_path / "a")
    z2 = clusters.package_zip(tmp_path / "b")
    assert z1.name == z2.name and z1.read_bytes() == z2.read_bytes()
    assert z1.name.startswith(f"dl_helpers-{dl_helpers.__version__}-")
    pkg = Path(dl_helpers.__file__).parent
    want = {f"dl_helpers/{p.name}" for p in pkg.glob("*.py")}
    with zipfile.ZipFile(z1) as zf:
        names = set(zf.namelist())
    assert want <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


@pytest.fixture(scope="module")
def spark_run(tmp_path_factory):
    """One real Spark application on local-cluster (an executor JVM apart from the driver, as on
    a cluster), with the GPU cluster conf for a 3-core executor and one declared GPU. It runs a
    barrier stage, then a UDF that imports dl_helpers before and after ship_package().

    Driver and workers run this environment's Python with -S: no site-packages processing, so
    the editable install of dl_helpers is invisible to them and PYTHONPATH lists only the
    libraries. The driver adds the repository to its own sys.path (not to the environment the
    executors inherit) and the job runs from a scratch folder.
    """
    import sysconfig

    tmp = tmp_path_factory.mktemp("spark_run")
    wrapper = tmp / "python-nosite"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    wrapper.chmod(0o755)
    discovery = tmp / "gpus.sh"
    discovery.write_text('#!/bin/sh\necho \'{"name": "gpu", "addresses": ["0"]}\'\n')
    discovery.chmod(0o755)
    conf = clusters.gpu_spark_conf(CORES)
    conf.update(
        {
            "spark.executor.resource.gpu.discoveryScript": str(discovery),
            "spark.worker.resource.gpu.amount": "1",
            "spark.worker.resource.gpu.discoveryScript": str(discovery),
            "spark.executor.memory": "512m",
        }
    )
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_", "SPARK_", "PYTHON"))
    }
    env.update(
        PYTHONPATH=sysconfig.get_paths()["purelib"],
        PYSPARK_PYTHON=str(wrapper),
        PYSPARK_DRIVER_PYTHON=str(wrapper),
        SPARK_LOCAL_IP="127.0.0.1",
    )
    zips = str(tmp / "zips")
    script = f"""
        import json, sys
        sys.path.insert(0, {str(ROOT)!r})
        from pyspark import BarrierTaskContext
        from pyspark.sql import functions as F
        from dl_helpers.session import build_session
        from dl_helpers.session import ship_package

        def task(_):
            ctx = BarrierTaskContext.get()
            ctx.barrier()  # returns only once all {CORES} tasks run at the same time
            yield ctx.partitionId(), list(ctx.resources()["gpu"].addresses)

        def probe(_):
            try:
                import dl_helpers.session._environment as e
            except ImportError as exc:
                return "ImportError: " + str(exc)
            return e.__file__ + " | " + e.master_kind("local[2]")

        master = "local-cluster[1,{CORES},1024]"
        spark = build_session("t", master=master, conf={conf!r})
        try:
            sc = spark.sparkContext
            tasks = sc.parallelize(range({CORES}), {CORES}).barrier().mapPartitions(task).collect()
            seen = dict(sc.getConf().getAll())
            df = spark.range({CORES}).repartition({CORES})
            before = sorted({{r[0] for r in df.select(F.udf(probe)("id")).collect()}})
            zip_path = ship_package(spark, {zips!r})
            ship_package(spark, {zips!r})  # twice: harmless
            after = sorted({{r[0] for r in df.select(F.udf(probe)("id")).collect()}})
        finally:
            spark.stop()
        out = dict(tasks=tasks, conf=seen, before=before, after=after, zip=str(zip_path))
        print(json.dumps(out))
    """
    proc = subprocess.run(
        [str(wrapper), "-c", textwrap.dedent(script)],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-5000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


CORES = 3  # 1/3 is a truncated decimal (0.333333): the case where rounding up loses a slot


@pytest.mark.spark
def test_gpu_conf_gives_every_core_a_task_sharing_one_gpu(spark_run):
    """A barrier stage needs all its tasks running together, so it fails if the task GPU amount
    allowed fewer slots than cores (0.34 would give 2 of 3)."""
    assert sorted(p for p, _ in spark_run["tasks"]) == list(range(CORES))
    assert all(addrs == ["0"] for _, addrs in spark_run["tasks"])
    assert clusters.check_cluster_conf(spark_run["conf"]) == []


@pytest.mark.spark
def test_ship_package_executors_import_from_the_zip(spark_run):
    """Executors that cannot see dl_helpers import it from the zip ship_package() adds. The
    first probe must fail to import, or the test proves nothing."""
    before, after = spark_run["before"], spark_run["after"]
    assert before and all(b.startswith("ImportError") for b in before), spark_run
    zip_name = Path(spark_run["zip"]).name
    assert after, spark_run
    for line in after:
        path, kind = line.split(" | ")
        assert f"{zip_name}/dl_helpers/session/_environment.py" in path, spark_run
        assert kind == "local"
