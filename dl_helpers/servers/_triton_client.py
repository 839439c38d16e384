"""Triton inference from Spark tasks: ``triton_predict_fn`` for ``predict_batch_udf``.

Usage: ``predict_batch_udf(triton_predict_fn(servers, ["x"]), return_type=..., batch_size=64)``;
``to_triton_input`` / ``from_triton_output`` convert one column's batch."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence

from dl_helpers.servers._base import server_table, task_server


def to_triton_input(array, dtype=None):
    """A predict_batch_udf input column as a Triton batch: at least 2-D (one row is [1, ...],
    never a squeezed scalar), strings as UTF-8 bytes, cast to the model's ``dtype``."""
    import numpy as np

    a = np.asarray(array)
    if a.dtype.kind in ("U", "O"):
        a = np.char.encode(a.astype(np.str_), "utf-8")
    elif dtype is not None and np.dtype(dtype).kind not in ("S", "O", "U") and a.dtype != dtype:
        a = a.astype(dtype)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    return a


def from_triton_output(array, scalar: bool):
    """A Triton output as predict_batch_udf wants it: bytes decoded to str, and a per-row scalar
    (declared shape (1,)) as one value per row, keeping the batch dimension."""
    import numpy as np

    a = np.asarray(array)
    if a.dtype.kind in ("S", "O"):
        a = np.vectorize(
            lambda b: b.decode("utf-8") if isinstance(b, bytes) else b, otypes=[object]
        )(a)
    if scalar and a.ndim == 2 and a.shape[1] == 1:
        a = a.reshape(len(a))
    return a


def positional_signature(fn: Callable, n: int) -> Callable:
    """Show ``n`` positional parameters: predict_batch_udf counts a predict function's
    parameters to map columns to inputs, and a ``*arrays`` function has none."""
    fn.__signature__ = inspect.Signature(
        [inspect.Parameter(f"input_{i}", inspect.Parameter.POSITIONAL_ONLY) for i in range(n)]
    )
    return fn


def triton_predict_fn(
    servers,
    input_names: Sequence[str],
    output_names: Sequence[str] | None = None,
    *,
    model_name: str | None = None,
    inference_timeout_s: float = 120.0,
    init_timeout_s: float = 30.0,
) -> Callable:
    """A ``make_predict_fn`` for ``predict_batch_udf`` that sends batches to the Triton server of
    the executor the task runs on.

    ``servers`` is a started :class:`TritonServerManager` (or its ``servers`` dict).
    ``input_names`` are the model's inputs, in the order of the UDF's columns. Returns one array
    for a single output, else a dict (for a StructType return). A model the server does not
    serve fails at once, naming the models it has. An executor that joined after the manager
    started (a replacement for a lost one) starts its own server in its first task.
    """
    table, model, start = server_table(servers, model_name, "model_name")
    input_names = list(input_names)
    wanted = list(output_names) if output_names else None

    def make_predict_fn():
        import warnings

        from pytriton.client import ModelClient
        from pytriton.client.warnings import NotSupportedTimeoutWarning

        # "network timeout is smaller than requested": the init wait is shorter than a request.
        warnings.filterwarnings("ignore", category=NotSupportedTimeoutWarning)

        info = task_server(table, model, "Triton", start)
        auth = {"access_token": info.token} if info.token else {}
        client = ModelClient(
            info.url,
            model,
            init_timeout_s=init_timeout_s,
            inference_timeout_s=inference_timeout_s,
            **auth,
        )
        try:
            tensors = _Tensors.read(client, info, model, input_names, wanted)
        except BaseException:
            client.close()
            raise

        def predict(*arrays):
            if len(arrays) != len(input_names):
                raise ValueError(f"got {len(arrays)} input arrays for inputs {input_names}")
            inputs = {
                n: to_triton_input(a, tensors.in_dtypes[n]) for n, a in zip(input_names, arrays)
            }
            return tensors.infer(client, info, model, inputs)

        return positional_signature(predict, len(input_names))

    return make_predict_fn


@dataclasses.dataclass
class _Tensors:
    """What a task needs to know of a served model: input dtypes, the outputs returned, which
    are per-row scalars, and the largest batch it takes (None: any)."""

    in_dtypes: dict
    names: list[str]
    scalar: dict[str, bool]
    step: int | None

    @classmethod
    def read(cls, client, info, model: str, input_names: list[str], wanted) -> _Tensors:
        """From the server's model configuration; unknown tensor names fail at once."""
        try:
            config = client.model_config
        except Exception as e:
            raise info.failure("cannot read the model configuration", model, e) from e
        in_dtypes = {t.name: t.dtype for t in config.inputs}
        out_specs = {t.name: t for t in config.outputs}
        names = wanted or list(out_specs)
        unknown = [n for n in input_names if n not in in_dtypes] + [
            n for n in names if n not in out_specs
        ]
        if unknown:
            raise info.failure(
                f"model has no tensor(s) {unknown}; inputs {list(in_dtypes)}, "
                f"outputs {list(out_specs)}",
                model,
            )
        scalar = {n: tuple(out_specs[n].shape) == (1,) for n in names}
        step = config.max_batch_size if config.max_batch_size > 0 else None
        return cls(in_dtypes, names, scalar, step)

    def infer(self, client, info, model: str, inputs: dict):
        """Send a batch in chunks of at most ``step`` rows; one array, or a dict of them."""
        import numpy as np

        rows = len(next(iter(inputs.values())))
        step = self.step
        parts = []
        for lo in range(0, rows, step or rows or 1):
            chunk = {n: a[lo : lo + step] if step else a for n, a in inputs.items()}
            if not info.is_alive():
                raise info.failure("server is gone", model)
            try:
                parts.append(client.infer_batch(**chunk))
            except Exception as e:
                raise info.failure("inference request failed", model, e) from e
        out = {
            n: from_triton_output(np.concatenate([p[n] for p in parts]), self.scalar[n])
            for n in self.names
        }
        return out[self.names[0]] if len(self.names) == 1 else out
