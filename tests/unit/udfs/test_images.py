"""dl_helpers.udfs on a real local SparkSession: JPEG and PNG bytes in, decode + the user's
preprocessing + the model in one UDF; results equal the same steps run directly, uint8 stays
uint8, and bad images fail with messages that name the row."""

import io

import numpy as np
import pytest
from PIL import Image
from pyspark.sql.types import ArrayType, LongType

from dl_helpers.udfs import image_predict_udf, open_image

pytestmark = pytest.mark.spark

RNG = np.random.default_rng(0)
SIZE = 16
WEIGHTS = RNG.integers(-3, 4, size=(SIZE * SIZE * 3, 4))  # integer "model": exact everywhere


def encoded(i: int, fmt: str) -> bytes:
    h, w = 20 + i % 7, 24 + i % 5  # sizes differ: preprocess makes them one shape
    img = Image.fromarray(RNG.integers(0, 256, size=(h, w, 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def resize(img):
    return np.asarray(img.resize((SIZE, SIZE), Image.BILINEAR))  # uint8 (16, 16, 3)


def make_predict_fn():
    def predict(x):
        assert x.dtype == np.uint8 and x.shape[1:] == (SIZE, SIZE, 3), (x.dtype, x.shape)
        return x.reshape(len(x), -1).astype(np.int64) @ WEIGHTS

    return predict


def udf(batch_size=3, **kw):
    kw.setdefault("preprocess", resize)
    return image_predict_udf(
        make_predict_fn, return_type=ArrayType(LongType()), batch_size=batch_size, row_id="id", **kw
    )


def direct(images):
    x = np.stack([resize(open_image(b)) for b in images])
    return x.reshape(len(x), -1).astype(np.int64) @ WEIGHTS


def collect(df):
    pdf = df.toPandas().sort_values("id")
    return pdf["id"].tolist(), np.stack(pdf["out"].to_numpy()) if len(pdf) else np.empty(0)


def test_jpeg_and_png_equal_the_steps_run_directly(spark):
    images = [encoded(i, "JPEG" if i % 2 else "PNG") for i in range(11)]
    df = spark.createDataFrame(list(enumerate(images)), "id long, image binary").repartition(3)
    ids, out = collect(df.select("id", udf()("image").alias("out")))
    assert ids == list(range(11))
    np.testing.assert_array_equal(out, direct(images))


def test_default_preprocess_hands_uint8_as_decoded(spark):
    img = Image.fromarray(RNG.integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="PNG")  # lossless: the model sees exactly these pixels
    df = spark.createDataFrame([(0, buf.getvalue())], "id long, image binary")
    ids, out = collect(df.select("id", udf(preprocess=None)("image").alias("out")))
    want = np.asarray(img).reshape(1, -1).astype(np.int64) @ WEIGHTS
    np.testing.assert_array_equal(out, want)


def test_batch_of_one_and_empty_partitions(spark):
    images = [encoded(i, "JPEG") for i in range(2)]
    df = spark.createDataFrame(list(enumerate(images)), "id long, image binary").repartition(5)
    ids, out = collect(df.select("id", udf(batch_size=1)("image").alias("out")))
    assert ids == [0, 1]
    np.testing.assert_array_equal(out, direct(images))
    assert df.where("id < 0").select(udf()("image")).count() == 0


def error_text(df, expr):
    with pytest.raises(Exception) as info:
        df.select(expr).collect()
    return str(info.value)


def test_bad_images_are_named(spark):
    good = encoded(0, "JPEG")
    df = spark.createDataFrame([(0, good), (6, None)], "id long, image binary")
    assert "input column 'image' (row 6): is null" in error_text(df, udf()("image"))
    df = spark.createDataFrame([(0, good), (7, b"not an image")], "id long, image binary")
    msg = error_text(df.coalesce(1), udf()("image"))
    assert "input column 'image' (row 7): could not be decoded and preprocessed as an image" in msg
    df = spark.createDataFrame([(0, good), (8, encoded(1, "PNG"))], "id long, image binary")
    msg = error_text(df.coalesce(1), udf(preprocess=np.asarray)("image"))  # sizes differ
    assert "input column 'image' (row 8): preprocessed to shape" in msg
