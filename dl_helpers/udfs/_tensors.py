"""Tensor columns: raw bytes with their dtype and shape, and a predict UDF that reads them.

Moving rows of a few KB between the JVM and Python costs more than a small model: an
``array<float>`` column is turned into one Python object per row on the way (pandas), and
``predict_batch_udf`` stacks them again. A *tensor column* stores each row's tensor as raw
bytes in a ``binary`` column (C order), with the dtype and shape recorded in the column's
metadata (``TENSOR_METADATA_KEY``), which Spark keeps in Parquet files it writes and reads:

- :func:`write_tensors` / :func:`tensor_table`: numpy arrays on the driver -> Parquet / Arrow;
- :func:`to_tensor_column`: a Spark array column -> a tensor column (checked like
  ``checked_predict_batch_udf`` checks its inputs), to write once and read many times;
- :func:`tensor_spec`: the :class:`TensorSpec` recorded on a DataFrame's column.

:func:`tensor_predict_udf` is the fast path: a native Arrow UDF (iterator form) that views each
Arrow batch's data buffer with ``np.frombuffer`` (no per-row objects), hands ``predict`` arrays
of ``batch_size`` rows and builds the Arrow result from the returned arrays. Same contract as
``predict_batch_udf``: ``make_predict_fn()`` -> ``predict(np.ndarray, ...)`` returning an
array (or a dict of arrays for a struct ``return_type``), the model made once per Python worker
(in the cache predict_batch_udf uses), batches that never span Arrow batches; uint8 stays uint8.
Bad rows fail with the messages of :mod:`dl_helpers.udfs`.

:func:`batched_arrow_udf` is the machinery underneath, for other column layouts
(:mod:`dl_helpers.udfs` decodes JPEG/PNG bytes with it).
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dl_helpers.udfs._checks import check_column, column_name, row_suffix

# NOTE: pyspark and pyarrow are imported inside the functions so that importing dl_helpers
# stays cheap.

TENSOR_METADATA_KEY = "dl_helpers.tensor"
# Spark reads its own schema (with column metadata) from this Parquet footer key.
SPARK_SCHEMA_KEY = b"org.apache.spark.sql.parquet.row.metadata"


@dataclass(frozen=True)
class TensorSpec:
    """The dtype (a numpy name, e.g. ``"float32"``, ``"uint8"``) and shape of one row's tensor."""

    dtype: str
    shape: tuple[int, ...]

    def __post_init__(self):
        object.__setattr__(self, "dtype", np.dtype(self.dtype).name)
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if not self.shape or min(self.shape) < 1:
            raise ValueError(f"a tensor shape needs positive dimensions, got {list(self.shape)}")

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    def metadata(self) -> dict:
        """Column metadata that records this spec (Spark keeps it in Parquet)."""
        return {TENSOR_METADATA_KEY: {"dtype": self.dtype, "shape": list(self.shape)}}

    @classmethod
    def from_metadata(cls, metadata: Mapping | None, column: str = "?") -> TensorSpec:
        found = (metadata or {}).get(TENSOR_METADATA_KEY)
        if not found:
            raise ValueError(
                f"column '{column}' has no tensor metadata ({TENSOR_METADATA_KEY!r}): write it "
                "with write_tensors or to_tensor_column, or give TensorSpec(dtype, shape)"
            )
        return cls(found["dtype"], tuple(found["shape"]))

    def describe(self) -> str:
        return f"shape {list(self.shape)}, {self.dtype}"


def tensor_spec(df, column: str) -> TensorSpec:
    """The :class:`TensorSpec` recorded on ``df``'s column ``column``."""
    return TensorSpec.from_metadata(df.schema[column].metadata, column)


# ---------------------------------------------------------------------------------------------
# Writing tensor columns


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


