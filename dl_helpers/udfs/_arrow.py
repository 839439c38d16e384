"""Predict UDFs on Arrow batches: :func:`batched_arrow_udf` runs a model over the numpy arrays
read from each Arrow batch (the layout is the caller's: tensor columns, encoded images) and
turns its outputs into Arrow the way ``predict_batch_udf`` accepts them.

Usage::

    udf = batched_arrow_udf(make_predict_fn, read_inputs, return_type=FloatType(), batch_size=64)
    df.withColumn("pred", udf("x"))      # read_inputs(arrays, ids) -> [np.ndarray per column]
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping

import numpy as np

# NOTE: pyspark and pyarrow are imported inside the functions so that importing dl_helpers
# stays cheap.


def tensor_array(x: np.ndarray):
    """(n, *shape) numpy array -> ``pa.BinaryArray`` of n rows of raw bytes (one copy at most)."""
    import pyarrow as pa

    x = np.ascontiguousarray(x)
    n = len(x)
    per_row = x[0].nbytes if n else 0
    if n * per_row >= 2**31:
        raise ValueError(f"{n * per_row} bytes is too much for one Arrow array: write in chunks")
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(per_row)
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(x)])


def arrow_result(preds, return_type, n: int):
    """``predict``'s output (an array, or a dict of arrays for a struct) -> a ``pa.Array`` of
    ``return_type``, the way ``predict_batch_udf`` accepts it: scalar types from 1-D arrays,
    ``ArrayType`` from 2-D arrays (n, k), ``BinaryType`` from (n, ...) arrays (raw bytes)."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_type
    from pyspark.sql.types import ArrayType, BinaryType, StructType

    target = to_arrow_type(return_type)
    if isinstance(return_type, StructType):
        if not isinstance(preds, Mapping):
            raise ValueError(
                "Prediction results for StructType must be a dictionary of arrays "
                f"(one per field), got: {type(preds).__name__}"
            )
        names = return_type.names
        if set(preds) != set(names):
            raise ValueError(
                "Prediction result columns did not match expected return_type "
                f"columns: expected {names}, got: {list(preds)}"
            )
        children = [arrow_result(preds[f.name], f.dataType, n) for f in return_type.fields]
        return pa.StructArray.from_arrays(children, fields=list(target))
    a = np.asarray(preds)
    if len(a) != n:
        raise ValueError(
            f"Prediction results must have same length as input data: got {len(a)} for {n} rows"
        )
    if isinstance(return_type, BinaryType):
        return tensor_array(a).cast(target)
    if isinstance(return_type, ArrayType):
        if a.ndim != 2:
            raise ValueError("Prediction results for ArrayType must be two-dimensional.")
        k = a.shape[1]
        values = _numpy_to_arrow(a.reshape(-1), target.value_type)
        offsets = np.arange(0, (n + 1) * k, k, dtype=np.int32)
        offsets = pa.Array.from_buffers(pa.int32(), n + 1, [None, pa.py_buffer(offsets)])
        return pa.ListArray.from_arrays(offsets, values, type=target)
    if a.ndim != 1:
        raise ValueError("Prediction results for scalar types must be one-dimensional.")
    return _numpy_to_arrow(a, target)


def _numpy_to_arrow(a: np.ndarray, target):
    """A 1-D numpy array -> a ``pa.Array`` of ``target`` (numbers: numpy casts, Arrow wraps the
    memory; ``pa.array(a, type=...)`` takes a slow element-wise path even for the same type)."""
    import pyarrow as pa

    if pa.types.is_integer(target) or pa.types.is_floating(target):
        return pa.array(np.ascontiguousarray(a, dtype=target.to_pandas_dtype()))
    return pa.array(a, type=target)


def arrow_udf(fn, return_type, iterator: bool):
    """A native Arrow UDF of ``fn`` (a scalar one, or the iterator form)."""
    import warnings

    from pyspark.sql import functions as F

    kind = F.ArrowUDFType.SCALAR_ITER if iterator else F.ArrowUDFType.SCALAR
    with warnings.catch_warnings():
        # The bodies are callable objects (picklable, no closures); Spark would rather read
        # type hints, but the kind given here says the same.
        warnings.filterwarnings("ignore", message=".*type hints for arrow UDF")
        return F.arrow_udf(fn, return_type, kind)


class _BatchedPredict:
    """The iterator Arrow UDF's body (pickled to the workers)."""

    def __init__(self, make_predict_fn, read_inputs, return_type, batch_size, key, has_row_id):
        self.make_predict_fn = make_predict_fn
        self.read_inputs = read_inputs
        self.return_type = return_type
        self.batch_size = batch_size
        self.key = key
        self.has_row_id = has_row_id

    def predict_fn(self):
        from pyspark.ml.model_cache import ModelCache

        fn = ModelCache.get(self.key)
        if fn is None:
            fn = self.make_predict_fn()
            ModelCache.add(self.key, fn)
        return fn

    def __call__(self, batches):
        import pyarrow as pa

        predict = self.predict_fn()
        for batch in batches:
            arrays = list(batch) if isinstance(batch, tuple) else [batch]
            ids = arrays.pop() if self.has_row_id else None
            n = len(arrays[0])
            if n == 0:
                yield pa.array([], type=_target(self.return_type))
                continue
            inputs = self.read_inputs(arrays, ids)
            parts = []
            for lo in range(0, n, self.batch_size):
                # A copy per model batch: predict gets writable arrays, as from predict_batch_udf.
                xs = [np.array(x[lo : lo + self.batch_size]) for x in inputs]
                m = len(xs[0])
                parts.append(arrow_result(predict(*xs), self.return_type, m))
            yield parts[0] if len(parts) == 1 else pa.concat_arrays(parts)


def _target(return_type):
    from pyspark.sql.pandas.types import to_arrow_type

    return to_arrow_type(return_type)


def batched_arrow_udf(
    make_predict_fn: Callable,
    read_inputs: Callable,
    *,
    return_type,
    batch_size: int,
    has_row_id: bool = False,
    key=None,
):
    """An iterator Arrow UDF: per Arrow batch, ``read_inputs(arrays, ids)`` gives the model's
    numpy inputs (one per column, n rows each), ``predict`` runs on ``batch_size`` rows at a
    time, and its outputs become the Arrow result (see :func:`arrow_result`). With
    ``has_row_id`` the last column is the row id, handed to ``read_inputs`` for its messages.
    ``make_predict_fn`` runs once per Python worker (cached under ``key``, like
    predict_batch_udf's models)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    body = _BatchedPredict(
        make_predict_fn, read_inputs, return_type, batch_size, key or uuid.uuid4(), has_row_id
    )
    return arrow_udf(body, return_type, iterator=True)
