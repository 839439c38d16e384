"""Where the time of the Spark pipeline goes (``run.py --profile``).

The fused variant (predict_batch_udf on the JPEG bytes) is taken apart by running, in one warm
Spark session and interleaved, pipelines that stop earlier:

  io          read Parquet -> JPEG bytes to Python over Arrow -> constant prediction -> write
  decode      io + decode, resize, crop, normalize (no model)
  full        decode + ResNet-50 (the fused variant itself)
  floats      the reference recipe's extra step: decode in one pandas_udf, float32 tensors back
              through the JVM into predict_batch_udf (constant prediction, no model)

and from timers inside the UDF (decode vs model seconds, per Python worker). Costs are given as
milliseconds per image, both as wall time x cores and as CPU time of every process (the latter
barely moves with other users' load), so the stages add up to the full run.
The limit's workers report the same timers without Spark around them.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd  # module level: pandas_udf resolves the "pd.Series" hints in globals

from benchmark.lib import resnet50 as R
from benchmark.lib import variants as V
from benchmark.lib.process_cpu import TreeCPU


def _struct():
    return V.pred_struct()


def _udf_io(batch_size):
    from pyspark.ml.functions import predict_batch_udf

    def make():
        def predict(images):
            n = len(images)
            return {"prediction": np.zeros(n, np.int64), "score": np.zeros(n, np.float32)}

        return predict

    return predict_batch_udf(make, return_type=_struct(), batch_size=batch_size)


def _udf_decode(batch_size):
    from pyspark.ml.functions import predict_batch_udf

    def make():
        def predict(images):
            x = R.preprocess_batch(list(images))
            n = len(x)
            return {"prediction": np.zeros(n, np.int64), "score": np.zeros(n, np.float32)}

        return predict

    return predict_batch_udf(make, return_type=_struct(), batch_size=batch_size)


def _udfs_floats(batch_size):
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import ArrayType, FloatType

    @pandas_udf(ArrayType(FloatType()))
    def preprocess_udf(images: pd.Series) -> pd.Series:
        x = R.preprocess_batch(images.to_list())
        return pd.Series(list(x.reshape(len(x), -1)))

    def make():
        def predict(x):
            n = len(x)
            return {"prediction": np.zeros(n, np.int64), "score": np.zeros(n, np.float32)}

        return predict

    sink = predict_batch_udf(
        make,
        return_type=_struct(),
        batch_size=batch_size,
        input_tensor_shapes=[[3, R.IMAGE_SIZE, R.IMAGE_SIZE]],
    )
    return preprocess_udf, sink


def _read_prof(d: Path) -> dict:
    tot = {"decode": 0.0, "model": 0.0, "images": 0}
    for f in d.glob("*.jsonl"):
        for line in f.read_text().splitlines():
            rec = json.loads(line)
            for k in tot:
                tot[k] += rec[k]
    return tot


def profile(s: V.Settings, args) -> dict:
    prof_dir = args.out / "profile"
    shutil.rmtree(prof_dir, ignore_errors=True)
    s.profile_dir = prof_dir / "timers"
    rounds = max(1, args.repeats)
    print(f"profiling {s.images} images, {rounds} rounds after a warm-up", flush=True)
    times, cpus, model_share = _spark_rounds(s, prof_dir / "out", rounds)
    limit = _limit_run(s, prof_dir / "out")
    timers = {k: sum(m[k] for m in model_share) / len(model_share) for k in model_share[0]}
    rows = _stage_rows(s, times, cpus, timers, limit)
    print(
        f"\nwhere the time goes ({s.images} images, {s.cores} cores; per image, medians of "
        f"{rounds} warm rounds; load {os.getloadavg()[0]:.1f})"
    )
    print(f"  {'stage':78s} {'wall x cores':>12s} {'CPU':>8s}  (ms/img)")
    for k, w, c in rows:
        print(f"  {k:78s} {w:12.1f} {'' if c is None else f'{c:8.1f}':>8s}")
    result = {
        "images": s.images,
        "cores": s.cores,
        "seconds": times,
        "cpu_seconds": cpus,
        "limit_seconds": limit["seconds"],
        "limit_cpu_seconds": limit["cpu_seconds"],
        "timers_full": timers,
        "timers_limit": limit["timers"],
        "ms_per_image": [{"stage": k, "wall_x_cores": w, "cpu": c} for k, w, c in rows],
        "loadavg": os.getloadavg(),
    }
    (args.out / "profile.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out / 'profile.json'}")
    return result


def _queries(s: V.Settings, rt: V.SparkRuntime) -> dict:
    """The pipelines that stop earlier than the fused variant, and the fused variant itself."""
    fused = V.Fused(s, rt)
    bs = s.batch_size
    pre, sink = _udfs_floats(bs)
    io_udf, dec_udf = _udf_io(bs), _udf_decode(bs)

    def flat(df):  # the columns the fused variant's predictions() has
        return df.select("id", "p.prediction", "p.score")

    def q_io():
        return flat(rt.images_df().select("id", io_udf("image").alias("p")))

    def q_decode():
        return flat(rt.images_df().select("id", dec_udf("image").alias("p")))

    def q_floats():
        return flat(
            rt.images_df().select("id", pre("image").alias("x")).select("id", sink("x").alias("p"))
        )

    return {"io": q_io, "decode": q_decode, "floats": q_floats, "full": fused.predictions}


def _spark_rounds(s: V.Settings, out_dir: Path, rounds: int) -> tuple[dict, dict, list]:
    """Every pipeline once untimed, then ``rounds`` interleaved rounds in one Spark session:
    wall and CPU seconds per pipeline, and the in-UDF timers of each full run."""
    rt = V.SparkRuntime(s)
    rt.session()
    queries = _queries(s, rt)
    times: dict[str, list[float]] = {k: [] for k in queries}
    cpus: dict[str, list[float]] = {k: [] for k in queries}
    model_share = []
    try:
        for r in range(rounds + 1):
            order = list(queries) if r % 2 == 0 else list(queries)[::-1]
            for name in order:
                out = out_dir / name
                shutil.rmtree(out, ignore_errors=True)
                shutil.rmtree(s.profile_dir, ignore_errors=True)
                with TreeCPU() as meter:
                    t0 = time.perf_counter()
                    queries[name]().write.parquet(str(out))
                    sec = time.perf_counter() - t0
                if r == 0:
                    print(f"  warm-up {name}: {sec:.1f} s", flush=True)
                    continue
                times[name].append(sec)
                cpus[name].append(meter.seconds)
                if name == "full":
                    model_share.append(_read_prof(s.profile_dir))
                print(f"  round {r} {name}: {sec:.1f} s ({s.images / sec:.2f} img/s)", flush=True)
    finally:
        rt.stop()
    return times, cpus, model_share


def _limit_run(s: V.Settings, out_dir: Path) -> dict:
    """The limit's own split of decode vs model, same timers, no Spark (after one warm-up)."""
    shutil.rmtree(s.profile_dir, ignore_errors=True)
    lim = V.LimitVariant(s)
    try:
        lim.start()
        lim.prepare()
        lim.run(out_dir / "limit_warmup")
        shutil.rmtree(s.profile_dir, ignore_errors=True)
        with TreeCPU() as meter:
            t0 = time.perf_counter()
            lim.run(out_dir / "limit")
            sec = time.perf_counter() - t0
        return {"seconds": sec, "cpu_seconds": meter.seconds, "timers": _read_prof(s.profile_dir)}
    finally:
        lim.close()


