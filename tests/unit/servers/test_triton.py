"""dl_helpers.servers with real Spark and real Triton servers (PyTriton), no mocks.

Local mode uses the session fixture (``local[2]``); the two-executor cluster and the
owner-killed cases run a driver program of their own (tests/support/triton_driver.py), because one
process holds one SparkContext and those cases kill the driver.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import triton_models
from driver_process import gpu_discovery_script, kill_owner_and_time, read_line, start_driver
from server_processes import listen_addresses, process_tree, running

from dl_helpers.servers import (
    ServerError,
    ServerInfo,
    TritonServerManager,
    from_triton_output,
    to_triton_input,
    triton_predict_fn,
)
from dl_helpers.servers._launcher import library_path

SUPPORT = Path(__file__).resolve().parents[2] / "support"
DRIVER = SUPPORT / "triton_driver.py"

# Servers must be gone this long after their owner dies (owner poll 1 s + Triton stop ~5 s,
# and on a cluster the executor JVMs noticing the dead driver first; generous for a busy CI box).
OWNER_GONE_BOUND_S = 60


# ---------------------------------------------------------------------------------------------
# helpers


def affine_df(spark, n: int, partitions: int):
    from pyspark.sql import functions as F

    x = F.array(
        F.col("id").cast("float"), (F.col("id") * 0.5).cast("float"), F.lit(1.0).cast("float")
    )
    return spark.range(0, n, numPartitions=partitions).select("id", x.alias("x"))


def affine_udf(servers, batch_size: int):
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql.types import ArrayType, FloatType, LongType, StructField, StructType

    rtype = StructType([StructField("y", ArrayType(FloatType())), StructField("pid", LongType())])
    return predict_batch_udf(
        triton_predict_fn(servers, ["x"], ["y", "pid"]),
        return_type=rtype,
        batch_size=batch_size,
        input_tensor_shapes=[[3]],
    )


@pytest.fixture
def manager_kwargs():
    """Settings shared by the local-mode tests (small batches so that chunking is exercised)."""
    return {"max_batch_size": 8, "start_timeout_s": 120}


# ---------------------------------------------------------------------------------------------
# conversions (no Spark, no server)


def test_batch_of_one_keeps_the_batch_dimension():
    assert to_triton_input(np.array([3.0])).shape == (1, 1)  # one scalar row
    assert to_triton_input(np.array([[1.0, 2.0, 3.0]])).shape == (1, 3)  # one tensor row
    assert to_triton_input(np.array([1.5, 2.5]), np.float32).dtype == np.float32
    s = to_triton_input(np.array(["héllo"], dtype=object))
    assert s.shape == (1, 1) and s[0, 0] == "héllo".encode()
    out = from_triton_output(np.array([[b"A"]], dtype=object), scalar=True)
    assert out.shape == (1,) and out[0] == "A"
    out = from_triton_output(np.array([[7]]), scalar=True)
    assert out.shape == (1,) and out[0] == 7
    assert from_triton_output(np.array([[1.0, 2.0]]), scalar=False).shape == (1, 2)


def test_library_path_fix_is_applied_once():
    import sysconfig

    libdir = sysconfig.get_config_var("LIBDIR")
    once = library_path("/opt/x")
    assert once.split(os.pathsep) == [libdir, "/opt/x"]
    assert library_path(once) == once  # never grows, however often a server starts
    assert library_path(None) == libdir


def _bogus_server() -> ServerInfo:
    return ServerInfo(
        executor="elsewhere/1@1.00",
        executor_name="executor 9 on elsewhere (JVM pid 1)",
        host="elsewhere",
        pid=1,
        pid_start=1.0,
        protocol="http",
        address="127.0.0.1",
        port=1,
        models=("affine",),
        log_path="",
        run_dir="",
    )


def test_a_dying_server_is_reported_not_running():
    """A killed server's sockets close before its last process ends: an error raised on the
    closed connection waits for the process to exit before naming its state."""
    import subprocess

    from dl_helpers.servers._base import proc_start

    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: (time.sleep(0.6), sys.exit(0)))\n"
        "print('up', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "up"
        info = dataclasses.replace(_bogus_server(), pid=proc.pid, pid_start=proc_start(proc.pid))
        started = time.monotonic()
        assert info.is_alive(0.3)  # a live process: watched 0.3 s, still running
        assert time.monotonic() - started >= 0.3
        assert "Server process" in str(info.failure("busy", "m", OSError("timed out")))
        assert f"Server process {proc.pid} is running" in str(info.failure("busy", "m"))
        proc.terminate()  # exits 0.6 s later; the reaper below stands in for the launcher
        reaper = threading.Thread(target=proc.wait, daemon=True)
        reaper.start()
        assert info.is_alive()  # still exiting
        msg = str(info.failure("inference request failed", "m", ConnectionError("closed")))
        assert f"Server process {proc.pid} is NOT running" in msg, msg
        assert "ConnectionError: closed" in msg
    finally:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------------------------------------
# local mode


@pytest.mark.spark
@pytest.mark.triton
def test_local_start_infer_stop(spark, no_server_left, manager_kwargs):
    from pyspark.sql import functions as F
    from pyspark.sql.types import FloatType, LongType, StringType, StructField, StructType

    with TritonServerManager(
        spark, triton_models.bind_test_models, model_name="affine", **manager_kwargs
    ) as servers:
        (info,) = servers.servers.values()
        tree = process_tree(info.pid)
        names = {p.name() for p in tree}
        assert "tritonserver" in names and any("stub" in n for n in names), names
        # Listeners only on loopback, and only the one protocol port.
        assert listen_addresses(p.pid for p in tree) == {"127.0.0.1"}
        assert info.address == "127.0.0.1" and info.is_alive()
        # PyTriton's Unix sockets live in a short workspace path (sun_path holds 107 bytes).
        workspace = Path(json.loads((Path(info.run_dir) / "status.json").read_text())["workspace"])
        sockets = list(workspace.glob("*.sock"))
        assert sockets and max(len(str(p)) for p in sockets) < 100, sockets

        # 203 rows in 2 partitions, batches of 10: the last batch of a partition has 1 row; the
        # server takes 8 at most, so every 10-row batch is split.
        df = affine_df(spark, 203, 2)
        rows = df.select("id", "x", affine_udf(servers, 10)("x").alias("p")).collect()
        assert len(rows) == 203
        ref = triton_models.affine_reference(np.array([r.x for r in rows]))
        got = np.array([r.p.y for r in rows])
        np.testing.assert_array_equal(got, ref)
        assert {r.p.pid for r in rows} == {info.pid}

        # A DataFrame of exactly one row.
        one = df.limit(1).select(affine_udf(servers, 10)("x").alias("p")).collect()
        assert one[0].p.y == triton_models.affine_reference([0.0, 0.0, 1.0]).tolist()

        # A double scalar column: cast to the model's float32, one value per row back.
        from pyspark.ml.functions import predict_batch_udf

        scalar = predict_batch_udf(
            triton_predict_fn(servers, ["x"], ["y"]), return_type=FloatType(), batch_size=4
        )
        vals = (
            spark.range(5).select((F.col("id") / 4).alias("v")).select("v", scalar("v").alias("y"))
        )
        assert [(r.v, r.y) for r in vals.collect()] == [(i / 4, 2 * i / 4 + 1) for i in range(5)]

        # Strings in and out (second model on the same server), including a batch of one.
        rtype = StructType([StructField("upper", StringType()), StructField("length", LongType())])
        strings = predict_batch_udf(
            triton_predict_fn(servers, ["s"], model_name="strings"), return_type=rtype, batch_size=2
        )
        words = spark.createDataFrame([("spark",), ("triton",), ("ünï",)], "s string")
        res = words.select("s", strings("s").alias("p")).collect()
        assert [(r.p.upper, r.p.length) for r in res] == [
            (w.upper(), len(w)) for w in ("spark", "triton", "ünï")
        ]
    assert not servers.servers
    assert running(tree) == [], "server processes left after stop()"
    assert not Path(info.run_dir).exists() and not workspace.exists()
    assert servers.timings["start_s"] > 0 and servers.timings["stop_s"] > 0
    print(f"\nlocal start {servers.timings['start_s']} s, stop {servers.timings['stop_s']} s")


@pytest.mark.spark
@pytest.mark.triton
def test_port_taken_moves_to_another_port(spark, no_server_left, manager_kwargs):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with TritonServerManager(
            spark, triton_models.bind_test_models, model_name="affine", port=port, **manager_kwargs
        ) as servers:
            (info,) = servers.servers.values()
            assert info.port != port
            first = Path(info.run_dir) / "server-1.log"
            assert "already in use" in first.read_text()  # the first try really hit the taken port
            assert info.log_path.endswith("server-2.log")
            rows = affine_df(spark, 5, 1).select(affine_udf(servers, 4)("x").alias("p")).collect()
            assert [r.p.pid for r in rows] == [info.pid] * 5


@pytest.mark.spark
@pytest.mark.triton
def test_grpc_instances_and_batching_delay(spark, no_server_left):
    from pytriton.client import ModelClient

    with TritonServerManager(
        spark,
        triton_models.bind_test_models,
        model_name="affine",
        protocol="grpc",
        max_batch_size=16,
        batching_delay_us=500,
        instances=2,
        server_env={"TEST_ONLY_AFFINE": "1"},  # fewer stubs starting at once on 2 cores
    ) as servers:
        (info,) = servers.servers.values()
        assert info.url.startswith("grpc://127.0.0.1:")
        assert listen_addresses(p.pid for p in process_tree(info.pid)) == {"127.0.0.1"}
        with ModelClient(info.url, "affine", access_token=info.token) as client:
            config = client.model_config
        assert config.max_batch_size == 16
        assert config.batcher.max_queue_delay_microseconds == 500
        assert sum(config.instance_group.values()) == 2
        rows = affine_df(spark, 9, 1).select("x", affine_udf(servers, 4)("x").alias("p")).collect()
        for r in rows:
            assert r.p.y == triton_models.affine_reference(r.x).tolist()
        # Without the token, inference is refused.
        with ModelClient(info.url, "affine", init_timeout_s=10) as client:
            with pytest.raises(Exception, match="restricted|token"):
                client.infer_batch(x=np.ones((1, 3), np.float32))


@pytest.mark.spark
@pytest.mark.triton
def test_server_killed_mid_job_fails_fast(spark, no_server_left, manager_kwargs, tmp_path):
    mark = tmp_path / "batches"
    env = {"TEST_INFER_SLEEP_S": "0.2", "TEST_INFER_MARK": str(mark)}
    with TritonServerManager(
        spark, triton_models.bind_test_models, model_name="affine", server_env=env, **manager_kwargs
    ) as servers:
        (info,) = servers.servers.values()
        tree = process_tree(info.pid)
        workspace = Path(json.loads((Path(info.run_dir) / "status.json").read_text())["workspace"])
        killed_at = {}

        def kill_when_busy():
            deadline = time.monotonic() + 120
            while not mark.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            os.killpg(info.pid, signal.SIGKILL)  # the whole server: Python, tritonserver, stubs
            killed_at["t"] = time.monotonic()

        killer = threading.Thread(target=kill_when_busy, daemon=True)
        killer.start()
        # 600 rows in batches of 5 at 0.2 s each: a minute of work if nothing failed.
        df = affine_df(spark, 600, 2)
        with pytest.raises(Exception) as err:
            df.select(affine_udf(servers, 5)("x").alias("p")).collect()
        failed_at = time.monotonic()
        killer.join(5)
        assert "t" in killed_at, "the job failed before the server was killed"
        elapsed = failed_at - killed_at["t"]
        msg = str(err.value)
        assert f"Triton server for {info.executor_name}" in msg, msg[-3000:]
        assert "NOT running" in msg, msg[-3000:]
        assert elapsed < 30, f"job took {elapsed:.1f} s to fail after the server was killed"
        print(f"\njob failed {elapsed:.2f} s after the server was killed")
    deadline = time.monotonic() + 20
    while running(tree) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert running(tree) == []
    assert not workspace.exists()  # a hard-killed server's workspace is removed by stop()


@pytest.mark.spark
def test_task_without_a_server_gets_a_clear_error(spark):
    bogus = _bogus_server()
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql.types import FloatType

    udf = predict_batch_udf(
        triton_predict_fn({bogus.executor: bogus}, ["x"], model_name="affine"),
        return_type=FloatType(),
        batch_size=4,
    )
    with pytest.raises(Exception) as err:
        spark.range(3).select(udf("id")).collect()
    assert "no Triton server for executor driver" in str(err.value)
    assert "executor 9 on elsewhere" in str(err.value)
    assert "pass the manager itself" in str(err.value)


@pytest.mark.spark
@pytest.mark.triton
def test_executor_added_later_starts_one_server(spark, manager_kwargs, no_server_left):
    """An executor the manager's start did not reach (a replacement, or one dynamic allocation
    added) starts its server in its first inference task: two tasks of it at once start one
    server, which answers every row and is stopped with the manager's others. Here the manager's
    table knows only another executor, so the driver (local[2]) is the late one."""
    from dl_helpers.servers._launcher import stop_local_servers
    from dl_helpers.servers._run_folder import read_json, root_dir
    from dl_helpers.servers._spark_jobs import LateStart

    manager = TritonServerManager(
        spark, triton_models.bind_test_models, model_name="affine", **manager_kwargs
    )
    elsewhere = _bogus_server()

    class StartedElsewhere:  # what a started manager offers a predict function
        servers = {elsewhere.executor: elsewhere}
        model_name = "affine"

        def late_start(self):
            return LateStart(manager.kind, manager.launch, manager.manager_id)

    base = root_dir() / manager.manager_id
    try:
        # Two partitions, two task slots: both tasks find no server at the same moment.
        rows = affine_df(spark, 40, 2).select(
            "x", affine_udf(StartedElsewhere(), 4)("x").alias("p")
        )
        rows = rows.collect()
        runs = [p for p in base.iterdir() if p.is_dir()]
        assert len(runs) == 1, runs  # one run folder, one server, for the one executor
        pid = read_json(runs[0] / "status.json")["pid"]
        assert {r.p.pid for r in rows} == {pid}
        ref = triton_models.affine_reference
        assert all(list(r.p.y) == ref(r.x).tolist() for r in rows) and len(rows) == 40
    finally:
        found = stop_local_servers(manager.manager_id)  # what the manager's stop runs
    assert [(was, p) for _, p, was in found] == [(True, pid)]
    assert not base.exists()


@pytest.mark.spark
@pytest.mark.triton
def test_failing_bind_reports_executor_and_log(spark, no_server_left):
    servers = TritonServerManager(spark, triton_models.bind_failing, model_name="m")
    with pytest.raises(ServerError) as err:
        servers.start()
    msg = str(err.value)
    assert "executor driver" in msg and "failed to start" in msg
    assert "model file /models/missing.pt not found" in msg  # from the server's log tail
    assert not servers.servers


def _processes_of(manager: TritonServerManager) -> list[int]:
    import psutil

    return [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if manager.manager_id in " ".join(p.info["cmdline"] or [])
    ]


@pytest.mark.spark
@pytest.mark.triton
def test_interrupts_leave_no_server(spark, no_server_left):
    # A failing or interrupted cell inside the with block: __exit__ stops the servers.
    manager = TritonServerManager(spark, triton_models.bind_test_models, model_name="affine")
    with pytest.raises(KeyboardInterrupt):
        with manager as servers:
            (info,) = servers.servers.values()
            tree = process_tree(info.pid)
            raise KeyboardInterrupt
    assert running(tree) == [] and _processes_of(manager) == []

    # An interrupted start (Ctrl-C while a model loads): the half-started server is stopped.
    slow = TritonServerManager(spark, triton_models.bind_slow, model_name="m")
    timer = threading.Timer(6, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            slow.start()
    finally:
        timer.cancel()
    assert _processes_of(slow) == [] and not slow.servers


@pytest.mark.spark
@pytest.mark.triton
def test_readiness_timeout_raises_and_cleans_up(spark, no_server_left):
    servers = TritonServerManager(spark, triton_models.bind_slow, model_name="m", start_timeout_s=8)
    t0 = time.monotonic()
    with pytest.raises(ServerError) as err:
        servers.start()
    assert time.monotonic() - t0 < 40
    msg = str(err.value)
    assert "executor driver" in msg and "not ready after 8 s" in msg and "server log" in msg
    assert _processes_of(servers) == []


# ---------------------------------------------------------------------------------------------
# own driver processes: owner killed, two executors


# The lifecycle is one code path (DataFrame jobs) on classic and Connect sessions. CI runs this
# case over Connect; the same case on a classic session runs for the OpenAI-compatible servers
# (tests/unit/servers/test_llm_servers.py: two executors, owner killed) and in the classic notebook
# tests on
# the multi-node cluster. DL_TEST_NOTEBOOK_MODES=both runs it in both modes here too.
TWO_EXECUTOR_MODES = (
    [None, "local"] if os.environ.get("DL_TEST_NOTEBOOK_MODES") == "both" else ["local"]
)


@pytest.mark.spark
@pytest.mark.triton
@pytest.mark.slow
def test_owner_killed_local_servers_exit(no_server_left):
    seen: list[str] = []
    proc = start_driver(DRIVER, ["owner-local"])
    try:
        servers = read_line(proc, "READY", 300, seen)
        assert len(servers) == 1
        elapsed = kill_owner_and_time(proc, servers, OWNER_GONE_BOUND_S)
        print(f"\nlocal: servers gone {elapsed:.1f} s after the driver was killed")
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.spark
@pytest.mark.triton
@pytest.mark.slow
@pytest.mark.parametrize("remote", TWO_EXECUTOR_MODES, ids=lambda r: "connect" if r else "classic")
def test_two_executors_one_host(no_server_left, tmp_path, remote):
    gpu = gpu_discovery_script(tmp_path)
    seen: list[str] = []
    proc = start_driver(DRIVER, ["cluster", str(gpu)] + ([remote] if remote else []))
    try:
        res = read_line(proc, "RESULT", 540, seen)
        assert res["connect"] == (remote is not None)
        servers = res["servers"]
        # Two executors on one host: two servers, two ports, both on loopback.
        assert len(servers) == 2, servers
        assert len({s["port"] for s in servers.values()}) == 2
        assert len({s["pid"] for s in servers.values()}) == 2
        assert res["listen_addresses"] == ["127.0.0.1"]
        assert {s["cuda_visible_devices"] for s in servers.values()} == {"0"}  # the task's GPU
        # Every task reached its own executor's server, and both executors served.
        assert res["rows"] == 200 and res["all_equal"]
        pairs = res["pairs"]
        assert {k for k, _ in pairs} == set(servers), pairs
        assert all(servers[k]["pid"] == pid for k, pid in pairs), pairs
        assert res["left_after_stop"] == []
        times = {k: res[k] for k in ("session_s", "start_s", "stop_s")}
        print(f"\ncluster timings: {times}")

        again = read_line(proc, "READY", 300, seen)
        assert len(again) == 2
        elapsed = kill_owner_and_time(proc, again, OWNER_GONE_BOUND_S)
        print(f"cluster: servers gone {elapsed:.1f} s after the driver was killed")
    finally:
        if proc.poll() is None:
            proc.kill()


def test_start_failures_worth_a_retry_are_told_from_the_log():
    """Transient PyTriton start failures are retried on new ports; real errors are not."""
    from dl_helpers.servers._triton_server import retry_reason as _retry_reason

    # Lines from real failed starts (CI, 2026-11-23, and the port test above).
    refused = (
        'E1123 04:37:29.085519 19962 backend_model.cc:692] "ERROR: Failed to create instance: '
        "TritonModelException: Model initialize error: Traceback (most recent call last):\\n"
        '  File "/tmp/folderiBYc75/1/model.py", line 425, in initialize\\n'
        "    inference_handler_config = get_config_from_handshake_server(handshake_socket)\\n"
        "ConnectionRefusedError: [Errno 111] Connection refused"
    )
    assert _retry_reason(refused) == "a model instance could not reach its handshake socket"
    assert _retry_reason("Timeout occurred while waiting for config file") is not None
    assert _retry_reason("failed to bind: Address already in use") == "its port was taken"
    assert _retry_reason("ValueError: bind_model bound [], not 'm'") is None
    assert _retry_reason("") is None


# ---------------------------------------------------------------------------------------------
# several executors of one host stopping at once (run folders only, no Spark)

STOPPERS = 8  # executors on one host, each stopping its own server at the same moment
STOP_ROUNDS = 4


def _stop_at(go: str, manager: str, ident: tuple, out) -> None:
    """In a child process: wait for ``go``, then stop this executor's servers, as its stop task
    does; report what was found or the error."""
    from dl_helpers.servers._base import ExecutorIdentity
    from dl_helpers.servers._launcher import stop_local_servers

    while not os.path.exists(go):
        time.sleep(0.0005)
    try:
        out.put(("ok", stop_local_servers(manager, ExecutorIdentity(*ident))))
    except BaseException as e:
        out.put(("error", f"{type(e).__name__}: {e}"))


_SLOW_TO_STOP = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *a: (time.sleep(0.3), sys.exit(0)))\n"
    "time.sleep(600)\n"
)


def _fake_run(base: Path, ident, owner: tuple[int, float]):
    """A run folder as a start task leaves it, its server a real process (a sleeping child in a
    session of its own, as servers run) that the stop must end."""
    import subprocess

    from dl_helpers.servers._base import proc_start
    from dl_helpers.servers._run_folder import tag, write_json

    # A server takes a moment to stop after SIGTERM (as real ones do, longer): the executors
    # waiting on its lock then all go on at once.
    proc = subprocess.Popen([sys.executable, "-S", "-c", _SLOW_TO_STOP], start_new_session=True)
    threading.Thread(target=proc.wait, daemon=True).start()  # reap it once stopped
    run = base / tag(ident.key)
    run.mkdir(parents=True, mode=0o700)
    (base / f"{run.name}.lock").touch()
    status = {"state": "ready", "pid": proc.pid, "pid_start": proc_start(proc.pid)}
    write_json(run / "status.json", dict(status, owner_pid=owner[0], owner_start=owner[1]))
    return proc


def test_executors_of_one_host_stop_at_once(tmp_path, monkeypatch):
    """Every executor's stop task on a host runs at the same moment (the stop job is one barrier
    stage): each must stop its own server, none may trip over a folder or lock file another
    removed, and nothing is left."""
    import multiprocessing as mp

    from dl_helpers.servers._base import ExecutorIdentity, proc_start
    from dl_helpers.servers._run_folder import ROOT_ENV

    root = tmp_path / "runs"
    monkeypatch.setenv(ROOT_ENV, str(root))
    me = (os.getpid(), proc_start(os.getpid()))
    ctx = mp.get_context("fork")
    errors, stopped = [], 0
    for rnd in range(STOP_ROUNDS):
        manager = f"m{rnd}"
        idents = [ExecutorIdentity("host", 1000 + i, 1.0 + i, str(i)) for i in range(STOPPERS)]
        servers = [_fake_run(root / manager, ident, me) for ident in idents]
        go = str(tmp_path / f"go-{rnd}")
        out = ctx.Queue()
        procs = [
            ctx.Process(target=_stop_at, args=(go, manager, dataclasses.astuple(i), out))
            for i in idents
        ]
        for p in procs:
            p.start()
        time.sleep(0.5)  # let every stopper wait at the line
        Path(go).touch()
        results = [out.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(30)
        errors += [r for what, r in results if what == "error"]
        stopped += sum(1 for what, found in results if what == "ok" for _, _, was in found if was)
        assert all(s.wait(10) is not None for s in servers)
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []
    print(
        f"\n{STOP_ROUNDS} rounds x {STOPPERS} executors: {stopped} servers stopped, "
        f"{len(errors)} errors, left {left}"
    )
    assert errors == [], errors[:3]
    assert stopped == STOP_ROUNDS * STOPPERS
    assert left == []
