"""dl_helpers.udfs on a real local SparkSession: the fast path (tensor columns through a
native Arrow UDF) gives exactly predict_batch_udf's outputs for the same model, keeps uint8 as
uint8, handles a batch of one and empty partitions, and fails on bad rows with the messages of
checked_predict_batch_udf."""

import os

import numpy as np
import pytest
from pyspark.ml.functions import predict_batch_udf
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, FloatType, LongType, StructField, StructType

from dl_helpers.udfs import checked_predict_batch_udf
from dl_helpers.udfs._tensors import (
    TENSOR_METADATA_KEY,
    TensorSpec,
    tensor_predict_udf,
    tensor_spec,
    to_tensor_column,
    write_tensors,
)

pytestmark = pytest.mark.spark

RNG = np.random.default_rng(0)
WEIGHTS = RNG.normal(size=(12, 3)).astype(np.float32)  # a linear "model": 12 values -> 3


def make_predict_fn(shape=(12,), dtype=None, log=None):
    """The same model for both paths; it checks the batch shape (and dtype, where given)."""

    def make():
        if log:
            with open(log, "a") as f:
                f.write(f"{os.getpid()}\n")

        def predict(x):
            assert x.shape[1:] == tuple(shape), x.shape
            assert dtype is None or x.dtype == dtype, x.dtype
            assert x.flags.writeable  # as predict_batch_udf's stacked arrays are
            return x.reshape(len(x), -1).astype(np.float32) @ WEIGHTS

        return predict

    return make


def frame(spark, tmp_path, x, partitions=3):
    """Parquet with the rows as a Spark array column ``xa`` and as a tensor column ``x``
    (written by to_tensor_column through Spark and read back: the metadata survives)."""
    dtype = x.dtype.name
    spark_type = "float" if dtype == "float32" else "int"
    rows = [(i, [v.item() for v in row.ravel()]) for i, row in enumerate(x)]
    df = spark.createDataFrame(rows, f"id long, xa array<{spark_type}>").repartition(partitions)
    df = df.select("id", "xa", to_tensor_column("xa", dtype, x.shape[1:], name="x"))
    path = str(tmp_path / f"t_{dtype}_{x.ndim}")
    df.write.mode("overwrite").parquet(path)
    return spark.read.parquet(path)


def collect(df, column="out"):
    pdf = df.toPandas().sort_values("id")
    return pdf["id"].to_numpy(), np.stack(pdf[column].to_numpy()) if len(pdf) else np.empty(0)


@pytest.mark.parametrize(
    "dtype,shape", [("float32", (12,)), ("float32", (3, 4)), ("uint8", (12,)), ("uint8", (4, 3))]
)
def test_fast_path_equals_predict_batch_udf_exactly(spark, tmp_path, dtype, shape):
    n = 37
    if dtype == "uint8":
        x = RNG.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    else:
        x = RNG.random((n, *shape), dtype=np.float32)
    df = frame(spark, tmp_path, x)
    spec = tensor_spec(df, "x")
    assert spec == TensorSpec(dtype, shape)
    standard = predict_batch_udf(
        make_predict_fn(shape),
        return_type=ArrayType(FloatType()),
        batch_size=5,
        input_tensor_shapes=[list(shape)],
    )
    fast = tensor_predict_udf(
        make_predict_fn(shape, dtype=np.dtype(dtype)),
        return_type=ArrayType(FloatType()),
        batch_size=5,
        input_tensor_shapes=[spec],
        row_id="id",
    )
    # The fast path also reads the flat array column (dtype from its Spark type).
    fast_arrays = tensor_predict_udf(
        make_predict_fn(shape),
        return_type=ArrayType(FloatType()),
        batch_size=5,
        input_tensor_shapes=[shape],
    )
    # Partitions of 12-13 rows, model batches of 5: 5 + 5 + 2/3 per partition in both paths.
    # One query each: UDFs chained in one query may see other Arrow batch boundaries (and so
    # other model batches), where float sums may differ in the last bit.
    ids, std = collect(df.select("id", standard("xa").alias("out")))
    _, got = collect(df.select("id", fast("x").alias("out")))
    _, got_a = collect(df.select("id", fast_arrays("xa").alias("out")))
    assert list(ids) == list(range(n))
    assert got.dtype == std.dtype == np.float32
    np.testing.assert_array_equal(got, std)  # same batches, same model: bit for bit
    np.testing.assert_array_equal(got_a, std)
    np.testing.assert_allclose(got, x.reshape(n, -1).astype(np.float32) @ WEIGHTS, rtol=1e-5)


