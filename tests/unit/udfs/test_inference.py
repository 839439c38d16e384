"""checked_predict_batch_udf on a real local SparkSession: results equal the model run directly,
batch-of-one and empty partitions work, and bad rows fail with errors that name them."""

import numpy as np
import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, FloatType

from dl_helpers.udfs import checked_predict_batch_udf

pytestmark = pytest.mark.spark

RNG = np.random.default_rng(0)
WEIGHTS = RNG.normal(size=(12, 3)).astype(np.float32)  # a linear "model": 12 features -> 3


def make_predict_fn(weights=WEIGHTS):
    def predict(x):
        assert x.ndim == 2 and x.shape[1] == 12, x.shape  # the model sees (n, 12) batches
        return x.astype(np.float32) @ weights

    return predict


def udf(batch_size=4):
    return checked_predict_batch_udf(
        make_predict_fn,
        return_type=ArrayType(FloatType()),
        batch_size=batch_size,
        input_tensor_shapes=[[12]],
        row_id="id",
    )


def frame(spark, x, partitions=2):
    rows = [(i, [float(v) for v in row]) for i, row in enumerate(x)]
    return spark.createDataFrame(rows, "id long, data array<float>").repartition(partitions)


def spark_out(df, column="out"):
    pdf = df.toPandas().sort_values("id")
    return pdf["id"].to_numpy(), np.stack(pdf[column].to_numpy()) if len(pdf) else np.empty((0,))


def error_text(df, expr):
    with pytest.raises(Exception) as info:
        df.select(expr).collect()
    return str(info.value)


def test_array_column_equals_direct(spark):
    x = RNG.random((37, 12), dtype=np.float32)
    ids, out = spark_out(frame(spark, x, 3).select("id", udf(5)("data").alias("out")))
    assert list(ids) == list(range(37))
    np.testing.assert_allclose(out, x @ WEIGHTS, rtol=1e-6)


def test_scalar_columns_equal_direct(spark):
    x = RNG.random((9, 12), dtype=np.float32)
    cols = [f"c{i}" for i in range(12)]
    df = spark.createDataFrame(
        [(i, *map(float, r)) for i, r in enumerate(x)], ["id", *cols]
    ).repartition(2)
    ids, out = spark_out(df.select("id", udf()(*cols).alias("out")))
    np.testing.assert_allclose(out, x[ids] @ WEIGHTS, rtol=1e-6)


@pytest.mark.parametrize("batch_size", [1, 4])
def test_batch_of_one(spark, batch_size):
    x = RNG.random((1, 12), dtype=np.float32)
    ids, out = spark_out(frame(spark, x, 1).select("id", udf(batch_size)("data").alias("out")))
    assert out.shape == (1, 3)
    np.testing.assert_allclose(out, x @ WEIGHTS, rtol=1e-6)


def test_empty_partitions(spark):
    x = RNG.random((2, 12), dtype=np.float32)
    df = frame(spark, x, 6)  # 6 partitions, 2 rows: at least 4 are empty
    assert df.rdd.getNumPartitions() == 6
    ids, out = spark_out(df.select("id", udf()("data").alias("out")))
    assert list(ids) == [0, 1]
    np.testing.assert_allclose(out, x @ WEIGHTS, rtol=1e-6)
    empty = df.where("id < 0").select("id", udf()("data").alias("out"))
    assert empty.count() == 0


def test_wrong_length_names_column_row_and_shape(spark):
    df = spark.createDataFrame([(0, [0.0] * 12), (41, [0.0] * 11)], "id long, data array<float>")
    msg = error_text(df, udf()("data"))
    assert "input column 'data' (row 41): has 11 values, expected 12 (shape [12])" in msg


def test_null_row_and_null_element(spark):
    df = spark.createDataFrame([(0, [0.0] * 12), (5, None)], "id long, data array<float>")
    assert "input column 'data' (row 5): is null" in error_text(df, udf()("data"))
    df = spark.createDataFrame([(3, [0.0] * 11 + [None])], "id long, data array<float>")
    assert "(row 3): contains a null or NaN element" in error_text(df, udf()("data"))
    df = spark.createDataFrame([(4, [0.0] * 11 + [float("nan")])], "id long, data array<float>")
    assert "(row 4): contains a null or NaN element" in error_text(df, udf()("data"))


def test_null_in_one_of_many_scalar_columns_is_named(spark):
    cols = [f"c{i}" for i in range(12)]
    rows = [(0, *[1.0] * 12), (8, *([1.0] * 7 + [None] + [1.0] * 4))]
    df = spark.createDataFrame(rows, ["id", *cols])
    msg = error_text(df, udf()(*cols))
    assert "input column 'c7' (row 8): is null or NaN" in msg


