"""checked_predict_batch_udf on a real local SparkSession: results equal the model run directly,
batch-of-one and empty partitions work, and bad rows fail with errors that name them."""

import numpy as np
import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, FloatType

from dl_helpers.inference import checked_predict_batch_udf

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
    df = spark.createDataFrame([(i, *map(float, r)) for i, r in enumerate(x)],
                               ["id", *cols]).repartition(2)  # fmt: skip
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
    f = checked_predict_batch_udf(make_predict_fn, return_type=ArrayType(FloatType()),
                                  batch_size=4, input_tensor_shapes=[[12]])  # fmt: skip
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
