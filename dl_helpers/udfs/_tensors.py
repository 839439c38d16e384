"""Tensor columns: each row's tensor as raw bytes in a ``binary`` column (C order), its dtype and
shape in the column's metadata (kept in Parquet), and :func:`tensor_predict_udf`, the fast path
that reads them into numpy without one Python object per row.

Usage::

    from dl_helpers.udfs import tensor_predict_udf, tensor_spec, write_tensors

    write_tensors("data/x", {"id": ids, "x": images})        # (n, 28, 28) uint8 -> Parquet
    df = spark.read.parquet("data/x")
    udf = tensor_predict_udf(make_predict_fn, return_type=ArrayType(FloatType()),
                             batch_size=256, input_tensor_shapes=[tensor_spec(df, "x")])
    preds = df.withColumn("logits", udf("x"))
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dl_helpers.udfs._arrow import arrow_udf, batched_arrow_udf, tensor_array
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
    pack = arrow_udf(_Packer(spec, name, rid is not None), "binary", iterator=False)
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
# The UDF


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

    A native Arrow UDF (iterator form) views each Arrow batch's data buffer with
    ``np.frombuffer``, hands ``predict`` arrays of ``batch_size`` rows (batches never span Arrow
    batches; uint8 stays uint8) and builds the Arrow result from the returned arrays. The
    contract is ``predict_batch_udf``'s: ``make_predict_fn()`` -> ``predict(np.ndarray, ...)``
    returning an array (or a dict of arrays for a struct ``return_type``), made once per Python
    worker in the cache predict_batch_udf uses.

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
