#!/usr/bin/env python3
"""The MLP pipeline three ways, in one run: the fast path, predict_batch_udf, and the ceiling.

N rows of 784 float32 values in Parquet, stored twice: as a Spark ``array<float>`` column (what
``predict_batch_udf`` reads) and as a tensor column (``dl_helpers.udfs``: raw float32 bytes,
dtype and shape in the column metadata). The 784-512-512-10 MLP, one math thread per Spark
task, ``local[cores]``, Spark's ``noop`` sink (no output I/O counted):

- ``fast path``: ``dl_helpers.udfs.tensor_predict_udf`` on the tensor column (native Arrow
  UDF, ``np.frombuffer``, checks included);
- ``predict_batch_udf``: ``pyspark.ml.functions.predict_batch_udf`` on the array column;
- ``no-op Arrow UDF``: the tensor column to a Python worker and 10 zeros per row back (the
  model's output type, ``array<float>``), no model: what moving the rows in and out costs;
- ``model alone``: the MLP on the same rows already in memory, one process per core
  (``udf_overhead.model_alone``).

The ceiling for any Spark pipeline that moves the rows to Python and runs the model there is
``1 / (1/no-op + 1/model alone)`` (both costs, on the same cores). Rounds interleave every
stage (A B C D, D C B A, ...); the table gives median rows/s with min-max, and the ratios fast
path / predict_batch_udf and fast path / ceiling, taken per round (each against the figures of
its own round) and their medians.

On a machine shared with other work, wall-clock speed swings within a round; CPU time per row
moves much less. So each Spark stage's CPU time (every process of this run: JVM, Python
workers) is counted too, and the model's own CPU per row is taken in this process (one thread);
the same ratios are given in CPU terms (the CPU ceiling: no-op + model CPU per row). The
outputs of both predict paths are checked against the model run directly on the same rows.

  .envs/torch/bin/python benchmark/mlp_fast_path.py [--rows 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa  # module level: arrow_udf reads the type hints of noop_body here

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmark.lib.mlp_workload import (  # noqa: E402
    DIM,
    importable_by_workers,
    make_data,
    make_model,
    make_predict_fn,
    model_alone,
)

FAST, STANDARD, NOOP, ALONE = "fast path", "predict_batch_udf", "no-op Arrow UDF", "model alone"


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=1024, help="rows per model call")
    ap.add_argument(
        "--arrow-batch", type=int, default=1024, help="spark.sql.execution.arrow.maxRecordsPerBatch"
    )
    ap.add_argument("--partitions", type=int, default=8, help="Parquet files = Spark tasks")
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path, default=ROOT / "output" / "benchmark" / "mlp_fast_path")
    a = ap.parse_args(argv)
    if min(a.rows, a.rounds, a.batch_size, a.arrow_batch, a.partitions, a.cores) < 1:
        ap.error("every count must be >= 1")
    return a


def noop_body(batches: Iterator[pa.Array]) -> Iterator[pa.Array]:
    from pyspark.sql.types import ArrayType, FloatType

    from dl_helpers.udfs._arrow import arrow_result

    for b in batches:
        yield arrow_result(np.zeros((len(b), 10), np.float32), ArrayType(FloatType()), len(b))


def stages(df, batch_size: int) -> dict:
    """name -> DataFrame to write to the noop sink."""
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql.functions import arrow_udf
    from pyspark.sql.types import ArrayType, FloatType

    from dl_helpers.udfs import tensor_predict_udf, tensor_spec

    logits = ArrayType(FloatType())
    fast = tensor_predict_udf(
        make_predict_fn,
        return_type=logits,
        batch_size=batch_size,
        input_tensor_shapes=[tensor_spec(df, "xb")],
    )
    standard = predict_batch_udf(
        make_predict_fn, return_type=logits, batch_size=batch_size, input_tensor_shapes=[[DIM]]
    )
    noop = arrow_udf(noop_body, ArrayType(FloatType()))
    return {
        FAST: df.select("id", fast("xb").alias("p")),
        STANDARD: df.select("id", standard("x").alias("p")),
        NOOP: df.select("id", noop("xb").alias("p")),
    }


def check_outputs(df, batch_size: int, n: int = 512) -> dict:
    """Both predict paths on the first n rows against the MLP run directly."""
    import torch

    sample = df.where(f"id < {n}")
    todo = stages(sample, batch_size)
    x = np.stack(sample.orderBy("id").toPandas()["x"].to_list()).astype(np.float32)
    with torch.inference_mode():
        want = make_model()(torch.from_numpy(x)).numpy()
    got = {k: np.stack(todo[k].orderBy("id").toPandas()["p"].to_list()) for k in (FAST, STANDARD)}
    return {
        "max_abs_diff_fast_vs_model": float(np.abs(got[FAST] - want).max()),
        "max_abs_diff_standard_vs_model": float(np.abs(got[STANDARD] - want).max()),
        "max_abs_diff_fast_vs_standard": float(np.abs(got[FAST] - got[STANDARD]).max()),
    }


def ceiling(noop: float, alone: float) -> float:
    return 1.0 / (1.0 / noop + 1.0 / alone)


def tree_cpu() -> float:
    """CPU seconds of this process and all its descendants (with their exited children)."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for p in [me, *me.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def model_cpu_per_row(rows: int = 8192, batch: int = 1024) -> float:
    """CPU seconds per row of the MLP alone, in this process, one thread."""
    import torch

    torch.set_num_threads(1)
    model = make_model()
    x = np.random.default_rng(1).random((rows, DIM), dtype=np.float32)
    with torch.inference_mode():
        model(torch.from_numpy(x[:batch]))
        t0 = time.process_time()
        for i in range(0, rows, batch):
            model(torch.from_numpy(x[i : i + batch]))
        return (time.process_time() - t0) / rows