def test_without_row_id_the_message_still_names_the_column(spark):
    f = checked_predict_batch_udf(
        make_predict_fn,
        return_type=ArrayType(FloatType()),
        batch_size=4,
        input_tensor_shapes=[[12]],
    )
    df = spark.createDataFrame([([0.0] * 3,)], "data array<float>")
    assert "input column 'data': has 3 values, expected 12" in error_text(df, f(F.col("data")))


def test_string_and_numeric_columns_together(spark):
    """Categorical strings pass the checks (ANSI mode: a plain cast of 'Dog' to double raises)."""

    def make_fn():
        def predict(kind, age):
            return np.array([len(k) + a for k, a in zip(kind, age)], dtype=np.float32)

        return predict

    f = checked_predict_batch_udf(make_fn, return_type=FloatType(), batch_size=4, row_id="id")
    schema = "id long, kind string, age double"
    df = spark.createDataFrame([(0, "Dog", 3.0), (1, "Cat", 1.0)], schema)
    out = sorted(df.select("id", f("kind", "age").alias("o")).collect())
    assert [r.o for r in out] == [6.0, 4.0]
    bad = spark.createDataFrame([(9, "Dog", float("nan"))], schema)
    assert "input column 'age' (row 9): is NaN" in error_text(bad, f("kind", "age"))


# --- quarantine mode and the element type check -----------------------------------------------

N_ROWS = 100_000
BAD_ROWS = {  # id -> (what is wrong with it, the reason quarantine mode must give)
    3: (None, "input column 'data': is null"),
    41_000: ("nan", "input column 'data': contains a null or NaN element"),
    77_777: ("short", "input column 'data': has 11 values, expected 12 (shape [12])"),
}


def make_strict_predict_fn(weights=WEIGHTS):
    """The linear model, refusing any input that a bad row could have put there."""

    def predict(x):
        assert x.ndim == 2 and x.shape[1] == 12, x.shape
        assert not np.isnan(x).any(), "a bad row reached the model"
        return x.astype(np.float32) @ weights

    return predict


