#!/usr/bin/env python3
"""Where a small model's time goes in predict_batch_udf, and which settings change it.

For a model as cheap as the notebooks' MLPs, Spark's own per-row work dominates: in
image_classification_torch the model alone ran 92k rows/s and the same model through
predict_batch_udf 8.5k. This takes that pipeline apart, on N rows of 784 float32 values in
Parquet, in one warm local Spark session (``local[cores]``), writing to Spark's ``noop`` sink so
that no output I/O is counted:

- ``scan``: read the Parquet column in the JVM only (``size(x)``), no Python;
- ``to pandas``: the column to a Python worker over Arrow and back (a pandas_udf returning the
  row length), so Arrow + pandas conversion of ``list<float>``;
- ``predict_batch_udf, no model``: the same plus predict_batch_udf's batching and its stacking
  of the rows into one float32 (n, 784) array (the predict function returns zeros);
- ``predict_batch_udf + MLP``: the real thing (784-512-512-10, one thread per task);
- ``binary + MLP``: the tensor stored as raw float32 bytes (``binary`` column, 3136 bytes per
  row) decoded with ``np.frombuffer`` inside a pandas_udf, which skips the per-element list
  conversion;
- ``model alone``: the MLP on the same rows already in memory, one thread per process, all
  cores (the limit).

Every MLP stage's output is checked against the model run directly on the same rows (max
|diff| printed and stored). Each stage runs for every ``--arrow-batch``
(``spark.sql.execution.arrow.maxRecordsPerBatch``) and, for predict_batch_udf, every
``--batch-size``; rounds are interleaved, medians reported: rows/s of each stage, and its cost
per row (microseconds x cores).

  .envs/torch/bin/python benchmark/udf_overhead.py [--rows 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd  # at module level: pandas_udf resolves the type hints in these globals

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


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--arrow-batch",
        type=int,
        nargs="+",
        default=[1024, 10000],
        help="spark.sql.execution.arrow.maxRecordsPerBatch values",
    )
    ap.add_argument(
        "--batch-size",
        type=int,
        nargs="+",
        default=[1024, 8192],
        help="predict_batch_udf batch sizes",
    )
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path, default=ROOT / "output" / "benchmark" / "udf_overhead")
    a = ap.parse_args(argv)
    if a.rows < 1 or a.rounds < 1 or a.cores < 1:
        ap.error("--rows, --rounds and --cores must be >= 1")
    if min(a.arrow_batch + a.batch_size) < 1:
        ap.error("--arrow-batch and --batch-size values must be >= 1")
    return a


def stages(batch_sizes):
    """name -> function(df) -> DataFrame to write to the noop sink."""
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, FloatType

    @F.pandas_udf("int")
    def to_pandas(x: pd.Series) -> pd.Series:
        return x.map(len).astype("int32")

    def make_zeros():
        def predict(x):
            return np.zeros(len(x), dtype=np.float32)

        return predict

    @F.pandas_udf(ArrayType(FloatType()))
    def binary_mlp(xb: pd.Series) -> pd.Series:
        import types

        import torch

        # One model per Python worker, kept across tasks (workers are reused) in a module of
        # its own: this function is unpickled again for every task.
        cache = sys.modules.setdefault("_udf_overhead_cache", types.ModuleType("cache"))
        if not hasattr(cache, "model"):
            torch.set_num_threads(1)
            cache.model = make_model()
        x = np.frombuffer(b"".join(xb.to_list()), dtype=np.float32).reshape(-1, DIM)
        with torch.inference_mode():
            out = cache.model(torch.from_numpy(x)).numpy()
        return pd.Series(list(out))

    out = {
        "scan (JVM only)": lambda df: df.select("id", F.size("x").alias("n")),
        "to pandas and back": lambda df: df.select("id", to_pandas("x").alias("n")),
    }
    for b in batch_sizes:
        zeros = predict_batch_udf(
            make_zeros, return_type=FloatType(), batch_size=b, input_tensor_shapes=[[DIM]]
        )
        mlp = predict_batch_udf(
            make_predict_fn,
            return_type=ArrayType(FloatType()),
            batch_size=b,
            input_tensor_shapes=[[DIM]],
        )
        out[f"predict_batch_udf, no model (batch {b})"] = lambda df, u=zeros: df.select(
            "id", u("x").alias("p")
        )
        out[f"predict_batch_udf + MLP (batch {b})"] = lambda df, u=mlp: df.select(
            "id", u("x").alias("p")
        )
    out["binary column + MLP (pandas_udf)"] = lambda df: df.select(
        "id", binary_mlp("xb").alias("p")
    )
    return out


def check_outputs(spark, df, todo, n: int = 256) -> float:
    """Max |diff| between every MLP stage's output and the model run directly, on n rows."""
    import torch

    sample = df.orderBy("id").limit(n).cache()
    x = np.stack(sample.select("id", "x").orderBy("id").toPandas()["x"].to_list())
    with torch.inference_mode():
        want = make_model()(torch.from_numpy(x.astype(np.float32))).numpy()
    worst = 0.0
    for name, build in todo:
        if "MLP" in name:
            got = np.stack(build(sample).orderBy("id").toPandas()["p"].to_list())
            if got.shape != want.shape:
                raise AssertionError(f"{name}: output shape {got.shape}, expected {want.shape}")
            worst = max(worst, float(np.abs(got - want).max()))
    sample.unpersist()
    return worst