def test_driver_written_tensors_and_struct_output(spark, tmp_path):
    x = RNG.random((20, 3, 4), dtype=np.float32)
    write_tensors(tmp_path / "w", {"id": np.arange(50), "x": np.zeros((50, 3, 4))}, files=5)
    files = write_tensors(tmp_path / "w", {"id": np.arange(20), "x": x}, files=3)
    assert sorted(files) == sorted((tmp_path / "w").glob("*.parquet")) and len(files) == 3
    df = spark.read.parquet(str(tmp_path / "w"))
    assert df.schema["x"].metadata[TENSOR_METADATA_KEY] == {"dtype": "float32", "shape": [3, 4]}

    def make():
        def predict(t):
            y = t.reshape(len(t), -1) @ WEIGHTS
            return {"label": y.argmax(1).astype(np.int64), "scores": y}

        return predict

    rtype = StructType(
        [StructField("label", LongType()), StructField("scores", ArrayType(FloatType()))]
    )
    f = tensor_predict_udf(
        make, return_type=rtype, batch_size=4, input_tensor_shapes=[tensor_spec(df, "x")]
    )
    pdf = df.select("id", f("x").alias("p")).select("id", "p.*").toPandas().sort_values("id")
    want = x.reshape(20, -1) @ WEIGHTS
    np.testing.assert_allclose(np.stack(pdf["scores"].to_list()), want, rtol=1e-5)
    assert pdf["label"].tolist() == want.argmax(1).tolist()


@pytest.mark.parametrize("batch_size", [1, 4])
def test_batch_of_one(spark, tmp_path, batch_size):
    x = RNG.random((1, 12), dtype=np.float32)
    df = frame(spark, tmp_path, x, partitions=1)
    f = tensor_predict_udf(
        make_predict_fn(),
        return_type=ArrayType(FloatType()),
        batch_size=batch_size,
        input_tensor_shapes=[tensor_spec(df, "x")],
    )
    ids, out = collect(df.select("id", f("x").alias("out")))
    assert out.shape == (1, 3)
    np.testing.assert_allclose(out, x @ WEIGHTS, rtol=1e-5)


def test_empty_partitions(spark, tmp_path):
    x = RNG.random((2, 12), dtype=np.float32)
    df = frame(spark, tmp_path, x).repartition(6)  # 6 partitions, 2 rows: 4 or more empty
    assert df.rdd.getNumPartitions() == 6
    f = tensor_predict_udf(
        make_predict_fn(),
        return_type=ArrayType(FloatType()),
        batch_size=4,
        input_tensor_shapes=[tensor_spec(df, "x")],
    )
    ids, out = collect(df.select("id", f("x").alias("out")))
    assert list(ids) == [0, 1]
    np.testing.assert_allclose(out, x @ WEIGHTS, rtol=1e-5)
    assert df.where("id < 0").select("id", f("x").alias("out")).count() == 0


def test_model_is_made_once_per_python_worker(spark, tmp_path):
    log = tmp_path / "made.txt"
    x = RNG.random((40, 12), dtype=np.float32)
    df = frame(spark, tmp_path, x, partitions=4)
    f = tensor_predict_udf(
        make_predict_fn(log=str(log)),
        return_type=ArrayType(FloatType()),
        batch_size=8,
        input_tensor_shapes=[tensor_spec(df, "x")],
    )
    for _ in range(2):
        assert df.select(f("x")).count() == 40
        df.select(f("x").alias("o")).write.format("noop").mode("overwrite").save()
    pids = log.read_text().split()
    assert pids and len(pids) == len(set(pids)), pids  # each worker built it once, 8 tasks


# --- bad rows: the messages of checked_predict_batch_udf -------------------------------------
def error_text(df, expr):
    with pytest.raises(Exception) as info:
        df.select(expr).collect()
    return str(info.value)


