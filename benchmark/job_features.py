#!/usr/bin/env python3
"""What the long-job features cost: progress bar, quarantine mode, chunked resumable writes.

One warm local Spark session; N rows of 784 float32 values in Parquet go through the
image-classification MLP (784-512-512-10, random weights, one thread per task) with
``checked_predict_batch_udf`` and are written to Parquet, four ways, interleaved (the order
reverses every round) after a warm-up round:

- ``plain``: the checked UDF (default ``on_bad_row="fail"``), one Parquet write;
- ``progress``: the same inside ``SparkProgress`` (a status-tracker poll every 0.5 s);
- ``quarantine``: ``on_bad_row="quarantine"`` (reasons computed, prediction + error struct);
- ``chunked``: ``run_chunked`` into a fresh folder in ``--chunks`` id-range chunks
  (one write job and one commit marker per chunk).

Reported: the median rows/s of each and its ratio to ``plain`` (medians of the per-round ratios,
so that a slow round on this shared machine weighs on both). The outputs are checked: quarantine
and chunked predictions equal plain's.

  .envs/torch/bin/python benchmark/job_features.py [--rows 10000] [--rounds 3] [--chunks 8]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmark.lib.mlp_workload import (  # noqa: E402
    DIM,
    importable_by_workers,
    make_data,
    make_predict_fn,
)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--chunks", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path, default=ROOT / "output" / "benchmark" / "job_features")
    return ap.parse_args(argv)


def variants(spark, df, a, work: Path):
    """name -> function() that runs the job once (output under ``work``)."""
    from pyspark.sql.types import ArrayType, FloatType

    from dl_helpers.jobs import SparkProgress, run_chunked
    from dl_helpers.udfs import checked_predict_batch_udf

    def classifier(mode):
        return checked_predict_batch_udf(
            make_predict_fn,
            return_type=ArrayType(FloatType()),
            batch_size=a.batch_size,
            input_tensor_shapes=[[DIM]],
            row_id="id",
            on_bad_row=mode,
        )

    plain_udf, quarantine_udf = classifier("fail"), classifier("quarantine")

    def classify(frame):
        return frame.select("id", plain_udf("x").alias("logits"))

    def write(frame, name):
        frame.write.mode("overwrite").parquet(str(work / name))

    def chunked():
        shutil.rmtree(work / "chunked", ignore_errors=True)
        result = run_chunked(df, classify, str(work / "chunked"), num_chunks=a.chunks)
        assert result.complete and result.rows_written == a.rows, result

    def with_progress():
        with SparkProgress(
            spark, total=a.rows, label="bench", print_every=1e9, out=open(os.devnull, "w")
        ):
            write(classify(df), "progress")

    return {
        "plain": lambda: write(classify(df), "plain"),
        "progress": with_progress,
        "quarantine": lambda: write(
            df.select("id", quarantine_udf("x").alias("out")), "quarantine"
        ),
        f"chunked ({a.chunks} chunks)": chunked,
    }


def check_outputs(spark, work: Path) -> float:
    """Max |diff| of quarantine's and chunked's logits against plain's (every row)."""

    def logits(name, col="logits"):
        pdf = spark.read.parquet(str(work / name)).select("id", col).toPandas().sort_values("id")
        return np.stack(pdf[col].to_numpy())

    plain = logits("plain")
    q = spark.read.parquet(str(work / "quarantine")).select("id", "out.prediction", "out.error")
    assert q.where("error is not null").count() == 0
    quarantine = np.stack(q.toPandas().sort_values("id")["prediction"].to_numpy())
    return float(max(np.abs(quarantine - plain).max(), np.abs(logits("chunked") - plain).max()))


def main(argv=None) -> int:
    a = parse_args(argv)
    importable_by_workers()
    from dl_helpers.session import build_session

    data = a.out / f"data_{a.rows}"
    files = max(a.cores * 4, 8)
    print(f"data: {a.rows} rows x {DIM} float32 in {files} Parquet files ({data})", flush=True)
    make_data(data, a.rows, files)
    work = a.out / "work"
    spark = build_session("job-features", master=f"local[{a.cores}]")
    df = spark.read.parquet(str(data))
    runs: dict[str, list[float]] = {}
    todo = list(variants(spark, df, a, work).items())
    try:
        for r in range(a.rounds + 1):  # round 0: warm-up, not counted
            for name, job in todo if r % 2 else todo[::-1]:
                t0 = time.perf_counter()
                job()
                speed = a.rows / (time.perf_counter() - t0)
                if r:
                    runs.setdefault(name, []).append(speed)
                print(
                    f"  {'warm-up' if not r else f'round {r}'} {name:<20} {speed:>9,.0f} rows/s",
                    flush=True,
                )
        diff = check_outputs(spark, work)
    finally:
        spark.stop()
    print(f"quarantine and chunked logits vs plain: max |diff| {diff:.2e}")

    plain = runs["plain"]
    results = []
    for name, speeds in runs.items():
        ratios = [s / p for s, p in zip(speeds, plain)]
        results.append(
            {
                "variant": name,
                "rows_per_s": statistics.median(speeds),
                "min": min(speeds),
                "max": max(speeds),
                "vs_plain": statistics.median(ratios),
            }
        )
    per_chunk = (
        statistics.median(
            a.rows / c - a.rows / p for c, p in zip(runs[f"chunked ({a.chunks} chunks)"], plain)
        )
        / a.chunks
    )
    print(f"chunked: {per_chunk:.2f} s more per chunk than the one plain write")
    lines = [
        f"{a.rows} rows x {DIM} float32, MLP, local[{a.cores}], Parquet output, medians of "
        f"{a.rounds} interleaved warm rounds",
        "",
        "| variant | rows/s (min-max) | / plain |",
        "| --- | ---: | ---: |",
    ]
    for x in results:
        lines.append(
            f"| {x['variant']} | {x['rows_per_s']:,.0f} ({x['min']:,.0f}-{x['max']:,.0f})"
            f" | {x['vs_plain']:.2f} |"
        )
    lines.append(f"\nchunked: {per_chunk:.2f} s per chunk over the plain write")
    table = "\n".join(lines)
    print()
    print(table)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "job_features.json").write_text(
        json.dumps(
            {
                "rows": a.rows,
                "rounds": a.rounds,
                "chunks": a.chunks,
                "cores": a.cores,
                "max_abs_diff": diff,
                "chunk_seconds_over_plain": per_chunk,
                "results": results,
            },
            indent=2,
        )
    )
    (a.out / "job_features.md").write_text(table + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
