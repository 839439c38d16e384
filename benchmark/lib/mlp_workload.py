"""The MLP workload of the small-row benchmarks (``udf_overhead``, ``mlp_fast_path``,
``job_features``): N rows of 784 float32 values in Parquet and the image-classification MLP
(784-512-512-10, seeded random weights), and the model alone on those rows (the limit).

Functions of this module travel to Spark's Python workers by name: call
:func:`importable_by_workers` before the session starts.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

DIM = 784
ROOT = Path(__file__).resolve().parents[2]  # the repository


def importable_by_workers() -> None:
    """Put the repository on ``PYTHONPATH``, which the Python workers of a Spark session
    started after this inherit (so they import this module and dl_helpers)."""
    parts = [str(ROOT), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in parts if p))


def make_model():
    """The MLP, the same weights in every process (seed 0)."""
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(DIM, 512),
        torch.nn.ReLU(),
        torch.nn.Linear(512, 512),
        torch.nn.ReLU(),
        torch.nn.Linear(512, 10),
    ).eval()


def make_predict_fn():
    """``make_predict_fn`` for the predict UDFs: the MLP on one math thread, float32 in,
    (n, 10) float32 logits out."""
    import torch

    torch.set_num_threads(1)
    model = make_model()

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(x.astype(np.float32, copy=False))).numpy()

    return predict


def make_data(path: Path, rows: int, files: int) -> None:
    """``files`` Parquet files under ``path`` with ``id`` (long), ``x`` (the rows as
    ``array<float>``) and ``xb`` (the same rows as a tensor column, :mod:`dl_helpers.udfs`:
    each row's raw float32 bytes, dtype and shape in the column's metadata). Kept if ``path``
    already holds ``files`` files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from dl_helpers.udfs import tensor_table

    if path.exists() and len(list(path.glob("*.parquet"))) == files:
        return
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    per = -(-rows // files)
    for f in range(files):
        lo, hi = f * per, min(rows, (f + 1) * per)
        x = rng.random((hi - lo, DIM), dtype=np.float32)
        x_list = pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), DIM).cast(
            pa.list_(pa.float32())
        )
        table = tensor_table({"id": np.arange(lo, hi, dtype=np.int64), "x": x_list, "xb": x})
        pq.write_table(table, path / f"part-{f:03d}.parquet", row_group_size=8192)


def model_alone(path: Path, cores: int, rows: int) -> float:
    """Rows/s of the MLP on all rows in memory, one process per core, one thread each."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ctx.Pool(cores) as pool:
        shards = pool.starmap(_model_shard, [(str(path), i, cores) for i in range(cores)])
    # Every process starts its clock after loading; the slowest decides.
    return rows / max(shards)


def _model_shard(path: str, shard: int, nshards: int) -> float:
    import pyarrow.parquet as pq
    import torch

    torch.set_num_threads(1)
    col = pq.read_table(path, columns=["xb"]).column("xb").to_pylist()[shard::nshards]
    # bytearray: a writable buffer (torch.from_numpy warns on read-only ones)
    x = np.frombuffer(bytearray(b"".join(col)), dtype=np.float32).reshape(-1, DIM)
    model = make_model()
    with torch.inference_mode():
        model(torch.from_numpy(x[:1024]))  # warm-up
        t0 = time.perf_counter()
        for i in range(0, len(x), 1024):
            model(torch.from_numpy(x[i : i + 1024]))
        return time.perf_counter() - t0
