"""Compiling a torch model for inference, with a dynamic batch dimension.

One entry point, :func:`compile_model`, and one question, :func:`available_backends`:

- ``"tensorrt"``: torch-tensorrt on a CUDA GPU (``requirements-gpu-torch.txt``). Never on CPU.
- ``"onnxruntime"``: export to ONNX (batch dimension left free), run with ONNX Runtime.
- ``"torch.compile"``: Inductor-generated code (needs a C++ compiler on CPU). Compiling takes
  tens of seconds per process, so it only pays off for long runs.
- ``"eager"``: the model as it is (under ``torch.inference_mode``).
- ``"auto"``: TensorRT where a GPU and torch-tensorrt are there. Elsewhere it *measures*: eager,
  ONNX Runtime and (given the time) torch.compile run the example batch in interleaved rounds
  within ``budget_s`` seconds, and the fastest whose output matches eager's within tolerance is
  kept (``min_speedup`` faster than eager at least, so noise does not pick a backend). Which
  backend wins depends on the model: on the same CPU ONNX Runtime ran a ResNet-50 much faster
  than eager torch and a small transformer slower. ``.report`` says what was measured and why
  the winner won. Measure once on the driver, with the batch size and thread count the tasks
  will use (``threads=1`` for one-core Spark tasks), and pass the chosen ``.backend`` by name
  to the executors' ``make_predict_fn``, so every Python worker does not measure again.

A backend that is unavailable (not installed, no GPU, no compiler) or fails to compile this
model falls back to the next one, with a message that says why (``strict=True`` raises
instead). After compiling, the result is checked against the eager model on the example input
(``verify=True``); a mismatch also falls back. So the returned callable always computes what
the eager model computes, and ``.backend`` / ``.fallbacks`` tell what actually runs.

The returned :class:`CompiledModel` is called like the model: torch tensors in (or numpy arrays),
torch tensors out, with the same structure as the eager output (a tensor, tuple, list or dict of
tensors). Every output must keep the batch as its first dimension. Use it inside the function a
``predict_batch_udf`` ``make_predict_fn`` returns, or inside a Triton ``infer_func``: it is built
once per Python worker / server process, like the model itself.

Which backends pay off on CPU is measured by ``benchmark/backend_speed.py`` and
``benchmark/auto_backend.py`` (figures in ``benchmark/RESULTS.md``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dl_helpers import Status

log = logging.getLogger(__name__)

TENSORRT = "tensorrt"
ONNXRUNTIME = "onnxruntime"
TORCH_COMPILE = "torch.compile"
EAGER = "eager"
AUTO = "auto"
BACKENDS = (TENSORRT, ONNXRUNTIME, TORCH_COMPILE, EAGER)

# What runs on CPU when TensorRT was asked for (and what "auto" compares the others against):
# no backend paid off across the notebooks' models (benchmark/RESULTS.md), so TensorRT's
# fallback is eager, and "auto" measures the rest on the user's model.
CPU_DEFAULT = EAGER
# Where a backend cannot be used, the next one in this order is tried.
_FALLBACK = {
    TENSORRT: (CPU_DEFAULT, EAGER),
    ONNXRUNTIME: (EAGER,),
    TORCH_COMPILE: (EAGER,),
    EAGER: (),
}


class BackendUnavailable(RuntimeError):
    """Raised with ``strict=True`` when the requested backend cannot be used."""


class AccelerationFallbackWarning(UserWarning):
    """Issued whenever compile_model uses another backend than the one asked for."""


@dataclass(frozen=True)
class BackendStatus(Status):
    """Whether a backend can run here (``ok``), why not or what will be used (``reason``)."""

    name: str = ""

    def __str__(self) -> str:
        state = "available" if self.ok else "UNAVAILABLE"
        return f"{self.name:14s} {state:12s} {self.reason}"


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _cxx_compiler() -> str | None:
    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _resolve_device(device) -> str:
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device).type


def backend_status(backend: str, device: str | None = None) -> BackendStatus:
    """Whether ``backend`` can run on ``device`` ("cpu"/"cuda"; default: CUDA if present)."""
    import torch

    dev = _resolve_device(device)
    if backend == EAGER:
        return BackendStatus(True, name=EAGER, reason=f"plain torch {torch.__version__} on {dev}")
    if backend == TENSORRT:
        if dev != "cuda":
            return BackendStatus(
                False, name=TENSORRT, reason="TensorRT needs a CUDA GPU; this runs on CPU"
            )
        if not torch.cuda.is_available():
            return BackendStatus(False, name=TENSORRT, reason="no CUDA device visible to torch")
        if not _installed("torch_tensorrt"):
            return BackendStatus(
                False,
                name=TENSORRT,
                reason="torch-tensorrt is not installed "
                "(pip install -r requirements-gpu-torch.txt)",
            )
        return BackendStatus(
            True, name=TENSORRT, reason=f"torch-tensorrt on {torch.cuda.get_device_name()}"
        )
    if backend == ONNXRUNTIME:
        missing = [m for m in ("onnx", "onnxruntime") if not _installed(m)]
        if missing:
            return BackendStatus(
                False, name=ONNXRUNTIME, reason=f"not installed: {', '.join(missing)}"
            )
        import onnxruntime as ort

        providers = ort.get_available_providers()
        if dev == "cuda" and "CUDAExecutionProvider" not in providers:
            return BackendStatus(
                False,
                name=ONNXRUNTIME,
                reason="onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu)",
            )
        return BackendStatus(
            True, name=ONNXRUNTIME, reason=f"onnxruntime {ort.__version__} ({dev})"
        )
    if backend == TORCH_COMPILE:
        if not hasattr(torch, "compile"):
            return BackendStatus(
                False, name=TORCH_COMPILE, reason="this torch has no torch.compile"
            )
        if dev == "cpu" and _cxx_compiler() is None:
            return BackendStatus(
                False,
                name=TORCH_COMPILE,
                reason="Inductor needs a C++ compiler on CPU (none on PATH)",
            )
        return BackendStatus(
            True, name=TORCH_COMPILE, reason=f"Inductor on {dev} (compiles on first use)"
        )
    raise ValueError(f"unknown backend {backend!r}: expected one of {BACKENDS + (AUTO,)}")


def available_backends(device: str | None = None) -> dict[str, BackendStatus]:
    """Every backend with whether it can run here and why not, e.g. for a notebook to print."""
    return {b: backend_status(b, device) for b in BACKENDS}


def auto_backend(device: str | None = None) -> str:
    """What ``backend="auto"`` means on ``device``."""
    dev = _resolve_device(device)
    if dev == "cuda" and backend_status(TENSORRT, dev).ok:
        return TENSORRT
    return CPU_DEFAULT if backend_status(CPU_DEFAULT, dev).ok else EAGER


# ---------------------------------------------------------------------------------------------
# The compiled model


@dataclass
class CompiledModel:
    """A model compiled by :func:`compile_model`; call it like the model."""

    fn: Callable[..., Any]
    backend: str  # what runs
    requested: str  # what was asked for
    device: str
    fallbacks: list[str] = field(default_factory=list)  # one message per backend given up
    compile_seconds: float = 0.0
    max_abs_diff: float | None = None  # versus eager on the example input (verify=True)
    input_dtypes: tuple = ()  # torch dtypes of the example inputs
    report: str = ""  # backend="auto": what was measured, and why this backend
    timings: dict = field(default_factory=dict)  # backend="auto": seconds per example batch

    def __call__(self, *inputs):
        import numpy as np

        # numpy arrays (what predict_batch_udf hands over) take the example's dtype, so a
        # float64 column feeds a float32 model.
        cast = []
        for i, x in enumerate(inputs):
            if isinstance(x, np.ndarray) and i < len(self.input_dtypes):
                x = _to_tensor(x, "cpu").to(self.input_dtypes[i])
            cast.append(x)
        return self.fn(*cast)

    def describe(self) -> str:
        s = f"{self.backend} on {self.device} (asked: {self.requested}"
        s += f"; compiled in {self.compile_seconds:.1f} s"
        if self.max_abs_diff is not None:
            s += f"; max |diff| vs eager {self.max_abs_diff:.2e}"
        return s + ")"

    def __repr__(self) -> str:
        return f"CompiledModel({self.describe()})"


def _as_tuple(example_input) -> tuple:
    return tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)


def _to_tensor(x, device):
    import numpy as np
    import torch

    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    return x.to(device) if isinstance(x, torch.Tensor) else x


def _grow_batch(inputs: tuple, n: int) -> tuple:
    """The example input repeated along dim 0 to ``n`` rows (exporters/compilers see a batch > 1,
    so they do not specialise the batch dimension to 1)."""
    import torch

    out = []
    for x in inputs:
        reps = -(-n // x.shape[0])
        # clone: a slice is a view, and Dynamo guards on views' bases (a later non-view input
        # would recompile)
        out.append((torch.cat([x] * reps) if reps > 1 else x)[:n].clone())
    return tuple(out)


def _max_abs_diff(a, b) -> float:
    import torch
    from torch.utils._pytree import tree_flatten

    fa, sa = tree_flatten(a)
    fb, sb = tree_flatten(b)
    if sa != sb or len(fa) != len(fb):
        return float("inf")
    worst = 0.0
    for x, y in zip(fa, fb):
        if not isinstance(x, torch.Tensor):
            continue
        if x.shape != y.shape:
            return float("inf")
        if x.numel():
            worst = max(worst, (x.float() - y.float().to(x.device)).abs().max().item())
    return worst


def _eager(model, inputs, device, **_) -> Callable:
    import torch

    def run(*xs):
        with torch.inference_mode():
            return model(*(_to_tensor(x, device) for x in xs))

    return run


def _export_onnx(model, inputs, path, dynamic_dims, opset):
    """Export with the batch (and any ``dynamic_dims``) left free in the ONNX graph."""
    import torch

    in_names = [f"input_{i}" for i in range(len(inputs))]
    with torch.inference_mode():
        sample = model(*inputs)
    from torch.utils._pytree import tree_flatten

    flat_out, spec = tree_flatten(sample)
    out_names = [f"output_{i}" for i in range(len(flat_out))]
    axes = {}
    for i, name in enumerate(in_names):
        dims = {0: "batch"}
        for d in (dynamic_dims or {}).get(i, ()):
            dims[d] = f"{name}_dim{d}"
        axes[name] = dims
    for name in out_names:
        axes[name] = {0: "batch"}
    with warnings.catch_warnings():
        # torch >= 2.9 calls the TorchScript-based exporter "legacy"; it needs no onnxscript and
        # handles the small models here; the torch.export-based one is tried when it is missing.
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                model,
                inputs,
                path,
                dynamo=False,
                input_names=in_names,
                output_names=out_names,
                dynamic_axes=axes,
                opset_version=opset,
                do_constant_folding=True,
            )
        except TypeError:  # a torch without the legacy exporter
            torch.onnx.export(
                model,
                inputs,
                path,
                input_names=in_names,
                output_names=out_names,
                dynamic_axes=axes,
                opset_version=opset,
            )
    return in_names, out_names, spec


def _onnxruntime(
    model, inputs, device, dynamic_dims=None, onnx_path=None, threads=None, opset=17, **_
) -> Callable:
    import numpy as np
    import onnxruntime as ort
    import torch
    from torch.utils._pytree import tree_unflatten

    with tempfile.TemporaryDirectory(prefix="dl_helpers_onnx_") as tmp:
        path = os.fspath(onnx_path) if onnx_path else os.path.join(tmp, "model.onnx")
        in_names, out_names, spec = _export_onnx(model, inputs, path, dynamic_dims, opset)
        opts = ort.SessionOptions()
        # One Spark task = one core (Spark sets OMP_NUM_THREADS = spark.task.cpus, and torch
        # follows it): ONNX Runtime would otherwise start a thread per core in every task.
        opts.intra_op_num_threads = int(threads or torch.get_num_threads())
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            providers.insert(0, "CUDAExecutionProvider")
        sess = ort.InferenceSession(path, opts, providers=providers)  # reads the file now

    def run(*xs):
        feed = {}
        for name, x in zip(in_names, xs):
            if isinstance(x, torch.Tensor):
                x = x.detach().cpu().numpy()
            feed[name] = np.ascontiguousarray(x)
        outs = sess.run(out_names, feed)
        tensors = [torch.from_numpy(o) for o in outs]
        if device == "cuda":
            tensors = [t.to(device) for t in tensors]
        return tree_unflatten(tensors, spec)

    return run


def _torch_compile(model, inputs, device, dynamic_batch=True, mode=None, **_) -> Callable:
    import torch
    from torch.utils._pytree import tree_map

    compiled = torch.compile(model, dynamic=dynamic_batch or None, mode=mode)

    def plain(x):
        # Dynamo guards on a tensor's dispatch keys: an "inference tensor" (made under
        # torch.inference_mode) and a normal one would each need their own compilation. Always
        # hand it normal tensors (a cheap copy of the input where needed), under no_grad.
        x = _to_tensor(x, device)
        if isinstance(x, torch.Tensor) and x.is_inference():
            with torch.inference_mode(False):
                x = x.clone()
        return x

    def call(xs):
        with torch.inference_mode(False), torch.no_grad():
            return compiled(*xs)

    # Compile now (not in the first Spark batch), on a batch > 1 so the batch stays symbolic.
    with torch.inference_mode(False), torch.no_grad():
        call(_grow_batch(tuple(plain(x) for x in inputs), max(2, inputs[0].shape[0])))

    def run(*xs):
        xs = tuple(plain(x) for x in xs)
        if dynamic_batch and xs[0].shape[0] == 1:
            # Dynamo specialises size-1 dimensions: a batch of one would trigger a second
            # compilation (tens of seconds). Run it as a batch of two and keep the first row.
            with torch.inference_mode(False), torch.no_grad():
                out = call(tuple(torch.cat([x, x]) for x in xs))
            return tree_map(lambda t: t[:1] if isinstance(t, torch.Tensor) else t, out)
        return call(xs)

    return run


def _tensorrt(
    model,
    inputs,
    device,
    dynamic_batch=True,
    max_batch=1024,
    opt_batch=None,
    precision=None,
    **_,
) -> Callable:
    import torch
    import torch_tensorrt

    specs = []
    for x in inputs:
        shape = list(x.shape)
        if dynamic_batch:
            opt = opt_batch or min(max_batch, max(shape[0], 64))
            specs.append(
                torch_tensorrt.Input(
                    min_shape=[1] + shape[1:],
                    opt_shape=[opt] + shape[1:],
                    max_shape=[max_batch] + shape[1:],
                    dtype=x.dtype,
                )
            )
        else:
            specs.append(torch_tensorrt.Input(shape=shape, dtype=x.dtype))
    precisions = {precision or torch.float32}
    trt = torch_tensorrt.compile(model, ir="dynamo", inputs=specs, enabled_precisions=precisions)

    def run(*xs):
        with torch.inference_mode():
            return trt(*(_to_tensor(x, device) for x in xs))

    return run


_BUILDERS = {
    EAGER: _eager,
    ONNXRUNTIME: _onnxruntime,
    TORCH_COMPILE: _torch_compile,
    TENSORRT: _tensorrt,
}


# backend="auto" off TensorRT: how long measuring may take, and torch.compile's place in it.
# Inductor compiles for tens of seconds to minutes per process (and again in every Spark Python
# worker), so it is measured only when the budget leaves at least this much for it.
AUTO_BUDGET_S = 30.0
TORCH_COMPILE_MIN_BUDGET_S = 120.0
AUTO_MIN_SPEEDUP = 1.05
_AUTO_MAX_ROUNDS = 7


def compile_model(
    model,
    example_input,
    backend: str = AUTO,
    dynamic_batch: bool = True,
    *,
    dynamic_dims: Mapping[int, Sequence[int]] | None = None,
    device: str | None = None,
    strict: bool = False,
    verify: bool = True,
    rtol: float = 1e-3,
    atol: float = 1e-4,
    quiet: bool = False,
    budget_s: float = AUTO_BUDGET_S,
    min_speedup: float = AUTO_MIN_SPEEDUP,
    **options,
) -> CompiledModel:
    """Compile ``model`` for inference; return a :class:`CompiledModel` (call it like the model).

    model: a torch ``nn.Module`` (put in eval mode here).
    example_input: a tensor, or a tuple of tensors for a model with several inputs, with the
        batch as dimension 0 (any batch size, also 1). For "auto", a batch like the real ones:
        it is what the backends are timed on.
    backend: "auto", "tensorrt", "onnxruntime", "torch.compile" or "eager".
    dynamic_batch: accept any batch size (True) or only the example's (False, TensorRT only).
    dynamic_dims: more free dimensions per input index, e.g. ``{0: [1], 1: [1]}`` for token ids
        and attention mask padded per batch to different lengths (ONNX Runtime; TensorRT and
        torch.compile handle them from the traced shapes).
    device: "cpu" or "cuda"; default: where the model's parameters are.
    strict: raise :class:`BackendUnavailable` if the requested backend (for "auto" on a GPU:
        TensorRT) cannot be used, instead of falling back.
    verify: compare with eager on the example input; beyond ``atol + rtol*|eager|`` fall back.
    quiet: print nothing (fallback messages, the "auto" report); they are kept on the result.
    budget_s, min_speedup: "auto" without TensorRT: seconds to spend measuring (compiling
        included; torch.compile is left out below ``TORCH_COMPILE_MIN_BUDGET_S``), and how much
        faster than eager a backend must be to be chosen.
    options: per backend: ``onnx_path``, ``threads``, ``opset`` (onnxruntime); ``mode``
        (torch.compile); ``max_batch``, ``opt_batch``, ``precision`` (tensorrt). ``threads``
        also sets torch's thread count while "auto" measures.
    """
    import torch

    if backend != AUTO and backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: expected one of {(AUTO,) + BACKENDS}")
    model = model.eval()
    if device is None:
        param = next(iter(model.parameters()), None)
        device = param.device.type if param is not None else "cpu"
    device = _resolve_device(device)
    inputs = tuple(_to_tensor(x, device) for x in _as_tuple(example_input))

    reference = None
    if verify or backend == AUTO:
        with torch.inference_mode():
            reference = model(*inputs)

    def build(name: str):
        """(function, max |diff| vs eager or None, seconds): raises if unusable or wrong."""
        t0 = time.perf_counter()
        fn = _BUILDERS[name](
            model, inputs, device, dynamic_batch=dynamic_batch, dynamic_dims=dynamic_dims, **options
        )
        diff = None
        if verify or backend == AUTO:
            out = fn(*inputs)
            diff = _max_abs_diff(reference, out)
            scale = _max_abs(reference)
            if not diff <= atol + rtol * scale:
                raise ValueError(
                    f"output differs from eager by {diff:.3g} (allowed {atol} + "
                    f"{rtol} x {scale:.3g})"
                )
        return fn, diff, time.perf_counter() - t0

    dtypes = tuple(x.dtype for x in inputs)
    if backend == AUTO and not (device == "cuda" and _installed("torch_tensorrt")):
        return _auto(
            build, inputs, device, dtypes, budget_s, min_speedup, options.get("threads"), quiet
        )

    requested = backend
    if backend == AUTO:  # on a GPU with torch-tensorrt: TensorRT, falling back as if named
        first = TENSORRT
    else:
        first = backend
    candidates = list(dict.fromkeys([first, *_FALLBACK[first], EAGER]))  # in order, no repeats
    fallbacks: list[str] = []

    def give_up(name: str, why: str):
        msg = f"compile_model: backend {name!r} not used: {why}"
        if strict and name == first:
            raise BackendUnavailable(msg)
        fallbacks.append(msg)
        if not quiet:
            print(msg, file=sys.stderr, flush=True)
        warnings.warn(msg, AccelerationFallbackWarning, stacklevel=3)

    for name in candidates:
        status = backend_status(name, device)
        if not status.ok:
            give_up(name, status.reason)
            continue
        try:
            fn, diff, seconds = build(name)
        except Exception as e:  # noqa: BLE001 - any compiler failure means: use the next one
            if name == EAGER:
                raise
            give_up(name, _first_line(e))
            continue
        result = CompiledModel(fn, name, requested, device, fallbacks, seconds, diff, dtypes)
        log.info("compile_model: %s", result.describe())
        return result
    raise AssertionError("unreachable: eager always works")  # pragma: no cover


def _first_line(e: Exception) -> str:
    return f"{type(e).__name__}: {e}".splitlines()[0][:300]


def _auto(build, inputs, device, dtypes, budget_s, min_speedup, threads, quiet) -> CompiledModel:
    """backend="auto" without TensorRT: time every usable backend on the example batch, keep the
    fastest that matches eager (and beats it by ``min_speedup``), and write down why."""
    import torch

    t_start = time.perf_counter()
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        built: dict[str, tuple] = {}
        notes: dict[str, str] = {}
        for name in (EAGER, ONNXRUNTIME, TORCH_COMPILE):
            status = backend_status(name, device)
            left = budget_s - (time.perf_counter() - t_start)
            if not status.ok:
                notes[name] = f"not measured: {status.reason}"
            elif name == TORCH_COMPILE and left < TORCH_COMPILE_MIN_BUDGET_S:
                notes[name] = (
                    f"not measured: compiling takes tens of seconds or more per "
                    f"process; {left:.0f} s of the {budget_s:.0f} s budget left, "
                    f"{TORCH_COMPILE_MIN_BUDGET_S:.0f} s needed (budget_s=...)"
                )
            elif name != EAGER and left <= 0:
                notes[name] = f"not measured: the {budget_s:.0f} s budget is spent"
            else:
                try:
                    built[name] = build(name)
                except Exception as e:  # noqa: BLE001 - a backend that fails is not chosen
                    if name == EAGER:
                        raise
                    notes[name] = f"not used: {_first_line(e)}"
        times = _time_interleaved(
            {k: v[0] for k, v in built.items()}, inputs, budget_s - (time.perf_counter() - t_start)
        )
    finally:
        torch.set_num_threads(old_threads)

    per_batch = {k: statistics.median(v) for k, v in times.items()}
    eager_t = per_batch[EAGER]
    best = min(per_batch, key=per_batch.get)
    speedup = eager_t / per_batch[best]
    if best != EAGER and speedup < min_speedup:
        why = f"{best} was {speedup:.2f}x eager, under the {min_speedup:.2f}x needed to leave eager"
        best = EAGER
    elif best == EAGER:
        why = "nothing ran faster than eager"
    else:
        why = f"fastest, {speedup:.2f}x eager, output within tolerance of eager's"
    n = inputs[0].shape[0]
    lines = [
        f"compile_model(backend='auto') on {device}, example batch {n}, "
        f"{int(threads or torch.get_num_threads())} thread(s), "
        f"{sum(len(v) for v in times.values())} timed calls in "
        f"{time.perf_counter() - t_start:.1f} s:"
    ]
    for name in (EAGER, ONNXRUNTIME, TORCH_COMPILE):
        if name in per_batch:
            t = per_batch[name]
            diff = built[name][1]
            lines.append(
                f"  {name:14s} {t * 1e3:10.2f} ms/batch  {n / t:10.1f} rows/s  "
                f"{eager_t / t:5.2f}x eager  max |diff| {diff:.1e}  "
                f"built in {built[name][2]:.1f} s  ({len(times[name])} runs)"
            )
        else:
            lines.append(f"  {name:14s} {notes[name]}")
    lines.append(f"chose {best}: {why}")
    report = "\n".join(lines)
    if not quiet:
        print(report, flush=True)
    fn, diff, seconds = built[best]
    result = CompiledModel(
        fn,
        best,
        AUTO,
        device,
        [],
        seconds,
        diff,
        dtypes,
        report,
        {k: list(v) for k, v in times.items()},
    )
    log.info("compile_model: %s", result.describe())
    return result


def _time_interleaved(fns: dict, inputs: tuple, budget_s: float) -> dict[str, list[float]]:
    """Seconds per call of each function on ``inputs``, in rounds (A B C, C B A, ...), as many
    as fit in ``budget_s`` (at least one, at most ``_AUTO_MAX_ROUNDS``)."""
    import torch

    names = list(fns)
    times: dict[str, list[float]] = {k: [] for k in names}
    t_start = time.perf_counter()
    with torch.inference_mode():
        for r in range(_AUTO_MAX_ROUNDS):
            for name in names if r % 2 == 0 else names[::-1]:
                t0 = time.perf_counter()
                fns[name](*inputs)
                times[name].append(time.perf_counter() - t0)
            spent = time.perf_counter() - t_start
            if spent + spent / (r + 1) > budget_s:  # the next round would not fit
                break
    return times


def _max_abs(tree) -> float:
    import torch
    from torch.utils._pytree import tree_flatten

    flat, _ = tree_flatten(tree)
    vals = [t.float().abs().max().item() for t in flat if isinstance(t, torch.Tensor) and t.numel()]
    return max(vals, default=0.0)
