"""Timing Spark jobs the same way in every notebook: the whole plan, cold and warm apart.

Usage::

    cold_s, warm_s, rows = cold_and_warm(preds, lambda f: f.collect())
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def timed_run(frame, parquet_path: str | None = None) -> float:
    """Run ``frame`` to Parquet at ``parquet_path`` (overwritten), or to the noop sink; seconds.

    A DataFrame is lazy: timing it means running its whole plan. The noop sink computes every
    row and keeps nothing, so the time is the pipeline's own, not that of collecting results.
    """
    t0 = time.perf_counter()
    writer = frame.write.mode("overwrite")
    if parquet_path:
        writer.parquet(parquet_path)
    else:
        writer.format("noop").save()
    return time.perf_counter() - t0


def cold_and_warm(frame, collect: Callable[[Any], Any]) -> tuple[float, float, Any]:
    """A cold run to the noop sink, then a timed warm run of ``collect(frame)``.

    The cold run pays for starting Python workers and loading the model; the warm one reuses
    both, so the two are reported apart.

    Returns ``(cold_s, warm_s, collect's result)``: the warm pass is the one whose results the
    notebook compares with the model's own.
    """
    cold = timed_run(frame)
    t0 = time.perf_counter()
    result = collect(frame)
    return cold, time.perf_counter() - t0, result