def main(argv=None) -> int:
    a = parse_args(argv)
    importable_by_workers()
    from dl_helpers.session import build_session

    data = a.out / f"data_{a.rows}"
    files = max(a.cores * 4, 8)
    print(f"data: {a.rows} rows x {DIM} float32 in {files} Parquet files ({data})", flush=True)
    make_data(data, a.rows, files)
    limit = model_alone(data, a.cores, a.rows)
    print(f"model alone, {a.cores} processes x 1 thread: {limit:,.0f} rows/s", flush=True)

    spark = build_session(
        "udf-overhead",
        master=f"local[{a.cores}]",
        conf={"spark.sql.files.maxPartitionBytes": str(64 << 20)},
    )
    df = spark.read.parquet(str(data))
    runs: dict[tuple[str, int], list[float]] = {}
    todo = list(stages(a.batch_size).items())
    try:
        for r in range(a.rounds + 1):  # round 0: warm-up, not counted
            order = todo if r % 2 else todo[::-1]
            for ab in a.arrow_batch:
                spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(ab))
                for name, build in order:
                    t0 = time.perf_counter()
                    build(df).write.format("noop").mode("overwrite").save()
                    dt = time.perf_counter() - t0
                    if r:
                        runs.setdefault((name, ab), []).append(a.rows / dt)
                    print(
                        f"  {'warm-up' if not r else f'round {r}'} arrow batch {ab:>6} "
                        f"{name:<42} {a.rows / dt:>10,.0f} rows/s",
                        flush=True,
                    )
        agreement = check_outputs(spark, df, todo)
    finally:
        spark.stop()
    print(f"every MLP stage's output vs the model run directly: max |diff| {agreement:.2e}")

    rows = []
    for (name, ab), vals in runs.items():
        med = statistics.median(vals)
        rows.append(
            {
                "stage": name,
                "arrow_batch": ab,
                "rows_per_s": med,
                "us_x_cores_per_row": a.cores * 1e6 / med,
                "vs_model_alone": med / limit,
            }
        )
    lines = [
        f"{a.rows} rows x {DIM} float32, local[{a.cores}], medians of {a.rounds} rounds; "
        f"model alone {limit:,.0f} rows/s ({a.cores * 1e6 / limit:.1f} us x cores per row)",
        "",
        "| stage | Arrow batch | rows/s | us x cores / row | / model alone |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for x in sorted(rows, key=lambda x: (x["arrow_batch"], -x["rows_per_s"])):
        lines.append(
            f"| {x['stage']} | {x['arrow_batch']} | {x['rows_per_s']:,.0f} | "
            f"{x['us_x_cores_per_row']:.1f} | {x['vs_model_alone']:.2f} |"
        )
    table = "\n".join(lines)
    print()
    print(table)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "udf_overhead.json").write_text(
        json.dumps(
            {
                "rows": a.rows,
                "cores": a.cores,
                "rounds": a.rounds,
                "model_alone_rows_per_s": limit,
                "max_abs_diff_vs_model": agreement,
                "loadavg": os.getloadavg(),
                "stages": rows,
                "table_md": table,
            },
            indent=1,
        )
    )
    print(f"wrote {a.out / 'udf_overhead.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
