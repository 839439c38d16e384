"""dl_helpers.session: choosing the shared folder, spelling it for Spark, writing tables there.
The cluster side (executors that cannot see the driver's disk) is in test_cluster.py."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from dl_helpers.session import DATABRICKS, DATAPROC, KUBERNETES, LOCAL, STANDALONE, YARN
from dl_helpers.session._storage import (
    SHARED_DIR_ENV,
    SharedStorage,
    SharedStorageError,
    _choose,
    _missing_message,
    shared_storage,
)


def test_choice_order(tmp_path):
    out = tmp_path / "out"
    assert _choose("/x/y", out, "nb", STANDALONE, {SHARED_DIR_ENV: "/e"}) == (
        "/x/y",
        "the shared_dir parameter",
    )
    assert _choose(None, out, "nb", STANDALONE, {SHARED_DIR_ENV: "/e"})[0] == "/e/nb"
    assert _choose(None, out, "nb", LOCAL, {})[0] == str(out)
    assert _choose(None, None, "nb", DATABRICKS, {})[0] == "/dbfs/FileStore/dl_inference/nb"
    assert _choose(None, None, "nb", DATAPROC, {})[0] == "/mnt/gcs/dl_inference/nb"
    for platform in (STANDALONE, YARN, KUBERNETES):  # no default where nodes share no disk
        assert _choose(None, out, "nb", platform, {})[0] is None


def test_missing_message_names_folder_and_settings():
    msg = _missing_message(YARN, "yarn", "/home/me/out")
    assert "/home/me/out" in msg and "shared_dir" in msg and SHARED_DIR_ENV in msg


def test_uri_per_platform(tmp_path):
    local = SharedStorage(tmp_path, LOCAL, "test")
    assert local.uri("t.parquet") == (tmp_path / "t.parquet").as_uri()  # file: even on HDFS
    dbfs = SharedStorage(Path("/dbfs/FileStore/x"), DATABRICKS, "test")
    assert dbfs.uri("t.parquet") == "dbfs:/FileStore/x/t.parquet"
    volume = SharedStorage(Path("/Volumes/c/s/v"), DATABRICKS, "test")
    assert volume.uri("t.parquet") == "/Volumes/c/s/v/t.parquet"


@pytest.mark.spark
def test_local_session_uses_output_dir_and_writes_parquet(spark, tmp_path, monkeypatch):
    monkeypatch.delenv(SHARED_DIR_ENV, raising=False)
    storage = shared_storage(spark, None, output_dir=tmp_path)
    assert storage.root == tmp_path and storage.platform == LOCAL
    table = pa.table({"id": list(range(10)), "x": [float(i) for i in range(10)]})
    uri = storage.write_parquet(table, "t.parquet", files=3)
    parts = sorted((tmp_path / "t.parquet").glob("part-*.parquet"))
    assert len(parts) == 3
    back = spark.read.parquet(uri).orderBy("id").toPandas()
    assert back["id"].tolist() == list(range(10))
    # A rerun with fewer files leaves no stale part behind.
    storage.write_parquet(table, "t.parquet", files=2)
    assert len(list((tmp_path / "t.parquet").glob("part-*.parquet"))) == 2
    assert spark.read.parquet(uri).count() == 10
    # An empty table still makes a readable folder.
    storage.write_parquet(table.slice(0, 0), "empty.parquet", files=4)
    assert spark.read.parquet(storage.uri("empty.parquet")).count() == 0


@pytest.mark.spark
def test_env_relative_and_uri(spark, tmp_path, monkeypatch):
    monkeypatch.setenv(SHARED_DIR_ENV, str(tmp_path / "shared"))
    storage = shared_storage(spark, None, output_dir=tmp_path / "nb_out")
    assert storage.root == tmp_path / "shared" / "nb_out" and storage.root.is_dir()
    monkeypatch.chdir(tmp_path)
    assert shared_storage(spark, "rel", output_dir=tmp_path).root == tmp_path / "rel"
    with pytest.raises(SharedStorageError, match="is a URI"):
        shared_storage(spark, "gs://bucket/prefix", output_dir=tmp_path)
