"""The multi-node fixture is what it claims: workers that cannot see the driver's disk, two
distinct hosts, one shared folder; and dl_helpers.storage refuses driver-local folders there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import OUTPUT

HERE = Path(__file__).resolve().parent


@pytest.mark.spark
@pytest.mark.cluster
def test_cluster_isolation_and_shared_storage(cluster):
    driver_local = OUTPUT / "cluster_fixture_driver"
    proc = subprocess.run(
        [sys.executable, str(HERE / "cluster_driver.py"), cluster.master, str(cluster.shared),
         str(driver_local)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    r = json.loads(lines[-1][len("RESULT ") :])

    # An executor that opens a file on the driver's disk does not find it.
    assert r["driver_local_read"] == "FileNotFoundError"
    # The shared folder is read on both workers, which are two hosts.
    assert sorted(r["shared_hosts"]) == ["node-1", "node-2"]
    assert r["shared_parquet_rows"] == 100
    # A driver-local shared_dir fails within seconds, naming the folder and what to set.
    msg = r["driver_local_shared_dir"]
    assert "is not visible to the executors" in msg, msg
    assert str(driver_local / "not_shared") in msg and "shared_dir" in msg
    assert "DL_HELPERS_SHARED_DIR" in msg and "node-" in msg
    assert r["driver_local_shared_dir_s"] < 20
    # No shared_dir on a standalone cluster: no default, the driver-local folder is named.
    msg = r["no_shared_dir"]
    assert "standalone cluster" in msg and str(driver_local) in msg, msg
    assert "shared_dir" in msg and "DL_HELPERS_SHARED_DIR" in msg


def test_hidden_folders_exclude_shared(tmp_path):
    from cluster import StandaloneCluster

    with pytest.raises(ValueError, match="under a hidden folder"):
        StandaloneCluster(root=tmp_path / "c", hide=(tmp_path,))
