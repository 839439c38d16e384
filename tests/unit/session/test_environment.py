"""Platform detection and session settings, from fake environments (no Spark started)."""

import sys

import pytest

from dl_helpers.session import (
    DATABRICKS,
    DATAPROC,
    INFERENCE_CONF,
    KUBERNETES,
    LOCAL,
    LOCAL_CLUSTER,
    MALLOC_ENV,
    STANDALONE,
    YARN,
    detect_platform,
    master_kind,
    session_settings,
)

NO_MARKERS = ()


@pytest.mark.parametrize(
    "master, kind",
    [
        ("local", LOCAL),
        ("local[*]", LOCAL),
        ("local[4]", LOCAL),
        ("local-cluster[2,1,1024]", LOCAL_CLUSTER),
        ("spark://host:7077", STANDALONE),
        ("yarn", YARN),
        ("k8s://https://10.0.0.1:443", KUBERNETES),
    ],
)
def test_master_kind(master, kind):
    assert master_kind(master) == kind


def test_unknown_master_is_an_error_naming_it():
    with pytest.raises(ValueError, match="mesos://x"):
        master_kind("mesos://x")


def test_default_is_local_star():
    p = detect_platform({}, markers=NO_MARKERS)
    assert (p.name, p.master, p.managed) == (LOCAL, "local[*]", False)


def test_master_from_environment_and_argument_precedence():
    env = {"SPARK_MASTER": "spark://a:7077", "MASTER": "yarn"}
    assert detect_platform(env, markers=NO_MARKERS).master == "spark://a:7077"
    assert detect_platform({"MASTER": "yarn"}, markers=NO_MARKERS).name == YARN
    assert detect_platform(env, master="local[2]", markers=NO_MARKERS).master == "local[2]"


def test_databricks_wins_over_master():
    p = detect_platform(
        {"DATABRICKS_RUNTIME_VERSION": "15.4", "SPARK_MASTER": "local[2]"}, markers=NO_MARKERS
    )
    assert p.name == DATABRICKS and p.managed and p.master is None


def test_dataproc_by_env_and_by_marker(tmp_path):
    assert detect_platform({"DATAPROC_IMAGE_VERSION": "2.2"}, markers=NO_MARKERS).name == DATAPROC
    assert detect_platform({}, markers=(str(tmp_path),)).name == DATAPROC
    assert detect_platform({}, markers=(str(tmp_path / "absent"),)).name == LOCAL


def test_local_settings_use_this_python_and_loopback():
    s = session_settings(env={}, python="/x/bin/python")
    assert s.env["PYSPARK_PYTHON"] == "/x/bin/python"
    assert s.env["PYSPARK_DRIVER_PYTHON"] == "/x/bin/python"
    assert s.env["SPARK_LOCAL_IP"] == "127.0.0.1"
    assert s.conf["spark.driver.bindAddress"] == "127.0.0.1"
    for k, v in INFERENCE_CONF.items():
        assert s.conf[k] == v
    assert s.conf["spark.executorEnv.TF_CPP_MIN_LOG_LEVEL"] == "2"
    assert not any("MALLOC" in k for k in s.conf)


def test_user_python_and_conf_win():
    s = session_settings(
        conf={"spark.sql.execution.arrow.maxRecordsPerBatch": 64},
        env={"PYSPARK_PYTHON": "/opt/py"},
        python="/x/bin/python",
    )
    assert s.env["PYSPARK_PYTHON"] == "/opt/py"
    assert s.conf["spark.sql.execution.arrow.maxRecordsPerBatch"] == "64"


def test_remote_cluster_keeps_its_python():
    s = session_settings(master="spark://far-away-host:7077", env={}, python="/x/bin/python")
    assert "PYSPARK_PYTHON" not in s.env
    assert "spark.driver.bindAddress" not in s.conf
    s = session_settings(master="yarn", env={}, python="/x/bin/python")
    assert "PYSPARK_PYTHON" not in s.env


def test_managed_platforms_keep_cluster_conf():
    s = session_settings(env={"DATABRICKS_RUNTIME_VERSION": "15.4"})
    assert s.conf == {} and "PYSPARK_PYTHON" not in s.env


def test_malloc_tuning_reaches_executors():
    s = session_settings(env={}, tune_malloc=True)
    for k, v in MALLOC_ENV.items():
        assert s.conf[f"spark.executorEnv.{k}"] == v


def test_settings_default_to_running_interpreter():
    assert session_settings(env={}).env["PYSPARK_PYTHON"] == sys.executable
