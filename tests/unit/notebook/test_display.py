"""dl_helpers.notebook's reader views: the summary table and chart, image grids, tables of inputs
and outputs; shown in a real IPython shell and printed outside one."""

import base64
import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dl_helpers.notebook import show_images, show_summary, show_table
from dl_helpers.notebook._display import SUMMARY_CLASS, summary_table

RATES = {"model alone": 5000.0, "predict_batch_udf": 4000.0, "fast path": 6000.0}


def test_summary_table_ratios_to_the_baseline():
    table = summary_table(RATES, baseline="model alone")
    assert list(table["approach"]) == list(RATES)
    assert list(table["rows/s"]) == [5000.0, 4000.0, 6000.0]
    assert list(table["x model alone"]) == [1.0, 0.8, 1.2]
    assert list(summary_table(RATES).columns) == ["approach", "rows/s"]


@pytest.mark.parametrize(
    "rates, baseline, message",
    [
        ({}, None, "rows_per_s is empty"),
        ({"a": 1.0}, "model alone", "baseline 'model alone' is not one of"),
        ({"a": 0.0}, None, r"rows_per_s\['a'\] = 0.0"),
        ({"a": float("nan")}, None, r"rows_per_s\['a'\] = nan"),
        ({"a": "fast"}, None, "want a positive number"),
    ],
)
def test_summary_refuses_bad_rates(rates, baseline, message):
    with pytest.raises(ValueError, match=message):
        summary_table(rates, baseline)


def test_show_summary_outside_ipython_prints_the_table(capsys):
    table = show_summary(RATES, baseline="model alone", title="Throughput")
    out = capsys.readouterr().out
    assert out.startswith("Throughput\n")
    assert "predict_batch_udf" in out and "0.8" in out
    assert table.shape == (3, 3)


@pytest.fixture
def shell():
    """A real IPython shell whose display calls are captured."""
    IPython = pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell

    shown = []
    ip = InteractiveShell.instance()
    original = ip.display_pub.publish
    ip.display_pub.publish = lambda data, metadata=None, **kw: shown.append(data)
    assert IPython.get_ipython() is ip
    yield shown
    ip.display_pub.publish = original
    InteractiveShell.clear_instance()


def decoded(png) -> Image.Image:
    if isinstance(png, str):  # as a kernel sends it: base64
        png = base64.b64decode(png)
    assert png.startswith(b"\x89PNG\r\n")
    return Image.open(io.BytesIO(png))


def test_show_summary_in_ipython_shows_table_and_chart(shell):
    show_summary(RATES, baseline="model alone")
    html, chart = shell
    assert f'class="dataframe {SUMMARY_CLASS}"' in html["text/html"]
    assert "<td>fast path</td>" in html["text/html"]
    width, height = decoded(chart["image/png"]).size
    assert width > 300 and height > 100


def test_show_images_grid_of_arrays_pil_and_bytes(shell):
    rng = np.random.default_rng(0)
    gray = rng.random((28, 28))
    rgb = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
    normalised = rng.normal(size=(16, 16, 3))  # a model input: not in [0, 1]
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG")
    png = show_images([gray, rgb, normalised, Image.fromarray(rgb), buf.getvalue()], list("abcde"))
    assert decoded(png).size[0] > decoded(png).size[1]  # 4 columns, 2 rows
    assert len(shell) == 1 and base64.b64decode(shell[0]["image/png"]) == png


def test_show_images_refuses_mismatched_or_bad_input():
    with pytest.raises(ValueError, match="2 images but 1 labels"):
        show_images([np.zeros((4, 4)), np.zeros((4, 4))], ["a"])
    with pytest.raises(ValueError, match=r"image of shape \(4, 4, 5\)"):
        show_images([np.zeros((4, 4, 5))], ["a"])


def test_show_table_cuts_long_values(capsys):
    rows = [{"prompt": "x" * 300, "answer": "yes", "vector": list(range(20))}]
    shown = show_table(rows, max_chars=50)
    assert shown.loc[0, "prompt"] == "x" * 49 + "…"
    assert shown.loc[0, "vector"] == "[0, 1, 2, 3, … (20 values)]"
    assert show_table(pd.DataFrame(rows), columns=["answer"]).columns.tolist() == ["answer"]
    with pytest.raises(ValueError, match=r"columns \['missing'\] are not in the table"):
        show_table(rows, columns=["missing"])


def test_show_table_of_a_spark_frame(spark):
    frame = spark.createDataFrame([(i, f"text {i}") for i in range(30)], "id long, text string")
    shown = show_table(frame)
    assert len(shown) == 20 and shown.loc[3, "text"] == "text 3"
