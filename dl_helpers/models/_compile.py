"""Compiling a torch model for inference with a dynamic batch dimension: :func:`compile_model`
returns a :class:`CompiledModel` that computes what the eager model computes, on the backend
asked for (``"auto"``: TensorRT on a GPU, elsewhere the fastest measured) or eager where that
one cannot be used.

Usage (build it once per Python worker, inside ``make_predict_fn``)::

    from dl_helpers.models import compile_model

    fast = compile_model(model, example_batch, backend="auto", threads=1)
    fast.backend, fast.report          # what runs, and what "auto" measured
    outputs = fast(numpy_or_torch_batch)
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dl_helpers.models._auto import AUTO_BUDGET_S, AUTO_MIN_SPEEDUP, choose_backend
from dl_helpers.models._backends import (
    AUTO,
    BACKENDS,
    EAGER,
    TENSORRT,
    BackendUnavailable,
    Built,
    backend_status,
    build,
    first_line,
    resolve_device,
    to_tensor,
)

log = logging.getLogger(__name__)


class AccelerationFallbackWarning(UserWarning):
    """Issued whenever compile_model uses another backend than the one asked for."""


@dataclass
class CompiledModel:
    """A model compiled by :func:`compile_model`; call it like the model.

    Torch tensors or numpy arrays in, torch tensors out, in the structure of the eager output
    (a tensor, tuple, list or dict of tensors), each with the batch as dimension 0.
    """

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
                x = to_tensor(x, "cpu").to(self.input_dtypes[i])
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
        TensorRT) cannot be used, instead of falling back to eager.
    verify: compare with eager on the example input; beyond ``atol + rtol*|eager|`` fall back.
    quiet: print nothing (fallback messages, the "auto" report); they are kept on the result.
    budget_s, min_speedup: "auto" without TensorRT: seconds to spend measuring (compiling
        included; torch.compile is left out below ``TORCH_COMPILE_MIN_BUDGET_S``), and how much
        faster than eager a backend must be to be chosen.
    options: per backend: ``onnx_path``, ``threads``, ``opset`` (onnxruntime); ``mode``
        (torch.compile); ``max_batch``, ``opt_batch``, ``precision`` (tensorrt). ``threads``
        also sets torch's thread count while "auto" measures.
    """
    if backend != AUTO and backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: expected one of {(AUTO,) + BACKENDS}")
    model = model.eval()
    device = _model_device(model, device)
    inputs = tuple(to_tensor(x, device) for x in _as_tuple(example_input))
    dtypes = tuple(x.dtype for x in inputs)
    measure = backend == AUTO and not backend_status(TENSORRT, device).ok
    reference = _eager_output(model, inputs) if verify or measure else None
    options.update(dynamic_batch=dynamic_batch, dynamic_dims=dynamic_dims)

    def build_one(name: str) -> Built:
        return build(name, model, inputs, device, reference, rtol, atol, **options)

    if measure:
        threads = options.get("threads")
        choice = choose_backend(
            build_one, inputs, device, budget_s=budget_s, min_speedup=min_speedup, threads=threads
        )
        if not quiet:
            print(choice.report, flush=True)
        name, b, fallbacks = choice.backend, choice.built, []
        measured = {"report": choice.report, "timings": choice.timings}
    else:
        # "auto" here means a GPU with TensorRT: TensorRT, falling back as if named.
        first = TENSORRT if backend == AUTO else backend
        name, b, fallbacks = _first_that_builds(build_one, first, device, strict, quiet)
        measured = {}
    result = CompiledModel(
        b.fn, name, backend, device, fallbacks, b.seconds, b.max_abs_diff, dtypes, **measured
    )
    log.info("compile_model: %s", result.describe())
    return result


def _model_device(model, device: str | None) -> str:
    """``device`` as "cpu"/"cuda"; by default where the model's parameters are."""
    if device is None:
        param = next(iter(model.parameters()), None)
        device = param.device.type if param is not None else "cpu"
    return resolve_device(device)


def _as_tuple(example_input) -> tuple:
    return tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)


def _eager_output(model, inputs: tuple):
    import torch

    with torch.inference_mode():
        return model(*inputs)


def _first_that_builds(build_one, first: str, device: str, strict: bool, quiet: bool):
    """(name, Built, fallback messages) of ``first``, or of eager where ``first`` cannot be
    used: not available here, failing to build, or differing from eager."""
    fallbacks: list[str] = []
    for name in dict.fromkeys([first, EAGER]):
        status = backend_status(name, device)
        why = None if status.ok else status.reason
        if why is None:
            try:
                return name, build_one(name), fallbacks
            except Exception as e:  # noqa: BLE001 - any compiler failure means: use eager
                if name == EAGER:
                    raise
                why = first_line(e)
        msg = f"compile_model: backend {name!r} not used: {why}"
        if strict:
            raise BackendUnavailable(msg)
        fallbacks.append(msg)
        if not quiet:
            print(msg, file=sys.stderr, flush=True)
        warnings.warn(msg, AccelerationFallbackWarning, stacklevel=3)
    raise AssertionError("unreachable: eager always works")  # pragma: no cover
