#!/usr/bin/env python3
"""ResNet-50 model throughput per backend (eager, torch.compile, ONNX Runtime, TensorRT).

The model alone, without Spark, decoding or I/O: how many images per second the forward pass
of ``benchmark/lib/resnet50.py``'s model takes on this machine, compiled by each backend of
``dl_helpers.models.compile_model``. It answers "how fast can the model go here?" for the
variants of ``run.py`` (which all run eager torch on the CPU) and gives the GPU figures when the
machine has one.

- device: CUDA when torch sees a GPU, else the CPU (``--device`` to choose). On the CPU each
  backend gets ``--threads`` math threads (1 by default: one Spark task per core), like the
  benchmark's variants.
- backends: every one asked for is tried; one that cannot run here (TensorRT without a GPU or
  without torch-tensorrt, ONNX Runtime on CUDA without onnxruntime-gpu, torch.compile without a
  C++ compiler) is listed with the reason and skipped, never silently replaced by another.
- precision: fp32, or fp16 (CUDA only: the model and its input in half precision for every
  backend).
- each compiled model is checked against eager on a batch (``max |diff|`` in the table);
  timings are interleaved (backend A, B, C, then C, B, A, ...) for ``--rounds`` rounds of at
  least ``--seconds`` each, after warm-up calls, so a drift of the machine hits all alike; the
  table gives the median img/s, the min-max, and the median of the per-round ratios to eager.
- the input batch stays on the device (model throughput). ``--from-host`` copies it from
  host memory in every call instead, as a Spark task or a Triton server must (GPU only).

  .envs/torch/bin/python benchmark/model_throughput.py                      # CPU here
  python benchmark/model_throughput.py --batch-sizes 32 128 --precision fp16  # on a GPU

Needs only torch and numpy (plus onnx/onnxruntime, torch-tensorrt for those backends), so it
runs in the torch environment and on a GPU machine that has no Spark or Java.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

DEFAULT_BACKENDS = ("eager", "torch.compile", "onnxruntime", "tensorrt")


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument(
        "--backends", nargs="+", default=list(DEFAULT_BACKENDS), choices=list(DEFAULT_BACKENDS)
    )
    ap.add_argument(
        "--batch-sizes",
        nargs="+",
        type=int,
        default=None,
        help="default: 16 on CPU (run.py's batch), 32 and 128 on CUDA",
    )
    ap.add_argument("--threads", type=int, default=1, help="CPU math threads (default 1)")
    ap.add_argument("--precision", choices=["fp32", "fp16"], default="fp32")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0, help="per measurement (at least)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed calls before each measurement")
    ap.add_argument(
        "--from-host",
        action="store_true",
        help="copy the input from host memory in every call (CUDA)",
    )
    ap.add_argument(
        "--pretrained",
        action="store_true",
        help="ImageNet weights (downloads them); default: seeded random weights",
    )
    ap.add_argument("--out", type=Path, default=Path("output/benchmark/model_throughput.json"))
    a = ap.parse_args(argv)
    if a.rounds < 1 or a.seconds <= 0 or a.threads < 1 or a.warmup < 0:
        ap.error("--rounds and --threads must be >= 1, --seconds > 0, --warmup >= 0")
    if a.batch_sizes is not None and min(a.batch_sizes) < 1:
        ap.error(f"--batch-sizes must be >= 1, got {a.batch_sizes}")
    return a


def resolve_device(requested: str) -> str:
    import torch

    if requested == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            "--device cuda: torch sees no CUDA GPU here "
            f"(torch {torch.__version__}); use --device cpu"
        )
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def measure(fn, x, device: str, seconds: float, warmup: int, from_host: bool) -> float:
    """img/s of ``fn`` on batch ``x``, over at least ``seconds`` and at least 3 calls."""

    def call():
        return fn(x.to(device, non_blocking=True) if from_host else x)

    for _ in range(warmup):
        call()
    _sync(device)
    n = 0
    t0 = time.perf_counter()
    while True:
        call()
        n += 1
        if n >= 3:
            _sync(device)
            elapsed = time.perf_counter() - t0
            if elapsed >= seconds:
                return n * x.shape[0] / elapsed


def main(argv=None) -> int:
    a = parse_args(argv)
    import numpy as np
    import torch

    from benchmark.lib import resnet50 as R
    from dl_helpers.models import BackendUnavailable, backend_status, compile_model

    device = resolve_device(a.device)
    if a.precision == "fp16" and device != "cuda":
        raise SystemExit(
            "--precision fp16 needs a CUDA GPU (half-precision convolutions on "
            "the CPU are slower than fp32, not a figure worth taking)"
        )
    if a.from_host and device != "cuda":
        raise SystemExit(
            "--from-host only means something on CUDA (on the CPU the input is "
            "always in host memory)"
        )
    if device == "cpu":
        torch.set_num_threads(a.threads)
        where = f"CPU, {a.threads} thread(s) ({os.cpu_count()} cores here)"
    else:
        where = f"CUDA: {torch.cuda.get_device_name()}"
    if device == "cpu" and a.device == "auto":
        print(
            "no CUDA GPU visible to torch: CPU figures only (TensorRT will be skipped)", flush=True
        )
    batch_sizes = a.batch_sizes or ([16] if device == "cpu" else [32, 128])
    dtype = torch.float16 if a.precision == "fp16" else torch.float32
    print(
        f"ResNet-50 on {where}, {a.precision}, batches {batch_sizes}, "
        f"{'random' if not a.pretrained else 'ImageNet'} weights",
        flush=True,
    )

    model = R.build_model(pretrained=a.pretrained).to(device=device, dtype=dtype)
    gen = torch.Generator().manual_seed(0)
    host = {
        b: torch.randn(b, 3, R.IMAGE_SIZE, R.IMAGE_SIZE, generator=gen).to(dtype)
        for b in batch_sizes
    }
    inputs = {b: (host[b].pin_memory() if a.from_host else host[b].to(device)) for b in batch_sizes}
    tol = {"rtol": 1e-2, "atol": 1e-2} if a.precision == "fp16" else {"rtol": 1e-3, "atol": 1e-3}

    compiled, rows = {}, []
    for name in a.backends:
        status = backend_status(name, device)
        row = {"backend": name, "available": status.ok, "why": status.reason}
        rows.append(row)
        if not status.ok:
            print(f"  {name}: skipped: {status.reason}", flush=True)
            continue
        opts = {}
        if name == "tensorrt":
            opts = {
                "max_batch": max(batch_sizes),
                "opt_batch": max(batch_sizes),
                "precision": dtype,
            }
        elif name == "onnxruntime":
            opts = {"threads": a.threads}
        example = inputs[batch_sizes[0]].to(device)
        print(f"  {name}: compiling ...", flush=True)
        try:
            cm = compile_model(
                model, example, backend=name, strict=True, quiet=True, device=device, **tol, **opts
            )
        except BackendUnavailable as e:
            row.update(available=False, why=str(e))
            print(f"  {name}: skipped: {e}", flush=True)
            continue
        if cm.backend != name:  # verification failed: compile_model fell back
            row.update(available=False, why="; ".join(cm.fallbacks) or "fell back")
            print(f"  {name}: not used: {row['why']}", flush=True)
            continue
        row.update(
            compile_s=round(cm.compile_seconds, 1),
            max_abs_diff=cm.max_abs_diff,
            runs={b: [] for b in batch_sizes},
        )
        compiled[name] = cm
        print(f"  {name}: {cm.describe()}", flush=True)
    if not compiled:
        raise SystemExit("no backend could run here (see the reasons above)")

    order = list(compiled)
    with torch.inference_mode(False), torch.no_grad():
        for r in range(a.rounds):
            names = order if r % 2 == 0 else order[::-1]
            for name in names:
                for b in batch_sizes:
                    ips = measure(
                        compiled[name], inputs[b], device, a.seconds, a.warmup, a.from_host
                    )
                    next(x for x in rows if x["backend"] == name)["runs"][b].append(ips)
                    print(
                        f"  round {r + 1}/{a.rounds} {name:<14} batch {b:>4}: {ips:9.1f} img/s",
                        flush=True,
                    )

    eager = next((x for x in rows if x["backend"] == "eager" and "runs" in x), None)
    lines = [
        f"| backend | batch | img/s (median of {a.rounds}) | min-max | / eager "
        "| compile s | max abs diff vs eager |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        if "runs" not in row:
            lines.append(f"| {row['backend']} | | not available: {row['why']} | | | | |")
            continue
        row["img_per_s"] = {}
        for b, runs in row["runs"].items():
            med = statistics.median(runs)
            row["img_per_s"][b] = med
            ratio = ""
            if eager is not None:
                ratio = f"{statistics.median(x / e for x, e in zip(runs, eager['runs'][b])):.2f}"
            diff = row.get("max_abs_diff")
            lines.append(
                f"| {row['backend']} | {b} | {med:.1f} | {min(runs):.1f}-{max(runs):.1f} "
                f"| {ratio} | {row['compile_s']} | "
                f"{'' if diff is None else f'{diff:.1e}'} |"
            )
    table = "\n".join(lines)
    print()
    print(
        f"ResNet-50 model throughput, {where}, {a.precision}"
        f"{', input copied from host each call' if a.from_host else ''}:"
    )
    print(table)

    a.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "device": device,
        "where": where,
        "precision": a.precision,
        "from_host": a.from_host,
        "batch_sizes": batch_sizes,
        "rounds": a.rounds,
        "seconds": a.seconds,
        "threads": a.threads if device == "cpu" else None,
        "versions": {
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "loadavg": os.getloadavg(),
        "backends": rows,
        "table_md": table,
    }
    a.out.write_text(json.dumps(result, indent=1, default=str))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
