#!/usr/bin/env python3
"""What dl_helpers.servers costs and buys, on this machine, for a small model.

Measures, with a 784-256-10 torch MLP (random weights, one math thread everywhere):

1. server start and stop through ``TritonServerManager`` (local mode), ``--starts`` times;
2. per-batch latency in-process vs through the Triton server (HTTP on loopback), outside
   Spark, for batch sizes 1, 64 and 1024: the overhead of a round trip;
3. Spark throughput: ``predict_batch_udf`` in-process with one task (the reference notebook's
   setting for a GPU), in-process with one task per core, and through Triton with one task per
   core, interleaved (A B C A B C ...) over ``--rounds`` rounds after a cold pass each.

Results are printed and written as JSON (``--out``). Example::

    .envs/torch/bin/python benchmark/triton_overhead.py --rows 20000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

IN, HIDDEN, OUT = 784, 256, 10


def build_model(path: str) -> None:
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(IN, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, OUT)
    )
    torch.save(net.state_dict(), path)


def load_model(path: str):
    import torch

    torch.set_num_threads(1)
    net = torch.nn.Sequential(
        torch.nn.Linear(IN, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, OUT)
    )
    net.load_state_dict(torch.load(path))
    net.eval()
    return net


def make_bind_model(path: str):
    def bind_model(triton):
        import numpy as np
        import torch
        from pytriton.decorators import batch
        from pytriton.model_config import Tensor

        net = load_model(path)

        @batch
        def infer(x):
            with torch.inference_mode():
                return {"logits": net(torch.from_numpy(x)).numpy()}

        triton.bind(
            model_name="mlp",
            infer_func=infer,
            inputs=[Tensor(name="x", dtype=np.float32, shape=(IN,))],
            outputs=[Tensor(name="logits", dtype=np.float32, shape=(OUT,))],
        )

    return bind_model


def make_inprocess_fn(path: str):
    def make():
        import torch

        net = load_model(path)

        def predict(x):
            with torch.inference_mode():
                return net(torch.from_numpy(x)).numpy()

        return predict

    return make


def median_ms(fn, repeat: int) -> float:
    fn()  # warm
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 3)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--starts", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=50, help="requests per latency figure")
    ap.add_argument("--out", default=str(ROOT / "output" / "benchmark" / "triton_overhead.json"))
    args = ap.parse_args(argv)

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql.types import ArrayType, FloatType
    from pytriton.client import ModelClient

    from dl_helpers.servers import TritonServerManager, triton_predict_fn
    from dl_helpers.session import build_session

    work = Path(tempfile.mkdtemp(prefix="triton_overhead_"))
    model_path = str(work / "mlp.pt")
    build_model(model_path)
    bind_model = make_bind_model(model_path)
    result: dict = {
        "rows": args.rows,
        "batch_size": args.batch_size,
        "cpus": os.cpu_count(),
        "load_avg_start": os.getloadavg(),
    }

    spark = build_session("triton-overhead", master="local[2]")

    # 1. start / stop
    starts, stops = [], []
    for _ in range(args.starts):
        m = TritonServerManager(spark, bind_model, model_name="mlp", max_batch_size=args.batch_size)
        m.start()
        m.stop()
        starts.append(m.timings["start_s"])
        stops.append(m.timings["stop_s"])
    result["start_s"] = {"median": statistics.median(starts), "all": starts}
    result["stop_s"] = {"median": statistics.median(stops), "all": stops}
    print(f"start {starts} s, stop {stops} s", flush=True)

    # Data for the Spark runs, as Parquet (4 files).
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.rows, IN), dtype=np.float32)
    data = work / "data"
    data.mkdir()
    for i, part in enumerate(np.array_split(np.arange(args.rows), 4)):
        col = pa.array(list(x[part]), type=pa.list_(pa.float32()))
        pq.write_table(pa.table({"id": pa.array(part), "x": col}), data / f"part-{i}.parquet")
    df = spark.read.parquet(str(data))

    with TritonServerManager(
        spark, bind_model, model_name="mlp", max_batch_size=args.batch_size
    ) as servers:
        (info,) = servers.servers.values()
        # 2. per-batch latency, outside Spark
        net = load_model(model_path)
        import torch

        latency = {}
        with ModelClient(info.url, "mlp", access_token=info.token) as client:
            for bs in (1, 64, 1024):
                batch = x[:bs]

                def local(batch=batch):
                    with torch.inference_mode():
                        net(torch.from_numpy(batch)).numpy()

                def remote(batch=batch):
                    client.infer_batch(x=batch)

                a, b = median_ms(local, args.repeat), median_ms(remote, args.repeat)
                latency[bs] = {"inprocess_ms": a, "triton_ms": b, "overhead_ms": round(b - a, 3)}
                print(f"batch {bs}: in-process {a} ms, Triton {b} ms", flush=True)
        result["latency"] = latency

        # 3. Spark throughput, interleaved
        inproc = predict_batch_udf(
            make_inprocess_fn(model_path),
            return_type=ArrayType(FloatType()),
            batch_size=args.batch_size,
            input_tensor_shapes=[[IN]],
        )
        triton_udf = predict_batch_udf(
            triton_predict_fn(servers, ["x"]),
            return_type=ArrayType(FloatType()),
            batch_size=args.batch_size,
            input_tensor_shapes=[[IN]],
        )
        variants = {
            "inprocess_1_task": lambda: df.coalesce(1).select(inproc("x").alias("y")),
            "inprocess_2_tasks": lambda: df.repartition(2).select(inproc("x").alias("y")),
            "triton_2_tasks": lambda: df.repartition(2).select(triton_udf("x").alias("y")),
        }

        def run(make):
            t0 = time.perf_counter()
            make().write.mode("overwrite").format("noop").save()
            return time.perf_counter() - t0

        cold = {k: round(run(v), 3) for k, v in variants.items()}
        warm: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(args.rounds):
            for k, v in variants.items():
                warm[k].append(round(run(v), 3))
        result["spark"] = {
            k: {
                "cold_s": cold[k],
                "warm_s": warm[k],
                "rows_per_s_warm_median": round(args.rows / statistics.median(warm[k])),
            }
            for k in variants
        }
        for k, v in result["spark"].items():
            rate = v["rows_per_s_warm_median"]
            print(f"{k}: cold {v['cold_s']} s, warm {v['warm_s']} s, {rate} rows/s")
    spark.stop()
    result["load_avg_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
