"""dl_helpers.notebook's reader views: the summary table and chart, image grids, tables of inputs
and outputs; shown in a real IPython shell and printed outside one."""

import base64
import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dl_helpers.notebook import show_images, show_summary, show_table
from dl_helpers.notebook._display import SUMMARY_CLASS, summary_table, table_view

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
    assert show_summary(RATES, baseline="model alone", title="Throughput") is None
    out = capsys.readouterr().out
    assert out.startswith("Throughput\n")
    assert "predict_batch_udf" in out and "0.8" in out
    assert len(out.strip().splitlines()) == 1 + 1 + 3  # title, header, one line per approach


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
    show_images([gray, rgb, normalised, Image.fromarray(rgb), buf.getvalue()], list("abcde"))
    assert len(shell) == 1
    png = decoded(shell[0]["image/png"])
    assert png.size[0] > png.size[1]  # 4 columns, 2 rows


def test_show_images_refuses_mismatched_or_bad_input():
    with pytest.raises(ValueError, match="2 images but 1 labels"):
        show_images([np.zeros((4, 4)), np.zeros((4, 4))], ["a"])
    with pytest.raises(ValueError, match=r"image of shape \(4, 4, 5\)"):
        show_images([np.zeros((4, 4, 5))], ["a"])


def test_show_table_cuts_long_values(capsys):
    rows = [{"prompt": "x" * 300, "answer": "yes", "vector": list(range(20))}]
    shown = table_view(rows, max_chars=50)
    assert shown.loc[0, "prompt"] == "x" * 49 + "…"
    assert shown.loc[0, "vector"] == "[0, 1, 2, 3, … (20 values)]"
    assert table_view(pd.DataFrame(rows), columns=["answer"]).columns.tolist() == ["answer"]
    assert show_table(rows, max_chars=50) is None
    assert "x" * 49 + "…" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"columns \['missing'\] are not in the table"):
        show_table(rows, columns=["missing"])


def test_show_table_of_a_spark_frame(spark):
    frame = spark.createDataFrame([(i, f"text {i}") for i in range(30)], "id long, text string")
    shown = table_view(frame)
    assert len(shown) == 20 and shown.loc[3, "text"] == "text 3"


def test_a_cell_ending_in_a_view_or_record_shows_it_once(shell, tmp_path, monkeypatch):
    """In a real IPython shell, a cell whose last line is a view or ``record`` has no Out[]
    value: the reader sees the table or chart once, and nothing of ``record``."""
    from IPython import get_ipython

    monkeypatch.setenv("DL_HELPERS_RESULTS", str(tmp_path / "r.json"))
    ip = get_ipython()
    ip.user_ns["RATES"] = RATES
    results = []
    for cell in [
        "from dl_helpers.notebook import record, show_images, show_summary, show_table",
        "show_summary(RATES, baseline='model alone')",
        "show_table([{'a': 1}])",
        "import numpy as np; show_images([np.zeros((4, 4))], ['zero'])",
        "record('rows', 3)",
    ]:
        run = ip.run_cell(cell)
        run.raise_error()
        results.append(run.result)
    assert results == [None] * 5
    assert [sorted(d) for d in shell] == [
        ["text/html", "text/plain"],
        ["image/png", "text/plain"],
        ["text/html", "text/plain"],
        ["image/png", "text/plain"],
    ]