def tensor_table(columns: Mapping[str, object]):
    """A ``pa.Table`` from numpy arrays: those with 2+ dimensions become tensor columns (their
    rows' dtype and shape in the field metadata), the others (and Arrow arrays) plain columns.
    Spark reads the metadata from Parquet written from this table (its schema is stored the way
    Spark stores it).
    """
    import pyarrow as pa
    from pyspark.sql.pandas.types import from_arrow_schema

    arrays, fields, specs = [], [], {}
    for name, values in columns.items():
        if isinstance(values, (pa.Array, pa.ChunkedArray)):  # any other Arrow column
            arrays.append(values)
            fields.append(pa.field(name, values.type))
            continue
        values = np.asarray(values)
        if values.ndim >= 2:
            spec = TensorSpec(values.dtype.name, values.shape[1:])
            specs[name] = spec
            arrays.append(tensor_array(values))
            meta = {TENSOR_METADATA_KEY: json.dumps(spec.metadata()[TENSOR_METADATA_KEY])}
            fields.append(pa.field(name, pa.binary(), metadata=meta))
        else:
            arr = pa.array(values)
            arrays.append(arr)
            fields.append(pa.field(name, arr.type))
    if len({len(a) for a in arrays}) > 1:
        lengths = {k: len(a) for k, a in zip(columns, arrays)}
        raise ValueError(f"columns of different lengths: {lengths}")
    schema = pa.schema(fields)
    spark_schema = from_arrow_schema(schema)
    for f in spark_schema.fields:
        if f.name in specs:
            f.metadata = specs[f.name].metadata()
    schema = schema.with_metadata({SPARK_SCHEMA_KEY: spark_schema.json().encode()})
    return pa.Table.from_arrays(arrays, schema=schema)


