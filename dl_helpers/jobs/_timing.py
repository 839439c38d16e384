"""Timing Spark jobs the same way in every notebook.

A Spark DataFrame is lazy: timing it means running its whole plan. ``timed_run`` writes it to
Parquet, or to Spark's ``noop`` sink, which computes every row and keeps nothing, so the time is
the pipeline's own and not that of collecting results to the driver. The first run of an
inference pipeline also pays for starting Python workers and loading the model ("cold"); a
second run reuses both ("warm"): report them apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def timed_run(frame, parquet_path: str | None = None) -> float:
    """Run ``frame`` to Parquet at ``parquet_path`` (overwritten), or to the noop sink; seconds."""
    t0 = time.perf_counter()
    writer = frame.write.mode("overwrite")
    if parquet_path:
        writer.parquet(parquet_path)
    else:
        writer.format("noop").save()
    return time.perf_counter() - t0


def cold_and_warm(frame, collect: Callable[[Any], Any]) -> tuple[float, float, Any]:
    """A cold run to the noop sink, then a timed warm run of ``collect(frame)``.

    Returns ``(cold_s, warm_s, collect's result)``: the warm pass is the one whose results the
    notebook compares with the model's own.
    """
    cold = timed_run(frame)
    t0 = time.perf_counter()
    result = collect(frame)
    return cold, time.perf_counter() - t0, result
