"""The multi-node fixture is what it claims: workers that cannot see the driver's disk, two
distinct hosts, one shared folder; and dl_helpers.session refuses driver-local folders there."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import OUTPUT

SUPPORT = Path(__file__).resolve().parents[1] / "support"


@pytest.mark.spark
@pytest.mark.cluster
def test_cluster_isolation_and_shared_storage(cluster):
    driver_local = OUTPUT / "cluster_fixture_driver"
    proc = subprocess.run(
        [
            sys.executable,
            str(SUPPORT / "cluster_driver.py"),
            cluster.master,
            str(cluster.shared),
            str(driver_local),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
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


@pytest.mark.notebook
@pytest.mark.spark
@pytest.mark.cluster
def test_notebook_with_driver_local_shared_dir_fails_at_once(cluster):
    """On a cluster, a shared_dir on the driver's own disk stops the notebook in its session
    cell, before any data or model is made, with the folder and the setting to change."""
    from conftest import CLUSTER_SUBMIT_ARGS, ROOT

    from ci.run_notebook import NotebookFailed, run_notebook

    driver_local = OUTPUT / "driver_local_shared_dir"
    t0 = time.monotonic()
    with pytest.raises(NotebookFailed) as failed:
        run_notebook(
            ROOT / "notebooks/pytorch/image_classification_torch.ipynb",
            OUTPUT / "errors",
            {"spark_master": cluster.master, "shared_dir": str(driver_local)},
            extra_env={"PYSPARK_SUBMIT_ARGS": CLUSTER_SUBMIT_ARGS},
        )
    seconds = time.monotonic() - t0
    msg = str(failed.value)
    assert "SharedStorageError" in msg and "is not visible to the executors" in msg, msg[-3000:]
    assert str(driver_local) in msg and "DL_HELPERS_SHARED_DIR" in msg
    # It stopped in the session cell: the data cell never ran, no model was written.
    executed = json.loads(failed.value.executed.read_text())
    cells = {"".join(c["source"]): c for c in executed["cells"] if c["cell_type"] == "code"}
    failing = next(c for src, c in cells.items() if "shared_storage(spark" in src)
    assert any(o.get("ename") == "SharedStorageError" for o in failing["outputs"])
    data_cell = next(c for src, c in cells.items() if "load_fashion_mnist(" in src)
    assert data_cell["execution_count"] is None
    assert not (driver_local / "classifier.safetensors").exists()
    print(f"notebook failed after {seconds:.1f} s (kernel start and imports included)")


def test_mount_plan_keeps_software_under_hidden_folders(tmp_path):
    from cluster import mount_plan

    saved = tmp_path / "kept"
    repo = Path("/tmp/x/checkout")
    plan = mount_plan(
        ["/tmp", "/dev/shm", "/tmp/x/checkout/output/test"],
        [repo, repo / ".envs" / "torch", Path("/usr/lib/python3")],
        saved,
    )
    # /tmp hidden, the checkout bound back (its environment with it), its output hidden again.
    assert plan == [
        "hide /tmp",
        "hide /dev/shm",
        f"keep /tmp/x/checkout {saved / '0'}",
        "hide /tmp/x/checkout/output/test",
    ]
    with pytest.raises(ValueError, match="both hidden from the workers and needed"):
        mount_plan(["/tmp", "/srv/repo"], [Path("/srv/repo")], saved)


@pytest.mark.spark
@pytest.mark.cluster
def test_cluster_from_a_checkout_under_tmp(tmp_path):
    """The fixture run from a checkout under /tmp (as ``mktemp -d`` gives): its workers hide /tmp,
    yet run the checkout's own environment and Spark from there, and still miss driver files.
    About a minute on a busy 2-core machine: ``make test-tmp-checkout`` (DL_TEST_TMP_CHECKOUT=1)."""
    import os
    import shutil
    import tempfile

    from cluster import isolation_error

    if os.environ.get("DL_TEST_TMP_CHECKOUT") != "1":
        pytest.skip("the fixture from a checkout under /tmp: set DL_TEST_TMP_CHECKOUT=1")
    why = isolation_error()
    if why:
        pytest.skip(f"multi-node cluster fixture unavailable: {why}")
    top = Path(tempfile.mkdtemp(prefix="dlh-checkout-", dir="/tmp"))
    try:
        checkout = top / "checkout"
        (checkout / "tests" / "support").mkdir(parents=True)
        for name in ("cluster.py", "tmp_checkout_driver.py"):
            shutil.copy(SUPPORT / name, checkout / "tests" / "support" / name)
        env = checkout / ".envs" / Path(sys.prefix).name
        env.parent.mkdir()
        # Hard links: a full copy of the environment at a path under /tmp in a second or two.
        copied = subprocess.run(["cp", "-al", sys.prefix, str(env)], capture_output=True)
        if copied.returncode != 0:
            pytest.skip(f"cannot hard-link the environment under /tmp: {copied.stderr[-300:]!r}")
        driver_only = top / "driver_only.txt"
        driver_only.write_text("on the driver's /tmp only")
        t0 = time.monotonic()
        proc = subprocess.run(
            [
                str(env / "bin" / "python"),
                str(checkout / "tests" / "support" / "tmp_checkout_driver.py"),
            ]
            + [str(driver_only)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        print(f"fixture cluster from {checkout}: {time.monotonic() - t0:.1f} s")
        lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
        r = json.loads(lines[-1][len("RESULT ") :])
        assert r["host"] == "node-1"
        assert r["python"].startswith(str(env)), r  # the checkout's own environment
        assert r["pyspark"].startswith(str(env)), r
        assert r["driver_file"] is False  # /tmp is still hidden
    finally:
        shutil.rmtree(top, ignore_errors=True)
