"""dl_helpers.session.executor_gpus: which GPUs each executor's tasks see (none on this machine)."""

import shutil

from dl_helpers.session import ExecutorGpus, executor_gpus


def test_executor_gpus_on_local_spark(spark):
    found = executor_gpus(spark)
    assert [g.executor for g in found] == ["driver"]  # local mode: the driver is the executor
    if shutil.which("nvidia-smi") is None:
        assert found[0].addresses == () and found[0].names == ()
        assert str(found[0]).endswith(": no GPU")


def test_executor_gpus_printed():
    assert str(ExecutorGpus("1", "node-1", ("0",), ("NVIDIA H100",))) == (
        "executor 1 on node-1: GPU 0 (NVIDIA H100)"
    )
    assert str(ExecutorGpus("2", "node-2", ("0", "1"), ("A", "B"))) == (
        "executor 2 on node-2: GPU 0 (A), GPU 1 (B)"
    )
    assert str(ExecutorGpus("3", "n", (), ("A",))) == (
        "executor 3 on n: no GPU assigned by Spark; the host has A"
    )
