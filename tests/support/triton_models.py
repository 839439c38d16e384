"""Small models that the Triton tests serve (no weights, outputs easy to check).

``bind_test_models(triton)`` binds:

- ``affine``: x float32 [n] -> y = 2x + 1 float32 [n], pid int64 [1] (the serving process, so a
  test can tell which server answered).
- ``strings``: s bytes [1] -> upper bytes [1], length int64 [1].

The server environment may slow ``affine`` down (``TEST_INFER_SLEEP_S`` per batch) and make it
touch a file on each batch (``TEST_INFER_MARK``), for the mid-job failure test, and skip
``strings`` (``TEST_ONLY_AFFINE``).
"""

from __future__ import annotations

import os
import time

import numpy as np


def affine_reference(x: np.ndarray) -> np.ndarray:
    return (2 * np.asarray(x, np.float32) + 1).astype(np.float32)


def bind_test_models(triton) -> None:
    from pytriton.decorators import batch
    from pytriton.model_config import Tensor

    sleep_s = float(os.environ.get("TEST_INFER_SLEEP_S", "0"))
    mark = os.environ.get("TEST_INFER_MARK")

    @batch
    def affine(x):
        if mark:
            with open(mark, "a") as f:
                f.write(f"{len(x)}\n")
        if sleep_s:
            time.sleep(sleep_s)
        pid = np.full((len(x), 1), os.getpid(), dtype=np.int64)
        return {"y": affine_reference(x), "pid": pid}

    @batch
    def strings(s):
        text = [v.decode("utf-8") for v in s.reshape(-1)]
        upper = np.array([t.upper().encode("utf-8") for t in text], dtype=np.bytes_)
        length = np.array([len(t) for t in text], dtype=np.int64)
        return {"upper": upper.reshape(-1, 1), "length": length.reshape(-1, 1)}

    triton.bind(
        model_name="affine",
        infer_func=affine,
        inputs=[Tensor(name="x", dtype=np.float32, shape=(-1,))],
        outputs=[
            Tensor(name="y", dtype=np.float32, shape=(-1,)),
            Tensor(name="pid", dtype=np.int64, shape=(1,)),
        ],
    )
    if os.environ.get("TEST_ONLY_AFFINE"):
        return
    triton.bind(
        model_name="strings",
        infer_func=strings,
        inputs=[Tensor(name="s", dtype=np.bytes_, shape=(1,))],
        outputs=[
            Tensor(name="upper", dtype=np.bytes_, shape=(1,)),
            Tensor(name="length", dtype=np.int64, shape=(1,)),
        ],
    )


def bind_failing(triton) -> None:
    raise RuntimeError("model file /models/missing.pt not found (deliberate test failure)")


def bind_slow(triton) -> None:
    time.sleep(120)  # longer than the test's start_timeout_s
