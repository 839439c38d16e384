#!/usr/bin/env python3
"""ResNet-50 batch-inference benchmark: Spark (in-process, Triton, naive), Ray Data and the limit.

Runs every chosen variant (see lib/variants.py) on the same Parquet data set and machine:

1. cold: each variant once on a fresh runtime (new SparkContext, so new Python workers; a new
   Ray runtime; new processes for the limit): worker start, imports and model load included.
   Starting the runtime itself (SparkSession, ray.init, Triton servers) is not timed; it is
   reported as "setup".
2. warm: ``--repeats`` rounds in one Spark session and one Ray runtime, variants interleaved
   (A B C, C B A, ...) after an untimed warm-up on a small slice; medians and min-max reported.

Every run reads the Parquet files, decodes, preprocesses, classifies and writes one prediction
per image; each output is checked (one row per image id) and the scores are compared across
variants (same seeded model everywhere). Results: a table on stdout, and results.json,
results.csv and results.png under --out.

Examples:
  .envs/torch/bin/python benchmark/run.py --images 200 --variants all --repeats 2
  .envs/torch/bin/python benchmark/run.py --images 1000 --repeats 3 --variants fused,ray,limit
  .envs/torch/bin/python benchmark/run.py --images 1000 --profile
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmark.lib.dataset import MANIFEST, make_dataset  # noqa: E402 (after the path is set)
from benchmark.lib.process_cpu import TreeCPU  # noqa: E402
from dl_helpers.jobs import SparkProgress  # noqa: E402
from dl_helpers.session import MALLOC_ENV  # noqa: E402


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    ap.add_argument(
        "--images",
        type=int,
        default=200,
        help="size of the offline data set to use (made if missing)",
    )
    ap.add_argument(
        "--data",
        type=Path,
        help="an existing data set from prepare_dataset.py (overrides --images)",
    )
    ap.add_argument(
        "--variants", default="all", help="comma-separated, from: all," + ",".join(_variant_names())
    )
    ap.add_argument("--repeats", type=int, default=3, help="warm rounds (0: cold runs only)")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold runs")
    ap.add_argument(
        "--no-progress",
        action="store_true",
        help="no live progress lines while a Spark variant runs (dl_helpers.jobs)",
    )
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="a correctness check, not a timing: each variant once, all in one "
        "runtime (no restarts, no warm rounds)",
    )
    ap.add_argument("--batch-size", type=int, default=16, help="images per model call")
    ap.add_argument(
        "--arrow-batch", type=int, default=64, help="spark.sql.execution.arrow.maxRecordsPerBatch"
    )
    ap.add_argument("--task-images", type=int, default=128, help="images per Spark task")
    ap.add_argument(
        "--cores",
        type=int,
        default=os.cpu_count() or 1,
        help="processes / Spark tasks / Ray actors (default: all cores)",
    )
    ap.add_argument(
        "--malloc",
        choices=["tuned", "default"],
        default="tuned",
        help="glibc allocator settings for every process (default tuned)",
    )
    ap.add_argument(
        "--pretrained",
        action="store_true",
        help="ImageNet weights (downloads them); default: seeded random weights",
    )
    ap.add_argument(
        "--backend",
        default="eager",
        choices=["eager", "onnxruntime", "torch.compile", "tensorrt"],
        help="model runtime in every variant but the naive one (which is the blog "
        "recipe as written): dl_helpers.models, checked against eager",
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="where the time of the fused Spark variant and the limit goes",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "output" / "benchmark")
    return ap.parse_args(argv)


def _variant_names():
    return ("inprocess", "fused", "triton", "naive", "ray", "limit")


def ensure_environment(args) -> None:
    """Re-exec once with the allocator settings and PYTHONPATH every child must inherit.

    glibc reads MALLOC_* at process start, so they must be in the environment before this
    process (and so Spark's JVM, Ray's raylet, the limit's workers) starts.
    """
    env = dict(os.environ)
    want = MALLOC_ENV if args.malloc == "tuned" else {}
    for k in MALLOC_ENV:
        env.pop(k, None)
    env.update(want)
    # Spark's and Ray's workers import benchmark.lib and dl_helpers from the repository.
    old = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(ROOT)]
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *old])
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    env.setdefault("RAY_DEDUP_LOGS", "0")
    env.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    keys = list(MALLOC_ENV) + ["PYTHONPATH"]
    if any(env.get(k) != os.environ.get(k) for k in keys):
        if os.environ.get("_RESNET_BENCH_REEXEC"):
            raise SystemExit("could not set the environment for the benchmark")
        env["_RESNET_BENCH_REEXEC"] = "1"
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def ensure_data(args) -> Path:
    if args.data:
        return args.data.resolve()
    path = (args.out / f"data_{args.images}").resolve()
    if not path.exists():
        say(f"making an offline data set of {args.images} images in {path}")
        make_dataset(path, synthetic=args.images, workers=os.cpu_count() or 1, progress=False)
    return path


def make_warmup_data(data: Path, out: Path, images: int, row_group: int) -> Path:
    """A small slice of the data set with small row groups (one Spark task per core or more)."""
    import pyarrow.parquet as pq

    table = pq.read_table(data, columns=["id", "image"]).slice(0, images)
    if out.exists():
        import shutil

        shutil.rmtree(out)
    out.mkdir(parents=True)
    pq.write_table(table, out / "part-00000.parquet", row_group_size=row_group, compression="none")
    (out / MANIFEST).write_text(json.dumps({"source": "warm-up slice", "images": len(table)}))
    return out


def check_output(path: Path, ids: set) -> dict:
    """One prediction per image: the output's ids are exactly the data set's, once each."""
    import pyarrow.parquet as pq

    t = pq.read_table(path).to_pandas()
    dup = int(t["id"].duplicated().sum())
    missing = len(ids - set(t["id"]))
    ok = len(t) == len(ids) and dup == 0 and missing == 0
    return {
        "rows": len(t),
        "duplicates": dup,
        "missing": missing,
        "ok": ok,
        "scores": t.set_index("id")[["prediction", "score"]].sort_index(),
    }


def median_spread(xs):
    if not xs:
        return None, None, None
    return statistics.median(xs), min(xs), max(xs)


def machine() -> dict:
    info = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_start": os.getloadavg(),
    }
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                info["mem_gib"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return info


def versions() -> dict:
    out = {}
    for mod in ("torch", "pyspark", "ray", "numpy", "pandas", "pyarrow", "PIL", "pytriton"):
        try:
            m = __import__(mod)
            out[mod] = getattr(m, "__version__", "?")
        except Exception:  # a missing optional package is just not reported
            out[mod] = None
    return out


# ---------------------------------------------------------------------------------------------
def main(argv=None) -> dict:
    args = parse_args(argv)
    ensure_environment(args)
    os.environ.setdefault("DL_HELPERS_OFFLINE", "0" if args.pretrained else "1")

    from benchmark.lib import variants as V

    names = list(V.ALL_VARIANTS) if args.variants == "all" else args.variants.split(",")
    unknown = [n for n in names if n not in V.ALL_VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; choose from {V.ALL_VARIANTS}")
    args.out.mkdir(parents=True, exist_ok=True)
    s = settings(args, ensure_data(args))
    if args.profile:
        from benchmark.lib import profile_pipeline

        return profile_pipeline.profile(s, args)

    host = machine()  # load average at the start; the end is added below
    bench = Benchmark(args, s, names)
    bench.run_all()
    summary = summarize(names, bench.runs, bench.setup, V.LABELS, args.cores)
    result = {
        "settings": {k: str(v) for k, v in vars(args).items()},
        "machine": host,
        "versions": versions(),
        "data": {"path": str(s.data), "images": s.images, "bytes": s.data_bytes},
        "summary": summary,
        "runs": bench.runs,
    }
    result["machine"]["loadavg_end"] = os.getloadavg()
    write_outputs(result, args.out)
    print_table(summary)
    return result


def settings(args, data: Path):
    """The variants' settings from the command line, with the data set's size filled in."""
    from benchmark.lib import variants as V

    s = V.Settings(
        data=data,
        out=args.out / "predictions",
        cores=args.cores,
        batch_size=args.batch_size,
        arrow_batch=args.arrow_batch,
        task_images=args.task_images,
        pretrained=args.pretrained,
        backend=args.backend,
        malloc_env=MALLOC_ENV if args.malloc == "tuned" else {},
    )
    s.dataset_info()
    return s


class Benchmark:
    """The chosen variants on one data set: their runtimes, the cold, smoke or warm runs, and
    every timed run so far (``runs``) with the untimed runtime start per variant (``setup``)."""

    def __init__(self, args, s, names: list[str]):
        import pyarrow.parquet as pq

        from benchmark.lib import variants as V

        self.args, self.s, self.names = args, s, names
        self.ids = set(pq.read_table(s.data, columns=["id"]).column("id").to_pylist())
        self.warm_data = make_warmup_data(
            s.data,
            args.out / "warmup",
            images=min(len(self.ids), 2 * args.cores * args.batch_size),
            row_group=args.batch_size,
        )
        say(
            f"data set {s.data}: {s.images} images, {s.data_bytes / 1e6:.0f} MB; variants "
            f"{names}; {args.cores} cores; malloc {args.malloc}; model runtime {args.backend}; "
            f"load {os.getloadavg()[0]:.1f}"
        )
        self.variants, self.rt = V.make_variants(names, s)
        self.spark_names = [n for n in names if isinstance(self.variants[n], V.SparkVariant)]
        self.runs: list[dict] = []
        self.setup: dict[str, float] = {}
        self.reference = None  # (name, scores) of the first correct output

    def run_all(self) -> None:
        """The runs the command line asks for; every runtime is closed at the end."""
        try:
            if self.args.smoke:
                self.args.repeats = 0
                self.smoke()
            elif not self.args.no_cold:
                self.cold_runs()
            if self.args.repeats:
                self.warm_up()
                self.warm_rounds()
        finally:
            self.close()

    def smoke(self) -> None:
        say("smoke run: each variant once, one shared runtime")
        for i, name in enumerate(self.names):
            v = self.variants[name]
            t0 = time.perf_counter()
            v.start()
            if name == "limit":
                v.prepare()
            self.setup[name] = time.perf_counter() - t0
            say(f"[{i + 1}/{len(self.names)}] {name}: ready in {self.setup[name]:.1f} s")
            self.timed(name, "cold", 0)

    def cold_runs(self) -> None:
        say("cold runs (fresh runtime per variant; runtime start is not timed)")
        for i, name in enumerate(self.names):
            t0 = time.perf_counter()
            self.fresh_runtime(name)
            self.setup[name] = time.perf_counter() - t0
            say(f"[{i + 1}/{len(self.names)}] {name}: runtime ready in {self.setup[name]:.1f} s")
            self.timed(name, "cold", 0)

    def fresh_runtime(self, name: str) -> None:
        v = self.variants[name]
        if name in self.spark_names:
            for other in self.spark_names:  # a new SparkContext: new Python workers
                self.variants[other].close()
                self.variants[other].reset()
            self.rt.restart()
            v.start()
        elif name == "limit":
            v.restart()
            v.prepare()
        else:
            v.restart()

    def warm_up(self) -> None:
        say("warm-up (untimed, a small slice) so every variant has its workers and model")
        for name in self.names:
            v = self.variants[name]
            v.start()
            if name == "limit":
                v.prepare()
                if v.cold():
                    v.run(self.s.out / name / "warmup")
            elif v.cold():
                self.warm_up_on_slice(name)

    def warm_up_on_slice(self, name: str) -> None:
        """One untimed run on the warm-up slice; Spark splits it into tasks of one batch."""
        s, rt, spark = self.s, self.rt, name in self.spark_names
        saved = s.data
        s.data = self.warm_data
        try:
            if spark:
                rt.session().conf.set(
                    "spark.sql.files.maxPartitionBytes",
                    str(max(1, s.data_bytes // s.images) * self.args.batch_size),
                )
            self.variants[name].run(s.out / name / "warmup")
        finally:
            s.data = saved
            if spark:
                rt.session().conf.set(
                    "spark.sql.files.maxPartitionBytes",
                    rt.conf()["spark.sql.files.maxPartitionBytes"],
                )

    def warm_rounds(self) -> None:
        for r in range(self.args.repeats):
            order = self.names if r % 2 == 0 else self.names[::-1]
            say(f"warm round {r + 1}/{self.args.repeats}: {' '.join(order)}")
            for name in order:
                self.timed(name, "warm", r + 1)

    def close(self) -> None:
        for v in self.variants.values():
            try:
                v.close()
            except Exception as e:  # keep closing the others; say what failed
                say(f"closing {v.name} failed: {e!r}")
        self.rt.stop()

    def timed(self, name: str, phase: str, round_: int) -> dict:
        """One timed run of a variant, its output checked; the record is added to ``runs``."""
        from benchmark.lib import variants as V

        v = self.variants[name]
        out = self.s.out / name / f"{phase}{round_}"
        V.clear(out)
        cold = v.cold()
        progress = self.progress(v, f"{name} {phase}{round_}")
        with TreeCPU(roots=getattr(v, "extra_pids", lambda: [])()) as meter, progress:
            t0 = time.perf_counter()
            v.run(out)
            sec = time.perf_counter() - t0
        chk = self.check(name, out)
        images, cpu = self.s.images, meter.seconds
        rec = {
            "variant": name,
            "phase": phase,
            "round": round_,
            "cold": cold,
            "seconds": sec,
            "images": images,
            "img_per_s": images / sec,
            "cpu_s": cpu,
            "cpu_ms_per_image": 1000 * cpu / images,
            "load1": os.getloadavg()[0],
            **chk,
        }
        self.runs.append(rec)
        say(
            f"  {phase:4s} {name:9s} {images} images in {sec:6.1f} s = "
            f"{rec['img_per_s']:5.2f} img/s, {rec['cpu_ms_per_image']:4.0f} CPU-ms/img  "
            f"(check {'ok' if chk['ok'] else 'FAILED'}, load {rec['load1']:.1f})"
        )
        if not chk["ok"]:
            raise SystemExit(f"{name} wrote a wrong output: {chk}")
        return rec

    def progress(self, v, label: str):
        """Live progress of a Spark variant's run (tasks, images/s, time left), polled every
        2 s by a driver thread, so every Spark variant carries the same small cost."""
        session = getattr(getattr(v, "rt", None), "spark", None)
        if session is None or self.args.no_progress:
            return contextlib.nullcontext()
        return SparkProgress(session, total=len(self.ids), unit="images", label=label, interval=2.0)

    def check(self, name: str, out: Path) -> dict:
        """check_output, and the scores compared with the first correct output's."""
        chk = check_output(out, self.ids)
        scores = chk.pop("scores")
        if chk["ok"] and self.reference is None:
            self.reference = (name, scores)
        if self.reference is not None and chk["ok"]:
            ref_name, ref = self.reference
            chk["max_score_diff_vs_" + ref_name] = float(
                (scores["score"] - ref["score"]).abs().max()
            )
            chk["class_agreement_vs_" + ref_name] = float(
                (scores["prediction"] == ref["prediction"]).mean()
            )
        return chk


def summarize(names, runs, setup, labels, cores) -> list[dict]:
    rows = []
    for n in names:
        cold = [r for r in runs if r["variant"] == n and r["phase"] == "cold"]
        warm = [r["img_per_s"] for r in runs if r["variant"] == n and r["phase"] == "warm"]
        med, lo, hi = median_spread(warm)
        cpu = [r["cpu_ms_per_image"] for r in runs if r["variant"] == n and r["phase"] == "warm"]
        cpu_med = statistics.median(cpu) if cpu else None
        rows.append(
            {
                "variant": n,
                "label": labels[n],
                "setup_s": setup.get(n),
                "cold_img_per_s": cold[0]["img_per_s"] if cold else None,
                "warm_img_per_s": med,
                "warm_min": lo,
                "warm_max": hi,
                "warm_runs": len(warm),
                "warm_cpu_ms_per_image": cpu_med,
                # what the variant would reach if it kept every core busy
                "cpu_bound_img_per_s": (1000 * cores / cpu_med) if cpu_med else None,
            }
        )
    limit = next(
        (r["warm_img_per_s"] or r["cold_img_per_s"] for r in rows if r["variant"] == "limit"), None
    )
    base = next(
        (r["warm_img_per_s"] or r["cold_img_per_s"] for r in rows if r["variant"] == "inprocess"),
        None,
    )
    for r in rows:
        x = r["warm_img_per_s"] or r["cold_img_per_s"]
        r["vs_limit"] = x / limit if (x and limit) else None
        r["vs_inprocess"] = x / base if (x and base) else None
    return rows


def _f(x, fmt="{:.2f}"):
    return "-" if x is None else fmt.format(x)


def print_table(rows) -> None:
    head = (
        f"{'variant':34s} {'cold img/s':>10s} {'warm img/s':>10s} {'min-max':>11s} "
        f"{'/limit':>6s} {'/var 1':>6s} {'CPU-ms/img':>10s}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        spread = f"{r['warm_min']:.2f}-{r['warm_max']:.2f}" if r["warm_runs"] else "-"
        print(
            f"{r['label']:34s} {_f(r['cold_img_per_s']):>10s} {_f(r['warm_img_per_s']):>10s} "
            f"{spread:>11s} {_f(r['vs_limit']):>6s} {_f(r['vs_inprocess']):>6s} "
            f"{_f(r['warm_cpu_ms_per_image'], '{:.0f}'):>10s}"
        )
    print(
        "(ratios use the warm medians, or the cold run when there are no warm runs; CPU-ms/img:\n"
        " CPU time of every process of the variant per image, warm median, which other users'\n"
        " load barely moves)\n"
    )


def write_outputs(result: dict, out: Path) -> None:
    (out / "results.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(result["summary"][0]))
        w.writeheader()
        w.writerows(result["summary"])
    (out / "results.md").write_text(markdown_table(result))
    try:
        chart(result, out / "results.png")
    except ImportError as e:
        say(f"no chart: {e}")
    say(f"wrote {out / 'results.json'}, results.csv, results.md, results.png")


def markdown_table(result: dict) -> str:
    """The summary as a Markdown table, ready for RESULTS.md."""
    m = result["machine"]
    lines = [
        f"{result['data']['images']} images, {m['cpus']} cores ({m.get('cpu', '?')}), load average "
        f"{m['loadavg_start'][0]:.1f} at the start and {m['loadavg_end'][0]:.1f} at the end; "
        f"warm = median of {result['settings']['repeats']} interleaved rounds; model runtime "
        f"{result['settings'].get('backend', 'eager')} (naive: eager).",
        "",
        "| variant | cold img/s | warm img/s | warm min-max | / limit | / variant 1 "
        "| CPU ms / image | img/s if CPU-bound |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["summary"]:
        spread = f"{r['warm_min']:.2f}-{r['warm_max']:.2f}" if r["warm_runs"] else "-"
        lines.append(
            f"| {r['label']} | {_f(r['cold_img_per_s'])} | {_f(r['warm_img_per_s'])} | {spread} "
            f"| {_f(r['vs_limit'])} | {_f(r['vs_inprocess'])} "
            f"| {_f(r.get('warm_cpu_ms_per_image'), '{:.0f}')} "
            f"| {_f(r.get('cpu_bound_img_per_s'))} |"
        )
    return "\n".join(lines) + "\n"


def chart(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["summary"]
    labels = [r["label"] for r in rows]
    cold = [r["cold_img_per_s"] or 0 for r in rows]
    warm = [r["warm_img_per_s"] or 0 for r in rows]
    err = [
        [(r["warm_img_per_s"] or 0) - (r["warm_min"] or 0) for r in rows],
        [(r["warm_max"] or 0) - (r["warm_img_per_s"] or 0) for r in rows],
    ]
    y = range(len(rows))
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(rows) + 2.0))
    ax.barh(
        [i + 0.2 for i in y],
        warm,
        height=0.4,
        xerr=err,
        label="warm (median, min-max)",
        color="#3b7dd8",
    )
    ax.barh([i - 0.2 for i in y], cold, height=0.4, label="cold (first run)", color="#b8c7dd")
    ax.set_yticks(list(y), labels)
    ax.invert_yaxis()
    ax.set_xlabel("images / second (higher is better)")
    m = result["machine"]
    ax.set_title(
        f"ResNet-50 batch inference, {result['data']['images']} images, "
        f"{m['cpus']} CPU cores, no GPU, model runtime "
        f"{result['settings'].get('backend', 'eager')}",
        fontsize=10,
    )
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
