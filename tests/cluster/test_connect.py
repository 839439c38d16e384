"""Spark Connect on a Connect server the test starts apart with the pip package's
``sbin/start-connect-server.sh`` (the shape of a cluster's Connect endpoint: the client is not the
driver; dl_helpers not installed on its workers, shipped as an artifact): the session, the input
checks, the model-server lifecycle, a killed client.

Each client runs in a process of its own (tests/support/connect_driver.py): PySpark holds one
session
kind per process. The same checks on a Connect server started in the client's process are in
tests/cluster/test_connect_jobs.py; the two-executor case over Connect, and the client killed there,
is ``tests/unit/servers/test_triton.py::test_two_executors_one_host[connect]``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

SUPPORT = Path(__file__).resolve().parents[1] / "support"
PY = sys.executable

pytestmark = [pytest.mark.spark, pytest.mark.triton]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_driver(*args: str, timeout_s: float = 420) -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run(
        [PY, str(SUPPORT / "connect_driver.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout_s,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = (proc.stdout + proc.stderr)[-6000:]
    raise AssertionError(f"connect_driver {args} gave no RESULT (exit {proc.returncode}):\n{tail}")


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory):
    """A Spark Connect server (local[2]) in its own JVM, on loopback; stopped afterwards."""
    import pyspark

    home = Path(pyspark.__file__).parent
    run = tmp_path_factory.mktemp("connect-server")
    port = _free_port()
    # The server's Python workers run this environment's Python with -S: its libraries (on
    # PYTHONPATH) but not the editable install of dl_helpers, as on a cluster where dl_helpers
    # is not installed; the client ships it as a session artifact (ship_package).
    wrapper = run / "python-nosite"
    wrapper.write_text(f'#!/bin/sh\nexec "{PY}" -S "$@"\n')
    wrapper.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_", "SPARK_"))}
    paths = [sysconfig.get_paths()["purelib"], str(SUPPORT)]
    env.update(
        SPARK_HOME=str(home),
        SPARK_PID_DIR=str(run),
        SPARK_LOG_DIR=str(run),
        PYSPARK_PYTHON=str(wrapper),
        SPARK_LOCAL_IP="127.0.0.1",
        PYTHONPATH=os.pathsep.join(paths),
    )
    start = [
        "bash",
        str(home / "sbin" / "start-connect-server.sh"),
        "--master",
        "local[2]",
        "--conf",
        f"spark.connect.grpc.binding.port={port}",
        "--conf",
        "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf",
        "spark.driver.host=127.0.0.1",
        "--conf",
        "spark.ui.enabled=false",
    ]
    subprocess.run(start, env=env, check=True, capture_output=True, timeout=60)
    deadline = time.monotonic() + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                logs = "".join(p.read_text()[-3000:] for p in run.glob("*.out"))
                subprocess.run(["bash", str(home / "sbin" / "stop-connect-server.sh")], env=env)
                pytest.fail(f"the Connect server did not open port {port} in 120 s:\n{logs}")
            time.sleep(0.5)
    yield f"sc://127.0.0.1:{port}"
    subprocess.run(
        ["bash", str(home / "sbin" / "stop-connect-server.sh")],
        env=env,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def result(connect_server):
    return _run_driver("server", connect_server)


def test_dl_helpers_reaches_the_executors_as_an_artifact(result):
    shipped = result["shipped"]
    assert shipped["before"].startswith("ImportError"), shipped  # not installed there
    assert "dl_helpers" in shipped["after"] and shipped["after"].endswith("| local"), shipped
    assert not shipped["after"].startswith(str(SUPPORT.parents[1])), shipped  # not the checkout


def test_session_is_a_connect_session_with_the_inference_settings(result):
    s = result["session"]
    assert s["module"] == "pyspark.sql.connect.session" and s["is_connect"] is True
    assert s["describe"]["master"] == "local[2]" and s["describe"]["connect"] == "true"
    assert s["describe"]["default_parallelism"] == "2"
    # Settings a client may change are applied on a running server too.
    assert s["arrow"] == "true" and s["arrow_batch"] == "1024"


def test_input_checks_give_the_same_results_and_errors(result):
    c = result["checks"]
    assert c["rows"] == 10 and c["equal"]
    assert "input column 'data' (row 41): has 11 values, expected 12 (shape [12])" in c["error"]


def test_servers_start_answer_and_stop(result):
    s = result["servers"]
    # local[2]: one executor (the driver), one server, on loopback.
    assert len(s["servers"]) == 1
    (info,) = s["servers"].values()
    assert info["address"] == "127.0.0.1" and "driver" in info["executor"]
    assert s["infer"]["rows"] == 100 and s["infer"]["equal"]
    assert s["infer"]["server_pids"] == [info["pid"]]
    assert s["left_after_stop"] == []


def test_a_failed_block_and_stop_all_leave_nothing(result):
    s = result["servers"]
    assert s["failed_block"] == "the cell failed" and s["failed_block_servers"] > 0
    assert s["left_after_failure"] == []
    assert s["stop_all_found"] == 1 and s["left_after_stop_all"] == []


def test_client_killed_on_a_connect_server_then_stop_all_servers(connect_server):
    """A client killed without stopping: its servers belong to the Connect server's executors,
    which live on (unlike a client that started the Connect server itself, whose death takes
    the executors and so the servers with it). The next session's stop_all_servers stops them."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [PY, str(SUPPORT / "connect_driver.py"), "orphan", connect_server]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        ready = None
        deadline = time.monotonic() + 300
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("READY "):
                ready = json.loads(line[len("READY ") :])
                break
            if time.monotonic() > deadline:
                break
        assert ready, "no READY from the orphan client:\n" + "".join(seen[-40:])
        proc.kill()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    tree = ",".join(str(p) for p in ready["tree"])
    res = _run_driver("cleanup", connect_server, tree)
    assert res["running_before"], "the servers were gone before stop_all_servers"
    assert res["found"] == 1 and res["left"] == []


def test_remote_argument_is_checked():
    from dl_helpers.session import build_session

    with pytest.raises(ValueError, match="expected 'sc://host:port'"):
        build_session(remote="http://example:15002")
    with pytest.raises(ValueError, match="names its own master"):
        build_session(remote="local[2]", master="local[4]")