FLOAT12 = TensorSpec("float32", (12,))


def fast(spec=FLOAT12, row_id="id"):
    return tensor_predict_udf(
        make_predict_fn(),
        return_type=ArrayType(FloatType()),
        batch_size=4,
        input_tensor_shapes=[spec],
        row_id=row_id,
    )


def standard(row_id="id"):
    return checked_predict_batch_udf(
        make_predict_fn(),
        return_type=ArrayType(FloatType()),
        batch_size=4,
        input_tensor_shapes=[[12]],
        row_id=row_id,
    )


def arrays(spark, rows):
    return spark.createDataFrame(rows, "id long, data array<float>")


def test_array_rows_fail_like_checked_predict_batch_udf(spark):
    cases = [
        (
            [(0, [0.0] * 12), (41, [0.0] * 11)],
            "input column 'data' (row 41): has 11 values, expected 12 (shape [12])",
        ),
        ([(0, [0.0] * 12), (5, None)], "input column 'data' (row 5): is null"),
        ([(3, [0.0] * 11 + [None])], "input column 'data' (row 3): contains a null or NaN element"),
        (
            [(4, [0.0] * 11 + [float("nan")])],
            "input column 'data' (row 4): contains a null or NaN element",
        ),
    ]
    for rows, message in cases:
        df = arrays(spark, rows)
        assert message in error_text(df, standard()("data"))
        assert message in error_text(df, fast([12])("data"))  # the same words


def test_bad_tensor_rows_are_named(spark, tmp_path):
    ok = np.zeros(12, np.float32).tobytes()
    df = spark.createDataFrame([(0, ok), (41, ok[:-4])], "id long, x binary")
    assert (
        "input column 'x' (row 41): has 44 bytes, expected 48 (shape [12], float32)"
        in error_text(df, fast()("x"))
    )
    df = spark.createDataFrame([(0, ok), (5, None)], "id long, x binary")
    assert "input column 'x' (row 5): is null" in error_text(df, fast()("x"))
    nan = np.zeros(12, np.float32)
    nan[7] = np.nan
    df = spark.createDataFrame([(0, ok), (1, ok), (9, nan.tobytes())], "id long, x binary")
    assert "input column 'x' (row 9): contains a null or NaN element" in error_text(
        df.coalesce(1), fast()("x")
    )
    # Without a row id the message still names the column.
    df = spark.createDataFrame([(ok[:8],)], "x binary")
    assert "input column 'x': has 8 bytes, expected 48" in error_text(
        df, fast(row_id=None)(F.col("x"))
    )


def test_to_tensor_column_refuses_values_that_do_not_fit(spark):
    df = spark.createDataFrame([(0, [1] * 4), (7, [1, 2, 300, 4])], "id long, a array<int>")
    msg = error_text(df.coalesce(1), to_tensor_column("a", "uint8", [4], row_id="id"))
    assert "input column 'a' (row 7): value 300 does not fit uint8 exactly" in msg
    df = spark.createDataFrame([(3, [1.5, 0.0])], "id long, a array<double>")
    msg = error_text(df, to_tensor_column("a", "uint8", [2], row_id="id"))
    assert "input column 'a' (row 3): value 1.5 does not fit uint8 exactly" in msg
    df = spark.createDataFrame([(2, [1.0, 2.0, 3.0])], "id long, a array<double>")
    assert "input column 'a' (row 2): has 3 values, expected 2 (shape [2])" in error_text(
        df, to_tensor_column("a", "float32", [2], row_id="id")
    )
    # Doubles round to float32 as a cast would (not an error).
    df = spark.createDataFrame([(1, [0.1, 1e-3])], "id long, a array<double>")
    (packed,) = df.select(to_tensor_column("a", "float32", [2], row_id="id")).first()
    np.testing.assert_array_equal(np.frombuffer(packed, np.float32), np.float32([0.1, 1e-3]))


def test_missing_metadata_says_what_to_do(spark):
    df = spark.createDataFrame([(b"\0" * 4,)], "x binary")
    with pytest.raises(ValueError, match="column 'x' has no tensor metadata.*TensorSpec"):
        tensor_spec(df, "x")