def _stage_rows(s: V.Settings, times: dict, cpus: dict, timers: dict, limit: dict) -> list:
    """(stage, wall core-ms per image, CPU-ms per image or None) from the medians of the runs."""
    cores, n = s.cores, s.images

    def ms(sec):  # core-milliseconds per image
        return 1000 * sec * cores / n

    def cms(sec):  # CPU-milliseconds per image
        return 1000 * sec / n

    med = {k: statistics.median(v) for k, v in times.items()}
    cmed = {k: statistics.median(v) for k, v in cpus.items()}

    def diff(a, b):  # the cost of what run a does beyond run b
        return ms(med[a] - med[b]), cms(cmed[a] - cmed[b])

    return [
        (
            "Spark read + JPEG bytes over Arrow + write + scheduling (io run)",
            ms(med["io"]),
            cms(cmed["io"]),
        ),
        ("decode + preprocess (decode run - io run)", *diff("decode", "io")),
        ("model (full run - decode run)", *diff("full", "decode")),
        ("= full fused run", ms(med["full"]), cms(cmed["full"])),
        (
            "reference recipe: float32 tensors through the JVM (floats run - decode run)",
            *diff("floats", "decode"),
        ),
        ("fused, in-UDF timers: decode", 1000 * timers["decode"] / n, None),
        ("fused, in-UDF timers: model", 1000 * timers["model"] / n, None),
        ("limit: whole run", ms(limit["seconds"]), cms(limit["cpu_seconds"])),
        ("limit timers: decode", 1000 * limit["timers"]["decode"] / n, None),
        ("limit timers: model", 1000 * limit["timers"]["model"] / n, None),
    ]