def write_tensors(
    path, columns: Mapping[str, object], *, files: int = 1, row_group_size: int = 8192
) -> list[Path]:
    """Write numpy arrays as Parquet files under the folder ``path`` (see :func:`tensor_table`).

    ``files`` splits the rows into that many files (Spark reads one task per file or more).
    Files of an earlier call (``part-*.parquet``) are replaced, so a rerun with fewer files does
    not leave stale rows behind. Returns the files written.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("part-*.parquet"):
        old.unlink()
    n = len(next(iter(columns.values())))
    per = -(-n // max(1, files)) if n else 0
    out = []
    for f in range(max(1, files)):
        lo, hi = f * per, min(n, (f + 1) * per)
        if f and lo >= hi:
            break
        part = {k: np.asarray(v)[lo:hi] for k, v in columns.items()}
        target = path / f"part-{f:05d}.parquet"
        pq.write_table(tensor_table(part), target, row_group_size=row_group_size)
        out.append(target)
    return out


def to_tensor_column(
    column, dtype: str, shape: Sequence[int], *, row_id: str | None = None, name: str | None = None
):
    """A Spark array column (flat, ``prod(shape)`` numbers a row) -> a tensor column.

    The rows are checked first like ``checked_predict_batch_udf``'s inputs (null, null/NaN
    element, length); for an integer ``dtype``, values that do not fit it exactly (300 or 1.5
    for uint8) fail too, naming the row (floats are rounded to a float ``dtype``, as a cast).
    Write the result to Parquet once; :func:`tensor_predict_udf` reads it fast.
    """
    from pyspark.sql import functions as F

    spec = TensorSpec(dtype, shape)
    name = name or column_name(column, 0)
    rid = F.col(row_id) if row_id else None
    checked = check_column(column, name, list(spec.shape), rid)
    args = [checked] + ([rid] if rid is not None else [])
    pack = _arrow_udf(_Packer(spec, name, rid is not None), "binary", iterator=False)
    return pack(*args).alias(name, metadata=spec.metadata())


class _Packer:
    """Arrow UDF body: list arrays -> raw bytes of ``spec``, exact conversion or an error."""

    def __init__(self, spec: TensorSpec, name: str, has_row_id: bool):
        self.spec, self.name, self.has_row_id = spec, name, has_row_id

    def __call__(self, values, ids=None):
        spec = self.spec
        n = len(values)
        flat = values.flatten().to_numpy(zero_copy_only=False)
        out = flat.astype(spec.dtype)
        if out.dtype.kind in "iub":  # floats may round (double -> float32); integers must not
            exact = out.astype(flat.dtype) == flat
            if not exact.all():
                i = int(np.argmin(exact))
                row = ids[i // spec.size].as_py() if ids is not None else None
                raise ValueError(
                    f"{_where(self.name, row)}value {flat[i]!r} does not fit {spec.dtype} exactly"
                )
        return tensor_array(out.reshape((n, *spec.shape)))


def _where(name: str, row=None) -> str:
    """The start of an error message, as dl_helpers.udfs._checks words it."""
    return f"input column '{name}'" + (f" (row {row})" if row is not None else "") + ": "


def check_tensor_column(column, name: str, spec: TensorSpec, row_id=None):
    """``column`` (binary) with checks: not null, exactly ``spec.nbytes`` bytes a row."""
    from pyspark.sql import functions as F

    col = F.col(column) if isinstance(column, str) else column
    prefix = F.concat(F.lit(f"input column '{name}'"), row_suffix(row_id), F.lit(": "))
    size = F.concat(
        F.lit("has "),
        F.length(col).cast("string"),
        F.lit(f" bytes, expected {spec.nbytes} ({spec.describe()})"),
    )
    return (
        F.when(col.isNull(), F.raise_error(F.concat(prefix, F.lit("is null"))))
        .when(F.length(col) != spec.nbytes, F.raise_error(F.concat(prefix, size)))
        .otherwise(col)
        .alias(name)
    )


# ---------------------------------------------------------------------------------------------
# Reading Arrow columns into numpy without per-row objects


def _offsets(arr):
    import pyarrow as pa

    width = 8 if pa.types.is_large_binary(arr.type) or pa.types.is_large_list(arr.type) else 4
    dtype = np.int64 if width == 8 else np.int32
    return np.frombuffer(
        arr.buffers()[1], dtype=dtype, count=len(arr) + 1, offset=arr.offset * width
    )


def binary_tensors(arr, spec: TensorSpec, name: str = "?") -> np.ndarray:
    """A binary Arrow array of ``spec`` rows -> a read-only (n, *shape) view of its data."""
    import pyarrow as pa

    n = len(arr)
    if n == 0:
        return np.empty((0, *spec.shape), dtype=spec.dtype)
    if pa.types.is_fixed_size_binary(arr.type):
        if arr.type.byte_width != spec.nbytes:
            raise ValueError(
                f"{_where(name)}has {arr.type.byte_width} bytes a row, expected "
                f"{spec.nbytes} ({spec.describe()})"
            )
        start = arr.offset * spec.nbytes
    else:
        offs = _offsets(arr)
        start = int(offs[0])
        if int(offs[-1]) - start != n * spec.nbytes:  # checked in Spark already; never guess
            i = int(np.argmax(np.diff(offs) != spec.nbytes))
            raise ValueError(
                f"{_where(name)}row {i} of a batch has {int(offs[i + 1] - offs[i])}"
                f" bytes, expected {spec.nbytes} ({spec.describe()})"
            )
    if arr.null_count:
        raise ValueError(f"{_where(name)}is null")
    data = np.frombuffer(arr.buffers()[-1], dtype=spec.dtype, count=n * spec.size, offset=start)
    return data.reshape((n, *spec.shape))


def list_tensors(arr, shape: Sequence[int]) -> np.ndarray:
    """A flat list Arrow array (checked: no nulls, prod(shape) values a row) -> (n, *shape)."""
    flat = arr.flatten().to_numpy(zero_copy_only=False)
    return flat.reshape((len(arr), *shape))


def _first_nan_row(x: np.ndarray):
    """Index of the first row of a float batch with a NaN, or None (a cheap test first)."""
    if x.dtype.kind not in "fc" or not x.size or np.isfinite(np.add.reduce(x, axis=None)):
        return None
    bad = np.isnan(x.reshape(len(x), -1)).any(axis=1)
    return int(np.argmax(bad)) if bad.any() else None


# ---------------------------------------------------------------------------------------------
# Predictions -> Arrow


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


# ---------------------------------------------------------------------------------------------
# The UDFs


def _arrow_udf(fn, return_type, iterator: bool):
    import warnings

    from pyspark.sql.functions import ArrowUDFType, arrow_udf

    kind = ArrowUDFType.SCALAR_ITER if iterator else ArrowUDFType.SCALAR
    with warnings.catch_warnings():
        # The bodies are callable objects (picklable, no closures); Spark would rather read
        # type hints, but the kind given here says the same.
        warnings.filterwarnings("ignore", message=".*type hints for arrow UDF")
        return arrow_udf(fn, return_type, kind)


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
    return _arrow_udf(body, return_type, iterator=True)


class _ReadTensors:
    """read_inputs for tensor_predict_udf: binary (TensorSpec) or flat list columns."""

    def __init__(self, names, layouts):
        self.names = names
        self.layouts = layouts

    def __call__(self, arrays, ids):
        out = []
        for name, layout, arr in zip(self.names, self.layouts, arrays):
            if isinstance(layout, TensorSpec):
                x = binary_tensors(arr, layout, name)
                bad = _first_nan_row(x)
                if bad is not None:
                    row = ids[bad].as_py() if ids is not None else None
                    raise ValueError(f"{_where(name, row)}contains a null or NaN element")
            else:
                x = list_tensors(arr, layout)  # NaN and nulls were checked in Spark
            out.append(x)
        return out


def tensor_predict_udf(
    make_predict_fn: Callable,
    *,
    return_type,
    batch_size: int,
    input_tensor_shapes: Sequence[TensorSpec | Sequence[int]],
    row_id: str | None = None,
) -> Callable:
    """The fast path: a predict UDF on tensor columns (or flat Spark array columns).

    ``input_tensor_shapes`` has one entry per input column: a :class:`TensorSpec` for a tensor
    column (``tensor_spec(df, "x")`` reads it from the column), or a shape such as ``[784]`` /
    ``[28, 28]`` for a flat Spark array column (its Spark element type gives the dtype). The
    other arguments are ``checked_predict_batch_udf``'s; the same bad rows fail with the same
    messages (for a tensor column the size is counted in bytes). Returns a function of column
    names or Columns; ``predict`` receives one (n, *shape) array per column, n <= batch_size.
    """
    from pyspark.sql import functions as F

    layouts = [s if isinstance(s, TensorSpec) else [int(d) for d in s] for s in input_tensor_shapes]
    if not layouts:
        raise ValueError("input_tensor_shapes needs one entry per input column")
    key = uuid.uuid4()  # one model cache entry per UDF, as predict_batch_udf keys its models

    def apply(*columns):
        if len(columns) != len(layouts):
            raise ValueError(
                f"{len(columns)} input columns for {len(layouts)} input_tensor_shapes entries"
            )
        names = [column_name(c, i) for i, c in enumerate(columns)]
        rid = F.col(row_id) if row_id else None
        checked = [
            check_tensor_column(c, n, lay, rid)
            if isinstance(lay, TensorSpec)
            else check_column(c, n, lay, rid)
            for c, n, lay in zip(columns, names, layouts)
        ]
        udf = batched_arrow_udf(
            make_predict_fn,
            _ReadTensors(names, layouts),
            return_type=return_type,
            batch_size=batch_size,
            has_row_id=rid is not None,
            key=key,
        )
        return udf(*checked, *([rid] if rid is not None else []))

    return apply
