"""What a reader looks at: a summary table with a bar chart of rows/s per approach, a grid of
images with their predicted labels, a table of inputs and outputs.

Each shows itself in the notebook (an HTML table, an inline PNG), or prints the table outside
Jupyter, and returns None, so that a cell ending in one shows it once. matplotlib is imported
only when a chart is drawn, with its non-interactive backend.
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

SUMMARY_CLASS = "dlh-summary"
TABLE_CLASS = "dlh-table"


def _display():
    """IPython's ``display`` when running in a notebook kernel or shell, else None."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython comes with every notebook kernel
        return None
    return display if get_ipython() is not None else None


def _show_png(display, png: bytes) -> None:
    from IPython.display import Image

    display(Image(data=png, format="png"))


def _show(frame, css_class: str, title: str | None, png: bytes | None = None) -> None:
    """Display ``frame`` as an HTML table (and ``png`` under it) in IPython, else print it."""
    display = _display()
    if display is None:
        print(f"{title}\n{frame.to_string()}" if title else frame.to_string())
        return
    from IPython.display import HTML

    caption = f"<h4>{html.escape(title)}</h4>" if title else ""
    display(HTML(caption + frame.to_html(classes=css_class, index=False, escape=True)))
    if png is not None:
        _show_png(display, png)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # draws to PNG bytes; the notebook shows them, not a window
    import matplotlib.pyplot as plt

    return plt


def summary_table(
    rows_per_s: Mapping[str, float], baseline: str | None = None, unit: str = "rows/s"
):
    """The table :func:`show_summary` shows: one row per approach, its rate and (with a
    ``baseline``) the ratio to it. Raises ValueError naming a missing baseline or a rate that
    is not a positive number."""
    import pandas as pd

    if not rows_per_s:
        raise ValueError("rows_per_s is empty: give at least one approach and its rate")
    for name, rate in rows_per_s.items():
        if not isinstance(rate, (int, float, np.number)) or not math.isfinite(rate) or rate <= 0:
            raise ValueError(f"rows_per_s[{name!r}] = {rate!r}: want a positive number")
    if baseline is not None and baseline not in rows_per_s:
        raise ValueError(f"baseline {baseline!r} is not one of {sorted(rows_per_s)}")
    table = pd.DataFrame(
        {"approach": list(rows_per_s), unit: [float(v) for v in rows_per_s.values()]}
    )
    if baseline is not None:
        table[f"x {baseline}"] = table[unit] / float(rows_per_s[baseline])
    return table.round({unit: 1, f"x {baseline}": 2} if baseline else {unit: 1})


def show_summary(
    rows_per_s: Mapping[str, float],
    baseline: str | None = None,
    *,
    title: str | None = None,
    unit: str = "rows/s",
):
    """Show the rate of each approach as a table and a bar chart (the baseline's bar marked).

    ``rows_per_s`` maps an approach ("predict_batch_udf", "Triton", ...) to its measured rate;
    ``baseline`` names the entry the others are compared with, usually ``"model alone"``: the
    model run directly on the same rows, without Spark. Returns None (a cell ending in it shows
    the table and chart once); :func:`summary_table` gives the table itself.
    """
    table = summary_table(rows_per_s, baseline, unit)
    plt = _pyplot()
    names, rates = list(rows_per_s), [float(v) for v in rows_per_s.values()]
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(names) + 1.0))
    colors = ["#9e9e9e" if n == baseline else "#1f77b4" for n in names]
    bars = ax.barh(names[::-1], rates[::-1], color=colors[::-1])
    ax.bar_label(bars, labels=[f"{r:,.0f}" for r in rates[::-1]], padding=3, fontsize=9)
    ax.set_xlabel(unit)
    ax.set_xlim(0, max(rates) * 1.18)
    ax.spines[["top", "right"]].set_visible(False)
    if title:
        ax.set_title(title)
    _show(table, SUMMARY_CLASS, title, _png(fig))


def _as_image(image: Any) -> np.ndarray:
    """An image for imshow: HxW or HxWx3/4 array in [0, 1] (uint8 kept), from arrays, PIL images
    or encoded bytes."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        from PIL import Image

        image = Image.open(io.BytesIO(bytes(image)))
    if hasattr(image, "convert") and hasattr(image, "size"):  # a PIL image
        image = np.asarray(image.convert("RGB"))
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (3, 4)):
        raise ValueError(f"image of shape {a.shape}: want HxW, HxWx3 or HxWx4")
    if a.dtype == np.uint8:
        return a
    a = a.astype(np.float64)
    lo, hi = np.nanmin(a), np.nanmax(a)
    if lo >= 0.0 and hi <= 1.0:
        return a
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)  # e.g. normalised model inputs


def show_images(images: Sequence[Any], labels: Sequence[str], *, ncols: int = 4, title=None):
    """Show images in a grid, each with its label (e.g. the predicted class); returns None.

    ``images``: arrays (HxW, HxWx3 or HxWx4; uint8, or floats rescaled for display), PIL images
    or encoded image bytes (JPEG, PNG). ``labels``: one string per image.
    """
    images, labels = list(images), [str(x) for x in labels]
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels: want one label each")
    if not images:
        raise ValueError("no images to show")
    plt = _pyplot()
    ncols = max(1, min(ncols, len(images)))
    nrows = math.ceil(len(images) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.2 * ncols, 2.5 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, label in zip(axes.flat, images, labels, strict=False):
        a = _as_image(image)
        ax.imshow(a, cmap="gray" if a.ndim == 2 else None)
        ax.set_title(label if len(label) <= 28 else label[:27] + "…", fontsize=9)
    if title:
        fig.suptitle(title)
    png = _png(fig)
    display = _display()
    if display is not None:
        _show_png(display, png)


def _cut(value: Any, max_chars: int) -> Any:
    if isinstance(value, str) and len(value) > max_chars:
        return value[: max_chars - 1] + "…"
    if isinstance(value, (list, tuple, np.ndarray)) and len(value) > 8:
        head = ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in value[:4])
        return f"[{head}, … ({len(value)} values)]"
    return value


def show_table(rows, *, columns: Sequence[str] | None = None, max_chars: int = 100, title=None):
    """Show a table of inputs and outputs; returns None.

    ``rows``: a pandas DataFrame, a Spark DataFrame (its first 20 rows are collected) or a list
    of dicts or Rows. Strings longer than ``max_chars`` and long arrays are shortened for
    display. ``columns`` picks and orders the columns shown.
    """
    _show(table_view(rows, columns, max_chars), TABLE_CLASS, title)


def table_view(rows, columns: Sequence[str] | None = None, max_chars: int = 100):
    """The pandas DataFrame :func:`show_table` shows."""
    import pandas as pd

    if hasattr(rows, "toPandas"):  # a Spark DataFrame
        rows = rows.limit(20).toPandas()
    elif not isinstance(rows, pd.DataFrame):
        rows = pd.DataFrame([r.asDict() if hasattr(r, "asDict") else dict(r) for r in rows])
    if columns is not None:
        missing = [c for c in columns if c not in rows.columns]
        if missing:
            raise ValueError(f"columns {missing} are not in the table: {list(rows.columns)}")
        rows = rows[list(columns)]
    return rows.apply(lambda col: col.map(lambda v: _cut(v, max_chars)))
