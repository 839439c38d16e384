"""build_session starts a real local session with the inference settings, and the Python
workers run the driver's interpreter."""

import os
import sys

import pytest

pytestmark = pytest.mark.spark


def test_session_settings_applied(spark):
    conf = spark.sparkContext.getConf()
    assert spark.sparkContext.master == "local[2]"
    assert conf.get("spark.sql.execution.arrow.pyspark.enabled") == "true"
    assert conf.get("spark.python.worker.reuse") == "true"
    assert conf.get("spark.driver.bindAddress") == "127.0.0.1"
    assert os.environ["PYSPARK_PYTHON"] == sys.executable


def test_workers_run_the_driver_python(spark):
    def executable(_):
        import sys

        yield sys.executable

    seen = set(spark.sparkContext.parallelize(range(4), 2).mapPartitions(executable).collect())
    assert seen == {sys.executable}


def test_describe(spark):
    from dl_helpers.session import describe

    d = describe(spark)
    assert d["master"] == "local[2]" and d["platform"] == "local"
    assert d["spark_version"].startswith("4.")