@pytest.fixture(scope="module")
def rows_with_three_bad(tmp_path_factory):
    """100,000 rows of 12 floats in Parquet (4 files), 3 of them bad; returns (path, x)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    x = np.random.default_rng(1).random((N_ROWS, 12), dtype=np.float32)
    values = [list(r) for r in x]
    for i, (kind, _) in BAD_ROWS.items():
        values[i] = (
            None
            if kind is None
            else ([float("nan")] + values[i][1:] if kind == "nan" else values[i][:11])
        )
    table = pa.table(
        {
            "id": pa.array(np.arange(N_ROWS, dtype=np.int64)),
            "data": pa.array(values, pa.list_(pa.float32())),
        }
    )
    path = tmp_path_factory.mktemp("three_bad") / "input.parquet"
    path.mkdir()
    for k in range(4):
        pq.write_table(table.slice(k * N_ROWS // 4, N_ROWS // 4), path / f"part-{k}.parquet")
    return str(path), x


def quarantine_udf(make=make_strict_predict_fn, **kw):
    kw.setdefault("input_tensor_shapes", [[12]])
    return checked_predict_batch_udf(
        make,
        return_type=ArrayType(FloatType()),
        batch_size=256,
        row_id="id",
        on_bad_row="quarantine",
        **kw,
    )


def test_quarantine_100k_rows_three_bad(spark, rows_with_three_bad, tmp_path):
    from dl_helpers.udfs import count_quarantined, split_quarantined

    path, x = rows_with_three_bad
    result = spark.read.parquet(path).select("id", quarantine_udf()("data").alias("out"))
    out_type = result.schema["out"].dataType.simpleString()
    assert out_type == "struct<prediction:array<float>,error:string>"
    out_path = str(tmp_path / "result.parquet")
    result.write.parquet(out_path)  # the model runs once; the split below reads the result
    written = spark.read.parquet(out_path)
    counts = count_quarantined(written, "out")
    assert counts == {"rows": N_ROWS, "good": N_ROWS - 3, "quarantined": 3}
    good, bad = split_quarantined(written, "out")
    ids, preds = spark_out(good)
    assert len(ids) == N_ROWS - 3 and set(ids).isdisjoint(BAD_ROWS)
    np.testing.assert_allclose(preds, x[ids] @ WEIGHTS, rtol=1e-5)
    reasons = {r.id: r.reason for r in bad.collect()}
    assert reasons == {i: reason for i, (_, reason) in BAD_ROWS.items()}


def test_default_mode_fails_naming_the_first_bad_row(spark, rows_with_three_bad):
    path, _ = rows_with_three_bad
    df = spark.read.parquet(path).orderBy("id").coalesce(1)  # one task, rows in id order
    msg = error_text(df, udf()("data"))
    assert "input column 'data' (row 3): is null" in msg


def test_quarantine_many_scalar_columns_and_a_batch_of_bad_rows_only(spark):
    cols = [f"c{i}" for i in range(12)]
    x = RNG.random((6, 12), dtype=np.float32)
    rows = [(i, *map(float, r)) for i, r in enumerate(x)]
    rows[1] = (1, *([1.0] * 7 + [None] + [1.0] * 4))
    rows[2] = (2, *([float("nan")] + [1.0] * 11))
    df = spark.createDataFrame(rows, ["id", *cols]).coalesce(1)
    f = checked_predict_batch_udf(
        make_strict_predict_fn,
        return_type=ArrayType(FloatType()),
        batch_size=2,
        input_tensor_shapes=[[12]],
        on_bad_row="quarantine",
    )
    out = {r.id: r.out for r in df.select("id", f(*cols).alias("out")).collect()}
    assert out[1].prediction is None and out[1].error == "input column 'c7': is null or NaN"
    assert out[2].prediction is None and out[2].error == "input column 'c0': is null or NaN"
    for i in (0, 3, 4, 5):  # rows 1 and 2 made one batch of bad rows only: no model call
        assert out[i].error is None
        np.testing.assert_allclose(out[i].prediction, x[i] @ WEIGHTS, rtol=1e-5)


def test_quarantine_string_and_scalar_inputs(spark):
    def make_fn():
        def predict(kind, age):
            assert not np.isnan(age).any() and all(isinstance(k, str) for k in kind)
            return np.array([len(k) + a for k, a in zip(kind, age)], dtype=np.float32)

        return predict

    f = checked_predict_batch_udf(
        make_fn, return_type=FloatType(), batch_size=4, row_id="id", on_bad_row="quarantine"
    )
    df = spark.createDataFrame(
        [(0, "Dog", 3.0), (1, None, 1.0), (2, "Cat", float("nan"))],
        "id long, kind string, age double",
    )
    out = {r.id: r.out for r in df.select("id", f("kind", "age").alias("out")).collect()}
    assert out[0].prediction == 6.0 and out[0].error is None
    assert (out[1].prediction, out[1].error) == (None, "input column 'kind': is null")
    assert (out[2].prediction, out[2].error) == (None, "input column 'age': is NaN")


@pytest.mark.parametrize("mode", ["fail", "quarantine"])
def test_array_of_strings_fails_with_the_column_and_its_type(spark, mode):
    df = spark.createDataFrame([(0, ["a"] * 12)], "id long, data array<string>")
    f = checked_predict_batch_udf(
        make_predict_fn,
        return_type=ArrayType(FloatType()),
        batch_size=4,
        input_tensor_shapes=[[12]],
        row_id="id",
        on_bad_row=mode,
    )
    msg = error_text(df, f("data"))
    assert "input column 'data' has type array<string>, expected an array of numbers" in msg
    assert "could not convert" not in msg  # raised in the JVM, before a row reached Python


def test_type_check_is_folded_away_for_numbers(spark):
    """typeof() is a constant to the optimizer: a numeric column's plan keeps no type check."""
    df = spark.createDataFrame([(0, [0.5] * 12)], "id long, data array<double>")
    plan = df.select(udf()("data").alias("out"))._jdf.queryExecution().optimizedPlan().toString()
    evaluated = plan.split("ArrowEvalPython", 1)[1]  # what runs per row (not the column's name)
    assert "typeof" not in evaluated and "has type" not in evaluated
    assert "is null" in evaluated  # the row checks are there


def test_string_among_scalar_columns_fails_with_its_type(spark):
    cols = [f"c{i}" for i in range(12)]
    df = spark.createDataFrame([(0, *[1.0] * 11, "x")], ["id", *cols])
    assert "input column 'c11' has type string, expected a number" in error_text(df, udf()(*cols))


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="on_bad_row must be one of"):
        checked_predict_batch_udf(
            make_predict_fn, return_type=FloatType(), batch_size=4, on_bad_row="skip"
        )


def test_quarantine_with_a_struct_return_type(spark):
    """A struct result cannot carry the model's flag: the checks decide alone, same outcome."""
    from pyspark.sql.types import StructField, StructType

    def make_fn():
        def predict(x):
            assert not np.isnan(x).any()
            return {"total": x.sum(axis=1), "first": x[:, 0]}

        return predict

    rt = StructType([StructField("total", FloatType()), StructField("first", FloatType())])
    f = checked_predict_batch_udf(
        make_fn, return_type=rt, batch_size=4, input_tensor_shapes=[[12]], on_bad_row="quarantine"
    )
    df = spark.createDataFrame([(0, [1.0] * 12), (1, [1.0] * 5)], "id long, data array<float>")
    out = {r.id: r.out for r in df.select("id", f("data").alias("out")).collect()}
    assert out[0].error is None and out[0].prediction.total == 12.0
    assert out[1].prediction is None and "has 5 values, expected 12" in out[1].error