def main(argv=None) -> int:
    a = parse_args(argv)
    importable_by_workers()
    from dl_helpers.session import build_session

    data = a.out / f"data_{a.rows}_{a.partitions}"
    print(
        f"data: {a.rows} rows x {DIM} float32, array and tensor columns, {a.partitions} "
        f"Parquet files ({data}); load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    make_data(data, a.rows, a.partitions)
    spark = build_session(
        "mlp-fast-path",
        master=f"local[{a.cores}]",
        conf={
            "spark.sql.execution.arrow.maxRecordsPerBatch": str(a.arrow_batch),
            "spark.sql.files.maxPartitionBytes": str(1 << 40),  # one task per file
            "spark.sql.files.openCostInBytes": "0",
        },
    )
    runs: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}  # CPU microseconds per row
    try:
        df = spark.read.parquet(str(data))
        todo = stages(df, a.batch_size)
        names = [FAST, STANDARD, NOOP, ALONE]
        for r in range(a.rounds + 1):  # round 0: warm-up (workers, imports, models), not counted
            for name in names if r % 2 == 0 else names[::-1]:
                if name == ALONE:
                    if not r:
                        continue
                    speed = model_alone(data, a.cores, a.rows)
                    cpu_us = 1e6 * model_cpu_per_row()
                else:
                    c0, t0 = tree_cpu(), time.perf_counter()
                    todo[name].write.format("noop").mode("overwrite").save()
                    speed = a.rows / (time.perf_counter() - t0)
                    cpu_us = 1e6 * (tree_cpu() - c0) / a.rows
                if r:
                    runs.setdefault(name, []).append(speed)
                    cpu.setdefault(name, []).append(cpu_us)
                label = f"round {r}" if r else "warm-up"
                print(
                    f"  {label:8s} {name:18s} {speed:>10,.0f} rows/s {cpu_us:8.1f} CPU-us/row",
                    flush=True,
                )
        agreement = check_outputs(df, a.batch_size)
    finally:
        spark.stop()

    per_round = []
    for i in range(a.rounds):
        c = ceiling(runs[NOOP][i], runs[ALONE][i])
        cpu_ceiling = cpu[NOOP][i] + cpu[ALONE][i]
        per_round.append(
            {
                "ceiling": c,
                "fast_vs_standard": runs[FAST][i] / runs[STANDARD][i],
                "fast_vs_ceiling": runs[FAST][i] / c,
                "cpu_ceiling_us": cpu_ceiling,
                "cpu_fast_vs_standard": cpu[STANDARD][i] / cpu[FAST][i],
                "cpu_fast_vs_ceiling": cpu_ceiling / cpu[FAST][i],
            }
        )
    med = {k: statistics.median(v) for k, v in runs.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
    ratio = {k: statistics.median(p[k] for p in per_round) for k in per_round[0]}
    lines = [
        f"{a.rows} rows x {DIM} float32, the 784-512-512-10 MLP, local[{a.cores}], "
        f"{a.partitions} tasks, batch {a.batch_size}, Arrow batch {a.arrow_batch}, noop sink; "
        f"medians of {a.rounds} interleaved rounds (min-max); load average after "
        f"{os.getloadavg()[0]:.1f}",
        "",
        "| pipeline | rows/s | min-max | / model alone | CPU-us / row | min-max |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in (ALONE, NOOP, FAST, STANDARD):
        v, c = runs[name], cpu[name]
        lines.append(
            f"| {name} | {med[name]:,.0f} | {min(v):,.0f}-{max(v):,.0f} | "
            f"{med[name] / med[ALONE]:.2f} | {cpu_med[name]:.1f} | "
            f"{min(c):.1f}-{max(c):.1f} |"
        )
    lines.append(
        f"| ceiling: 1 / (1/no-op + 1/model alone); CPU: no-op + model | "
        f"{ratio['ceiling']:,.0f} | | {ratio['ceiling'] / med[ALONE]:.2f} | "
        f"{ratio['cpu_ceiling_us']:.1f} | |"
    )

    def rounds(key):
        return ", ".join(f"{p[key]:.2f}" for p in per_round)

    lines += [
        "",
        f"fast path / predict_batch_udf: {ratio['fast_vs_standard']:.2f} wall "
        f"(per round {rounds('fast_vs_standard')}), {ratio['cpu_fast_vs_standard']:.2f} CPU "
        f"(per round {rounds('cpu_fast_vs_standard')}); goal >= 1.3",
        f"fast path / ceiling: {ratio['fast_vs_ceiling']:.2f} wall "
        f"(per round {rounds('fast_vs_ceiling')}), {ratio['cpu_fast_vs_ceiling']:.2f} CPU "
        f"(per round {rounds('cpu_fast_vs_ceiling')}); goal >= 0.9",
        "outputs vs the model run directly: max |diff| fast path "
        f"{agreement['max_abs_diff_fast_vs_model']:.1e}, predict_batch_udf "
        f"{agreement['max_abs_diff_standard_vs_model']:.1e}",
    ]
    table = "\n".join(lines)
    print()
    print(table)
    a.out.mkdir(parents=True, exist_ok=True)
    target = a.out / "mlp_fast_path.json"
    target.write_text(
        json.dumps(
            {
                "rows": a.rows,
                "rounds": a.rounds,
                "cores": a.cores,
                "batch_size": a.batch_size,
                "arrow_batch": a.arrow_batch,
                "partitions": a.partitions,
                "runs": runs,
                "cpu_us_per_row": cpu,
                "medians": med,
                "cpu_medians": cpu_med,
                "per_round": per_round,
                "ratios": ratio,
                **agreement,
                "loadavg": os.getloadavg(),
                "table_md": table,
            },
            indent=1,
        )
    )
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
