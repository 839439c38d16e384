"""The designs ``run.py`` compares. Each runs the same workload (``resnet50``) on the same
Parquet data set and writes one prediction per image (id, prediction, score) as Parquet.

=============  ===============================================================================
inprocess      the reference recipe: a pandas_udf decodes and preprocesses to float32 tensors
               (an array<float> column, 600 KB a row, back through the JVM), then an in-process
               ``predict_batch_udf`` runs the model; one task per core
fused          ``dl_helpers.udfs.image_predict_udf`` on the JPEG bytes: decode, preprocessing
               and the model in one native Arrow UDF, so no tensor crosses the JVM; one task
               per core
triton         Spark tasks (one per core) decode and preprocess; the model runs in a Triton
               server beside the executor (``dl_helpers.servers``), ``instances`` = cores
naive          the common recipe: the model broadcast with ``sc.broadcast``, a plain pandas_udf
               decodes the whole Arrow batch and runs it through the model at once
ray            Ray Data: ``read_parquet`` -> ``map_batches`` preprocessing (tasks) ->
               ``map_batches`` with a model actor pool (one actor per core)
limit          no Spark, no Ray: one process per core, each holding its share of the JPEG bytes in
               memory, decoding, preprocessing and classifying in batches
=============  ===============================================================================

Every variant: one math thread per process and one process per core (``cores``), batches of
``batch_size`` for the model, the glibc settings of the run (set by run.py in the environment
before anything starts, so Spark and Ray workers and the limit's processes inherit them).

A variant has ``start()`` (untimed: sessions, servers, actors, processes), ``run(out_dir)``
(timed by the caller: read, preprocess, infer, write) and ``close()``. ``cold()`` says whether
its next run is the first since start (Python workers, imports and the model load included).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd  # module level: pandas_udf resolves the "pd.Series" hints in globals

from benchmark.lib import resnet50 as R

ROOT = Path(__file__).resolve().parents[2]  # the repository
ALL_VARIANTS = ("inprocess", "fused", "triton", "naive", "ray", "limit")
LABELS = {
    "inprocess": "1 in-process predict_batch_udf",
    "fused": "1b in-process, decode in the UDF",
    "triton": "2 Triton (dl_helpers)",
    "naive": "3 naive broadcast pandas_udf",
    "ray": "4 Ray Data",
    "limit": "5 limit (plain Python)",
}
PRED_SCHEMA = "id string, prediction long, score float"


@dataclass
class Settings:
    data: Path  # the Parquet data set (benchmark/prepare_dataset.py)
    out: Path  # where predictions go
    cores: int = os.cpu_count() or 1
    batch_size: int = 16  # images per model call
    arrow_batch: int = 64  # spark.sql.execution.arrow.maxRecordsPerBatch
    task_images: int = 128  # images per Spark task (sets maxPartitionBytes)
    pretrained: bool = False
    backend: str = "eager"  # model runtime (dl_helpers.models); naive stays eager
    master: str | None = None  # Spark master (default local[cores])
    malloc_env: dict = field(default_factory=dict)  # the glibc settings every process gets
    profile_dir: Path | None = None  # when set, UDFs record where their time goes
    images: int = 0  # filled in by dataset_info()
    data_bytes: int = 0

    def dataset_info(self) -> None:
        import pyarrow.parquet as pq

        files = sorted(self.data.glob("*.parquet"))
        if not files:
            raise SystemExit(f"no Parquet files in {self.data} (run benchmark/prepare_dataset.py)")
        self.images = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        self.data_bytes = sum(f.stat().st_size for f in files)


# ---------------------------------------------------------------------------------------------
# Profiling hooks: per-process totals appended to profile_dir/<pid>.jsonl
# ---------------------------------------------------------------------------------------------
class _Prof:
    def __init__(self, where: str | None, tag: str):
        self.where = where
        self.tag = tag
        self.t = {"decode": 0.0, "model": 0.0, "images": 0}

    def flush(self) -> None:
        if self.where and self.t["images"]:
            os.makedirs(self.where, exist_ok=True)
            line = json.dumps({"tag": self.tag, "pid": os.getpid(), **self.t})
            with open(os.path.join(self.where, f"{os.getpid()}.jsonl"), "a") as f:
                f.write(line + "\n")
            self.t = {"decode": 0.0, "model": 0.0, "images": 0}


def _classify_jpeg(predictor, images, prof: _Prof | None):
    t0 = time.perf_counter()
    x = R.preprocess_batch(images)
    t1 = time.perf_counter()
    cls, score = predictor.predict(x)
    if prof is not None:
        prof.t["decode"] += t1 - t0
        prof.t["model"] += time.perf_counter() - t1
        prof.t["images"] += len(images)
    return cls, score


# ---------------------------------------------------------------------------------------------
# Spark
# ---------------------------------------------------------------------------------------------
class SparkRuntime:
    """One SparkSession shared by the Spark variants; restart() gives fresh Python workers."""

    def __init__(self, s: Settings):
        self.s = s
        self.spark = None

    def conf(self) -> dict:
        s = self.s
        per_image = max(1, s.data_bytes // max(1, s.images))
        return {
            "spark.sql.execution.arrow.maxRecordsPerBatch": str(s.arrow_batch),
            # Tasks of about task_images images each: enough tasks to keep every core busy
            # to the end, few enough that per-task costs stay small.
            "spark.sql.files.maxPartitionBytes": str(per_image * s.task_images),
            "spark.sql.files.openCostInBytes": "0",
            "spark.driver.memory": "4g",
            "spark.ui.enabled": "false",
            "spark.sql.parquet.enableVectorizedReader": "true",
            **{f"spark.executorEnv.{k}": v for k, v in s.malloc_env.items()},
        }

    def session(self):
        if self.spark is None:
            from dl_helpers.session import build_session

            master = self.s.master or f"local[{self.s.cores}]"
            self.spark = build_session(
                "resnet50-benchmark",
                master=master,
                conf=self.conf(),
                tune_malloc=bool(self.s.malloc_env),
            )
        return self.spark

    def restart(self) -> None:
        self.stop()
        self.session()

    def stop(self) -> None:
        if self.spark is not None:
            self.spark.stop()
            self.spark = None

    def images_df(self):
        return self.session().read.parquet(str(self.s.data))


def pred_struct():
    """The prediction column every variant writes: (prediction, score)."""
    from pyspark.sql.types import FloatType, LongType, StructField, StructType

    return StructType([StructField("prediction", LongType()), StructField("score", FloatType())])


class SparkVariant:
    name = "spark"

    def __init__(self, s: Settings, rt: SparkRuntime):
        self.s = s
        self.rt = rt
        self._runs = 0
        self._udf = None

    def start(self) -> None:
        self.rt.session()

    def cold(self) -> bool:
        return self._runs == 0

    def reset(self) -> None:
        """Forget cached UDFs (after a session restart the next run is cold again)."""
        self._runs = 0
        self._udf = None

    def predictions(self):
        raise NotImplementedError

    def run(self, out: Path) -> None:
        df = self.predictions()
        df.write.mode("overwrite").parquet(str(out))
        self._runs += 1

    def close(self) -> None:
        pass


class InProcess(SparkVariant):
    """Reference recipe: preprocessing pandas_udf -> float array column -> predict_batch_udf."""

    name = "inprocess"

    def _udfs(self):
        if self._udf is None:
            from pyspark.ml.functions import predict_batch_udf
            from pyspark.sql.functions import pandas_udf
            from pyspark.sql.types import ArrayType, FloatType

            @pandas_udf(ArrayType(FloatType()))
            def preprocess_udf(images: pd.Series) -> pd.Series:
                x = R.preprocess_batch(images.to_list())
                return pd.Series(list(x.reshape(len(x), -1)))

            pretrained, backend = self.s.pretrained, self.s.backend

            def make_predict_fn():
                predictor = R.Predictor(pretrained=pretrained, threads=1, backend=backend)

                def predict(x: np.ndarray):
                    cls, score = predictor.predict(x)
                    return {"prediction": cls, "score": score}

                return predict

            classify = predict_batch_udf(
                make_predict_fn,
                return_type=pred_struct(),
                batch_size=self.s.batch_size,
                input_tensor_shapes=[[3, R.IMAGE_SIZE, R.IMAGE_SIZE]],
            )
            self._udf = (preprocess_udf, classify)
        return self._udf

    def predictions(self):
        preprocess_udf, classify = self._udfs()
        df = self.rt.images_df()
        return (
            df.select("id", preprocess_udf("image").alias("x"))
            .select("id", classify("x").alias("p"))
            .select("id", "p.prediction", "p.score")
        )


class Fused(SparkVariant):
    """dl_helpers.udfs.image_predict_udf on the JPEG bytes: decode + preprocess + model in
    one native Arrow UDF."""

    name = "fused"

    def _udfs(self):
        if self._udf is None:
            from dl_helpers.udfs import image_predict_udf

            s = self.s
            prof_dir = str(s.profile_dir) if s.profile_dir else None

            def make_predict_fn():
                predictor = R.Predictor(pretrained=s.pretrained, threads=1, backend=s.backend)
                prof = _Prof(prof_dir, "fused") if prof_dir else None

                def predict(x: np.ndarray):
                    t0 = time.perf_counter()
                    cls, score = predictor.predict(x)
                    if prof is not None:
                        prof.t["decode"] += _FUSED_DECODE.pop("seconds", 0.0)
                        prof.t["model"] += time.perf_counter() - t0
                        prof.t["images"] += len(x)
                        prof.flush()
                    return {"prediction": cls, "score": score}

                return predict

            # mode=None: the image is only opened; preprocess_image decodes it (convert("RGB")),
            # so decoding is the same code as in every other variant, and timed with it.
            preprocess = _timed_preprocess if prof_dir else R.preprocess_image
            self._udf = image_predict_udf(
                make_predict_fn,
                return_type=pred_struct(),
                batch_size=s.batch_size,
                preprocess=preprocess,
                mode=None,
            )
        return self._udf

    def predictions(self):
        classify = self._udfs()
        return (
            self.rt.images_df()
            .select("id", classify("image").alias("p"))
            .select("id", "p.prediction", "p.score")
        )


# Decode + preprocess seconds of the fused variant in this Python worker since its last flush.
_FUSED_DECODE: dict[str, float] = {}


def _timed_preprocess(img) -> np.ndarray:
    t0 = time.perf_counter()
    x = R.preprocess_image(img)
    _FUSED_DECODE["seconds"] = _FUSED_DECODE.get("seconds", 0.0) + time.perf_counter() - t0
    return x


class Naive(SparkVariant):
    """The recipe found in blog posts: broadcast the model, run a whole Arrow batch at once."""

    name = "naive"

    def start(self) -> None:
        super().start()
        self._bc = None

    def reset(self) -> None:
        super().reset()
        self._bc = None

    def _udfs(self):
        if self._udf is None:
            from pyspark.sql.functions import pandas_udf

            model = R.build_model(self.s.pretrained)
            bc = self.rt.session().sparkContext.broadcast(model)
            self._bc = bc

            @pandas_udf("prediction long, score float")
            def classify(images: pd.Series) -> pd.DataFrame:
                import torch

                net = bc.value
                x = torch.from_numpy(R.preprocess_batch(images.to_list()))
                with torch.no_grad():
                    logits = net(x).numpy()
                cls, score = R.top1(logits)
                return pd.DataFrame({"prediction": cls, "score": score})

            self._udf = classify
        return self._udf

    def predictions(self):
        classify = self._udfs()
        return (
            self.rt.images_df()
            .select("id", classify("image").alias("p"))
            .select("id", "p.prediction", "p.score")
        )


class TritonVariant(SparkVariant):
    """Spark tasks decode and preprocess; a Triton server per executor runs the model."""

    name = "triton"

    def __init__(self, s: Settings, rt: SparkRuntime):
        super().__init__(s, rt)
        self.manager = None

    def start(self) -> None:
        if self.manager is not None:
            return
        from dl_helpers.servers import TritonServerManager

        spark = self.rt.session()
        pretrained, backend = self.s.pretrained, self.s.backend
        instances = self.s.cores
        root = str(ROOT)

        def bind_model(triton):
            import sys as _sys

            if root not in _sys.path:
                _sys.path.insert(0, root)
            import numpy as _np
            from pytriton.decorators import batch
            from pytriton.model_config import Tensor

            from benchmark.lib import resnet50 as _R

            # One math thread per model instance; `instances` copies run side by side.
            predictor = _R.Predictor(pretrained=pretrained, threads=1, backend=backend)

            @batch
            def infer(x):
                cls, score = predictor.predict(x)
                return {"prediction": cls.reshape(-1, 1), "score": score.reshape(-1, 1)}

            triton.bind(
                model_name="resnet50",
                infer_func=[infer] * instances,
                inputs=[Tensor(name="x", dtype=_np.float32, shape=(3, 224, 224))],
                outputs=[
                    Tensor(name="prediction", dtype=_np.int64, shape=(1,)),
                    Tensor(name="score", dtype=_np.float32, shape=(1,)),
                ],
            )

        self.manager = TritonServerManager(
            spark,
            bind_model,
            model_name="resnet50",
            max_batch_size=self.s.batch_size,
            instances=instances,
            server_env=dict(self.s.malloc_env),
            start_timeout_s=300,
        )
        self.manager.start()

    def reset(self) -> None:
        super().reset()
        self.close()

    def extra_pids(self) -> list[int]:
        """The Triton servers run detached from this process tree; their CPU counts too."""
        if self.manager is None:
            return []
        return [info.pid for info in self.manager.servers.values() if info.pid]

    def _udfs(self):
        if self._udf is None:
            from pyspark.ml.functions import predict_batch_udf

            from dl_helpers.servers import triton_predict_fn

            remote = triton_predict_fn(self.manager, input_names=["x"])

            def make_predict_fn():
                predict_remote = remote()

                def predict(images: np.ndarray):
                    out = predict_remote(R.preprocess_batch(list(images)))
                    return {
                        "prediction": out["prediction"].astype(np.int64),
                        "score": out["score"].astype(np.float32),
                    }

                return predict

            self._udf = predict_batch_udf(
                make_predict_fn, return_type=pred_struct(), batch_size=self.s.batch_size
            )
        return self._udf

    def predictions(self):
        classify = self._udfs()
        return (
            self.rt.images_df()
            .select("id", classify("image").alias("p"))
            .select("id", "p.prediction", "p.score")
        )

    def close(self) -> None:
        if self.manager is not None:
            try:
                self.manager.stop()
            finally:
                self.manager = None


# ---------------------------------------------------------------------------------------------
# Ray Data
# ---------------------------------------------------------------------------------------------
class RayPredictor:
    """Ray Data model actor: preprocessed float32 batches in, predictions out."""

    def __init__(self, pretrained: bool, backend: str = "eager"):
        self.predictor = R.Predictor(pretrained=pretrained, threads=1, backend=backend)

    def __call__(self, batch: dict) -> dict:
        cls, score = self.predictor.predict(batch["x"])
        return {"id": batch["id"], "prediction": cls, "score": score}


def ray_preprocess(batch: dict) -> dict:
    return {"id": batch["id"], "x": R.preprocess_batch(list(batch["image"]))}


class RayVariant:
    name = "ray"

    def __init__(self, s: Settings):
        self.s = s
        self._runs = 0
        self._started = False

    def cold(self) -> bool:
        return self._runs == 0

    def start(self) -> None:
        if self._started:
            return
        import ray

        env = {**self.s.malloc_env, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
        ray.init(
            num_cpus=self.s.cores,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            runtime_env={"env_vars": env},
        )
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        self._started = True

    def run(self, out: Path) -> None:
        import ray

        s = self.s
        cores = s.cores
        # Preprocessing tasks and model actors share the same cores. Ray's CPU counts are
        # admission tickets, not limits: with a whole CPU per actor (one per core) the read and
        # preprocessing tasks would never be scheduled and the pipeline stalls (seen here), so
        # the actors take half a CPU each and the light stages a quarter.
        light = {"num_cpus": 0.25}
        # As many blocks as Spark has tasks (task_images each), so both split the work alike.
        blocks = max(cores, -(-s.images // s.task_images))
        ds = ray.data.read_parquet(str(s.data), override_num_blocks=blocks, **light)
        ds = ds.map_batches(ray_preprocess, batch_size=s.batch_size, batch_format="numpy", **light)
        ds = ds.map_batches(
            RayPredictor,
            fn_constructor_kwargs={"pretrained": s.pretrained, "backend": s.backend},
            batch_size=s.batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=cores),
            num_cpus=0.5,
        )
        ds.write_parquet(str(out))
        self._runs += 1

    def restart(self) -> None:
        self.close()
        self._runs = 0
        self.start()

    def close(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False


# ---------------------------------------------------------------------------------------------
# The limit: plain Python, one process per core, data in memory
# ---------------------------------------------------------------------------------------------
def _limit_worker(
    conn, pretrained: bool, backend: str, batch_size: int, prof_dir: str | None
) -> None:
    predictor = None
    images: list = []
    ids: list = []
    while True:
        msg = conn.recv()
        if msg[0] == "load":  # untimed: this worker's share of the data, into memory
            import pyarrow.parquet as pq

            _, path, shard, nshards = msg
            table = pq.read_table(path, columns=["id", "image"])
            ids = table.column("id").to_pylist()[shard::nshards]
            images = table.column("image").to_pylist()[shard::nshards]
            conn.send(("loaded", len(images)))
        elif msg[0] == "run":
            if predictor is None:
                predictor = R.Predictor(pretrained=pretrained, threads=1, backend=backend)
            prof = _Prof(prof_dir, "limit") if prof_dir else None
            cls_parts, score_parts = [], []
            for i in range(0, len(images), batch_size):
                c, sc = _classify_jpeg(predictor, images[i : i + batch_size], prof)
                cls_parts.append(c)
                score_parts.append(sc)
            if prof is not None:
                prof.flush()
            conn.send(
                (
                    "done",
                    ids,
                    np.concatenate(cls_parts) if cls_parts else [],
                    np.concatenate(score_parts) if score_parts else [],
                )
            )
        elif msg[0] == "stop":
            conn.close()
            return


class LimitVariant:
    name = "limit"

    def __init__(self, s: Settings):
        self.s = s
        self.procs: list = []
        self.conns: list = []
        self._runs = 0

    def cold(self) -> bool:
        return self._runs == 0

    def start(self) -> None:
        if self.procs:
            return
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        prof = str(self.s.profile_dir) if self.s.profile_dir else None
        for _ in range(self.s.cores):
            parent, child = ctx.Pipe()
            p = ctx.Process(
                target=_limit_worker,
                args=(child, self.s.pretrained, self.s.backend, self.s.batch_size, prof),
                daemon=True,
            )
            p.start()
            self.procs.append(p)
            self.conns.append(parent)

    def prepare(self) -> None:
        """Untimed: every worker reads its share of the JPEG bytes into memory."""
        n = len(self.conns)
        for i, c in enumerate(self.conns):
            c.send(("load", str(self.s.data), i, n))
        for c in self.conns:
            assert c.recv()[0] == "loaded"

    def run(self, out: Path) -> None:
        for c in self.conns:
            c.send(("run",))
        ids, cls, score = [], [], []
        for c in self.conns:
            _, i, cl, sc = c.recv()
            ids += i
            cls.append(cl)
            score.append(sc)
        import pyarrow as pa
        import pyarrow.parquet as pq

        out.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            pa.table(
                {
                    "id": pa.array(ids, pa.string()),
                    "prediction": pa.array(np.concatenate(cls), pa.int64()),
                    "score": pa.array(np.concatenate(score), pa.float32()),
                }
            ),
            out / "part-00000.parquet",
        )
        self._runs += 1

    def restart(self) -> None:
        self.close()
        self._runs = 0
        self.start()

    def close(self) -> None:
        for c in self.conns:
            try:
                c.send(("stop",))
            except (BrokenPipeError, OSError):
                pass
        for p in self.procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
        self.procs, self.conns = [], []


def make_variants(names, s: Settings) -> tuple[dict, SparkRuntime]:
    rt = SparkRuntime(s)
    table = {
        "inprocess": lambda: InProcess(s, rt),
        "fused": lambda: Fused(s, rt),
        "naive": lambda: Naive(s, rt),
        "triton": lambda: TritonVariant(s, rt),
        "ray": lambda: RayVariant(s),
        "limit": lambda: LimitVariant(s),
    }
    return {n: table[n]() for n in names}, rt


def clear(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
