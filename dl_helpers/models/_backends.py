"""The backends :func:`compile_model` can use: their names, whether each can run here, and one
builder per backend that turns a torch model into a function of torch tensors.

Usage::

    from dl_helpers.models import available_backends

    for status in available_backends().values():
        print(status)   # "onnxruntime    available    onnxruntime 1.x (cpu)"
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from dl_helpers import Status

TENSORRT = "tensorrt"
ONNXRUNTIME = "onnxruntime"
TORCH_COMPILE = "torch.compile"
EAGER = "eager"
AUTO = "auto"
BACKENDS = (TENSORRT, ONNXRUNTIME, TORCH_COMPILE, EAGER)


class BackendUnavailable(RuntimeError):
    """Raised with ``strict=True`` when the requested backend cannot be used."""


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


def resolve_device(device) -> str:
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device).type


def backend_status(backend: str, device: str | None = None) -> BackendStatus:
    """Whether ``backend`` can run on ``device`` ("cpu"/"cuda"; default: CUDA if present)."""
    import torch

    dev = resolve_device(device)
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


def to_tensor(x, device):
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


def _max_abs(tree) -> float:
    import torch
    from torch.utils._pytree import tree_flatten

    flat, _ = tree_flatten(tree)
    vals = [t.float().abs().max().item() for t in flat if isinstance(t, torch.Tensor) and t.numel()]
    return max(vals, default=0.0)


def _eager(model, inputs, device, **_) -> Callable:
    import torch

    def run(*xs):
        with torch.inference_mode():
            return model(*(to_tensor(x, device) for x in xs))

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
        x = to_tensor(x, device)
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
            return trt(*(to_tensor(x, device) for x in xs))

    return run


_BUILDERS = {
    EAGER: _eager,
    ONNXRUNTIME: _onnxruntime,
    TORCH_COMPILE: _torch_compile,
    TENSORRT: _tensorrt,
}


@dataclass(frozen=True)
class Built:
    """One backend built for one model: the function, its max |diff| versus eager on the example
    input (None when not compared), and the seconds building (and comparing) took."""

    fn: Callable
    max_abs_diff: float | None
    seconds: float


def build(
    name: str, model, inputs: tuple, device: str, reference=None, rtol=1e-3, atol=1e-4, **options
) -> Built:
    """Build backend ``name``; raises if it fails, or, given the eager ``reference`` output on
    ``inputs``, if its output differs beyond ``atol + rtol * max|reference|``."""
    t0 = time.perf_counter()
    fn = _BUILDERS[name](model, inputs, device, **options)
    diff = None
    if reference is not None:
        diff = _max_abs_diff(reference, fn(*inputs))
        scale = _max_abs(reference)
        if not diff <= atol + rtol * scale:
            raise ValueError(
                f"output differs from eager by {diff:.3g} (allowed {atol} + {rtol} x {scale:.3g})"
            )
    return Built(fn, diff, time.perf_counter() - t0)


def first_line(e: Exception) -> str:
    """An exception in one line, for a fallback message or the "auto" report."""
    return f"{type(e).__name__}: {e}".splitlines()[0][:300]
