"""Shared fixtures: a real local SparkSession, the multi-node cluster, the papermill runner, and a
process-table check that no model server (Triton, OpenAI-compatible) outlives the tests."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ci.run_notebook import run_notebook  # noqa: E402

OUTPUT = Path(os.environ.get("DL_TEST_OUTPUT", ROOT / "output" / "test"))
TRITON_PROCESS_NAMES = ("tritonserver", "triton_python_backend_stub")

# Functions defined in test modules are pickled by reference (module name + function name):
# let Spark's Python workers import the test modules too.
# The helper modules (tests/support) are imported by name by the tests and their drivers.
SUPPORT = ROOT / "tests" / "support"
sys.path.insert(0, str(SUPPORT))
TEST_DIRS = sorted({str(p.parent) for p in (ROOT / "tests").rglob("test_*.py")})
_paths = [str(SUPPORT), *TEST_DIRS, os.environ.get("PYTHONPATH", "")]
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in _paths if p)

from notebook_checks import check_for_readers  # noqa: E402

# Tests never reach the internet: every data set and model takes its offline path.
os.environ.setdefault("DL_HELPERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Every Spark application the tests start reads tests/spark_conf/spark-defaults.conf: its JVMs
# (drivers, executors, Connect servers) start faster with the JIT and GC flags it sets; nothing
# else about Spark changes.
os.environ.setdefault("SPARK_CONF_DIR", str(ROOT / "tests" / "spark_conf"))


# Every model server this test run starts keeps its run folders here, and every process of such
# a server (tritonserver, stubs, an inference engine) inherits the variable: the process scans
# below count only this run's servers, not those of another checkout's tests on the same machine.
SERVERS_ROOT_ENV = "DL_HELPERS_SERVERS_DIR"  # dl_helpers.servers._run_folder.ROOT_ENV
os.environ.setdefault(SERVERS_ROOT_ENV, tempfile.mkdtemp(prefix="dlh-tests-"))


def _ours(p) -> bool:
    import psutil

    try:
        return p.environ().get(SERVERS_ROOT_ENV) == os.environ[SERVERS_ROOT_ENV]
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True  # cannot tell: count it, rather than miss a leak


def live_server_processes() -> list[str]:
    """This run's model-server processes ('pid command'): every process of a dl_helpers server
    (the detached server process and its children: tritonserver, Python-backend stubs, an
    OpenAI-compatible engine) carries DL_HELPERS_SERVER in its environment; Triton's own
    processes are also matched by name, in case a server lost that variable."""
    import psutil
    from server_processes import server_processes

    found = set(server_processes())
    for p in psutil.process_iter(["pid", "name", "cmdline"]):
        try:
            name = p.info["name"] or ""
            cmd = " ".join(p.info["cmdline"] or [])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if any(n in name or n in cmd.split(" ")[0] for n in TRITON_PROCESS_NAMES) and _ours(p):
            found.add(f"{p.info['pid']} {cmd[:120]}")
    return sorted(found)


@pytest.fixture(scope="session")
def spark():
    """A real local SparkSession (2 cores), built by dl_helpers like the notebooks do."""
    from dl_helpers.session import build_session

    session = build_session("dl-helpers-tests", master="local[2]")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def cluster():
    """A real standalone cluster of two workers that share no disk with the driver (see
    tests/support/cluster.py): each has its own hostname and sees none of the driver's output
    folders, data cache or /tmp; ``cluster.shared`` is the only folder the driver and workers
    share."""
    from cluster import StandaloneCluster, isolation_error

    why = isolation_error()
    if why:
        pytest.skip(f"multi-node cluster fixture unavailable: {why}")
    data_cache = os.environ.get("DL_HELPERS_DATA_DIR", Path.home() / ".cache" / "dl_helpers")
    c = StandaloneCluster(workers=2, cores=1, hide=(OUTPUT, data_cache))
    c.start()
    yield c
    c.stop()
    shutil.rmtree(c.root, ignore_errors=True)


def cluster_parameters(cluster, notebook: str) -> dict:
    """Notebook parameters that run it on the fixture cluster, its files under shared storage."""
    return {
        "spark_master": cluster.master,
        "shared_dir": str(cluster.shared / Path(notebook).stem),
    }


# How the notebook tests talk to Spark: a classic session, or Spark Connect (a Connect server in
# the kernel, on the same cluster). Every notebook passes in both modes with the same checks; to
# keep CI under its time limit each notebook test runs in one mode there (the split below covers
# both modes, torch and TensorFlow, Triton and the LLM server). DL_TEST_NOTEBOOK_MODES=both runs
# every notebook in both modes; =classic or =connect runs all in one.
CLASSIC, CONNECT = "classic", "connect"
CONNECT_IN_CI = {
    "conditional_generation_torch",
    "housing_regression_torch",
    "llm_batch_inference_torch",
    "keras_resnet50_tf",
    "pipelines_tf",
    "text_classification_tf",
}


def notebook_modes(notebook: str, default: str | None = None) -> list[str]:
    """The modes a notebook's test runs in (a pytest parameter list); ``default`` overrides the
    split for a test of its own (DL_TEST_NOTEBOOK_MODES still wins)."""
    chosen = os.environ.get("DL_TEST_NOTEBOOK_MODES", "").strip().lower()
    if chosen == "both":
        return [CLASSIC, CONNECT]
    if chosen in (CLASSIC, CONNECT):
        return [chosen]
    if chosen:
        raise pytest.UsageError(f"DL_TEST_NOTEBOOK_MODES={chosen!r}: use both, classic or connect")
    if default:
        return [default]
    return [CONNECT if Path(notebook).stem in CONNECT_IN_CI else CLASSIC]


# Driver settings for notebooks on the fixture cluster: the app waits for both executors, and a
# failing task is not retried: the notebooks' bad-input demonstrations fail by design, and a
# cluster's default of four attempts per task only repeats the same error (local mode, what
# users start with, makes one attempt too).
CLUSTER_SUBMIT_ARGS = (
    "--conf spark.executor.instances=2 --conf spark.task.maxFailures=1 pyspark-shell"
)


@pytest.fixture
def run_nb():
    """Run a notebook with papermill in its environment; returns run_notebook's dict."""

    def _run(
        notebook: str,
        parameters: dict | None = None,
        cell_timeout: int = 600,
        cluster=None,
        output=None,
        mode: str = CLASSIC,
    ):
        params = dict(parameters or {})
        extra_env = None
        if cluster is not None:
            params.update(cluster_parameters(cluster, notebook))
            extra_env = {"PYSPARK_SUBMIT_ARGS": CLUSTER_SUBMIT_ARGS}
        if mode == CONNECT:
            # A Spark Connect server in the notebook's kernel, on the same master: the notebook
            # then talks to Spark only through Connect.
            params["spark_remote"] = "local"
        where = output or ("cluster" if cluster is not None else "local")
        out = OUTPUT / (where if mode == CLASSIC else f"{where}-{mode}")
        res = run_notebook(ROOT / notebook, out, params, cell_timeout, extra_env=extra_env)
        # The notebook ran in the mode asked for (every notebook records describe(spark)).
        session = res["results"]["session"]
        assert session["connect"] == str(mode == CONNECT).lower(), session
        check_for_readers(res["executed"])
        return res

    return _run


@pytest.fixture
def no_server_left():
    """Fail the test if it leaves a model-server process (any kind) behind."""
    before = set(live_server_processes())
    yield
    import time

    deadline = time.monotonic() + 30
    left = set(live_server_processes()) - before
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = set(live_server_processes()) - before
    assert not left, f"server processes left running: {sorted(left)}"


_SERVERS_AT_START: set[str] = set()


def pytest_sessionstart(session):
    # Only processes this test run started count (another checkout's server is not ours).
    _SERVERS_AT_START.update(live_server_processes())


def pytest_sessionfinish(session, exitstatus):
    left = sorted(set(live_server_processes()) - _SERVERS_AT_START)
    if left:
        print(
            f"\nERROR: model-server processes still running after the tests: {left}",
            file=sys.stderr,
        )
        session.exitstatus = 1
