"""dl_helpers.models: every backend computes what the eager model computes, for any batch
size (1 included), and an unusable backend falls back with a message that says why."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dl_helpers.models import (  # noqa: E402
    BackendUnavailable,
    _auto,
    _backends,
    available_backends,
    backend_status,
    compile_model,
)
from dl_helpers.models._backends import (  # noqa: E402
    AUTO,
    BACKENDS,
    EAGER,
    ONNXRUNTIME,
    TENSORRT,
    TORCH_COMPILE,
)
from dl_helpers.models._compile import AccelerationFallbackWarning  # noqa: E402

BATCHES = (1, 2, 7, 64)


def mlp(n_in=8, n_out=1, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(n_in, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 16),
        torch.nn.ReLU(),
        torch.nn.Linear(16, n_out),
    ).eval()


class TwoInputs(torch.nn.Module):
    """Token ids + attention mask -> (mean-pooled embedding, logits): a tiny text encoder with
    several inputs, a sequence dimension that changes per batch and a tuple output."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.emb = torch.nn.Embedding(50, 12)
        self.proj = torch.nn.Linear(12, 12)
        self.head = torch.nn.Linear(12, 3)

    def forward(self, ids, mask):
        h = torch.tanh(self.proj(self.emb(ids)))
        m = mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
        return pooled, self.head(pooled)


def text_batch(n, length, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 50, (n, length), generator=g)
    lengths = torch.randint(1, length + 1, (n,), generator=g)
    mask = (torch.arange(length)[None, :] < lengths[:, None]).long()
    return ids * mask, mask


def assert_close(a, b):
    if isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_close(x, y)
        return
    assert a.shape == b.shape
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("backend", [EAGER, ONNXRUNTIME])
@pytest.mark.parametrize("example_batch", [1, 5])
def test_mlp_equals_eager_for_all_batch_sizes(backend, example_batch):
    model = mlp()
    compiled = compile_model(model, torch.randn(example_batch, 8), backend=backend)
    assert compiled.backend == backend and compiled.fallbacks == []
    for n in BATCHES:
        x = torch.randn(n, 8)
        with torch.inference_mode():
            expected = model(x)
        out = compiled(x)
        assert out.shape == (n, 1)
        assert_close(out, expected)


def test_onnxruntime_multiple_inputs_dynamic_sequence_and_tuple_output():
    model = TwoInputs().eval()
    compiled = compile_model(
        model, text_batch(3, 6), backend=ONNXRUNTIME, dynamic_dims={0: [1], 1: [1]}
    )
    assert compiled.backend == ONNXRUNTIME
    for n, length in [(1, 4), (2, 9), (7, 6), (64, 3)]:
        ids, mask = text_batch(n, length, seed=n)
        with torch.inference_mode():
            expected = model(ids, mask)
        got = compiled(ids, mask)
        assert isinstance(got, tuple) and got[0].shape == (n, 12) and got[1].shape == (n, 3)
        assert_close(got, expected)


def test_numpy_inputs_take_the_example_dtype():
    model = mlp()
    compiled = compile_model(model, torch.randn(4, 8), backend=ONNXRUNTIME)
    x = np.random.default_rng(0).normal(size=(3, 8))  # float64, as from a Spark double array
    with torch.inference_mode():
        expected = model(torch.from_numpy(x).float())
    assert_close(compiled(x), expected)


@pytest.mark.slow
def test_torch_compile_equals_eager_without_recompiling_for_batch_of_one():
    if not backend_status(TORCH_COMPILE, "cpu").ok:
        pytest.skip(backend_status(TORCH_COMPILE, "cpu").reason)
    model = mlp(n_in=8, n_out=2)
    compiled = compile_model(model, torch.randn(1, 8), backend=TORCH_COMPILE)
    assert compiled.backend == TORCH_COMPILE, compiled.fallbacks
    import time

    for n in BATCHES:
        for made_in_inference_mode in (False, True):  # Dynamo guards on the tensor kind too
            with torch.inference_mode(made_in_inference_mode):
                x = torch.randn(n, 8)
            t0 = time.perf_counter()
            out = compiled(x)
            # a recompilation takes seconds; the compiled graph runs in milliseconds
            took = time.perf_counter() - t0
            assert took < 3.0, f"batch {n} ({made_in_inference_mode=}) recompiled: {took:.1f} s"
            with torch.inference_mode():
                assert_close(out, model(x))


def test_tensorrt_on_cpu_falls_back_with_a_clear_message(capsys):
    model = mlp()
    with pytest.warns(AccelerationFallbackWarning, match="tensorrt"):
        compiled = compile_model(model, torch.randn(2, 8), backend=TENSORRT, device="cpu")
    assert compiled.requested == TENSORRT
    assert compiled.backend == EAGER
    assert len(compiled.fallbacks) == 1 and "CUDA GPU" in compiled.fallbacks[0]
    assert "backend 'tensorrt' not used" in capsys.readouterr().err
    x = torch.randn(1, 8)
    with torch.inference_mode():
        assert_close(compiled(x), model(x))


def test_strict_raises_instead_of_falling_back():
    with pytest.raises(BackendUnavailable, match="CUDA GPU"):
        compile_model(mlp(), torch.randn(2, 8), backend=TENSORRT, device="cpu", strict=True)


def test_unexportable_model_falls_back_to_eager():
    class NumpyInside(torch.nn.Module):  # leaves torch: no exporter can trace it
        def forward(self, x):
            return torch.from_numpy(np.tanh(x.numpy())) + 1

    model = NumpyInside()
    with pytest.warns(AccelerationFallbackWarning):
        compiled = compile_model(model, torch.randn(3, 4), backend=ONNXRUNTIME, quiet=True)
    assert compiled.backend == EAGER
    assert "onnxruntime" in compiled.fallbacks[0]
    x = torch.randn(5, 4)
    assert_close(compiled(x), model(x))


def test_wrong_compiled_output_is_caught_by_verify(monkeypatch):
    def broken(model, inputs, device, **_):
        return lambda *xs: model(*xs) + 1.0

    monkeypatch.setitem(_backends._BUILDERS, ONNXRUNTIME, broken)
    with pytest.warns(AccelerationFallbackWarning, match="differs from eager"):
        compiled = compile_model(mlp(), torch.randn(3, 8), backend=ONNXRUNTIME, quiet=True)
    assert compiled.backend == EAGER


def test_missing_onnxruntime_is_reported(monkeypatch):
    real = _backends._installed
    monkeypatch.setattr(_backends, "_installed", lambda m: False if m == "onnxruntime" else real(m))
    status = backend_status(ONNXRUNTIME, "cpu")
    assert not status.ok and "onnxruntime" in status.reason
    with pytest.warns(AccelerationFallbackWarning, match="not installed"):
        compiled = compile_model(mlp(), torch.randn(3, 8), backend=ONNXRUNTIME, quiet=True)
    assert compiled.backend == EAGER


def test_missing_compiler_is_reported(monkeypatch):
    monkeypatch.setattr(_backends, "_cxx_compiler", lambda: None)
    status = backend_status(TORCH_COMPILE, "cpu")
    assert not status.ok and "C++ compiler" in status.reason


def test_auto_on_cpu_measures_and_keeps_the_fastest_matching_backend(recwarn, capsys):
    model = mlp()
    compiled = compile_model(model, torch.randn(64, 8), backend=AUTO, threads=1)
    # Both measured on the example batch; torch.compile left out of the default budget.
    assert set(compiled.timings) == {EAGER, ONNXRUNTIME}, compiled.report
    assert all(len(v) >= 1 and min(v) > 0 for v in compiled.timings.values())
    med = {k: float(np.median(v)) for k, v in compiled.timings.items()}
    speedup = med[EAGER] / med[ONNXRUNTIME]
    expected = ONNXRUNTIME if speedup >= _auto.AUTO_MIN_SPEEDUP else EAGER
    assert compiled.backend == expected, compiled.report
    assert compiled.requested == AUTO and compiled.fallbacks == []
    assert not [w for w in recwarn if issubclass(w.category, AccelerationFallbackWarning)]
    report = compiled.report
    assert report in capsys.readouterr().out  # printed, and kept on the result
    assert "ms/batch" in report and "x eager" in report and f"chose {expected}:" in report
    assert "torch.compile" in report and "not measured" in report
    x = torch.randn(5, 8)
    with torch.inference_mode():
        assert_close(compiled(x), model(x))


def test_auto_chooses_a_faster_backend_and_refuses_a_wrong_one(monkeypatch):
    import time

    real_eager = _backends._BUILDERS[EAGER]

    def slow_eager(model, inputs, device, **kw):  # eager made 20 ms slower per call
        run = real_eager(model, inputs, device, **kw)
        return lambda *xs: (time.sleep(0.02), run(*xs))[1]

    monkeypatch.setitem(_backends._BUILDERS, EAGER, slow_eager)
    compiled = compile_model(mlp(), torch.randn(16, 8), backend=AUTO, quiet=True)
    assert compiled.backend == ONNXRUNTIME, compiled.report
    assert "chose onnxruntime: fastest" in compiled.report

    def wrong(model, inputs, device, **_):  # fast, but not the model
        return lambda *xs: model(*xs) + 1.0

    monkeypatch.setitem(_backends._BUILDERS, ONNXRUNTIME, wrong)
    compiled = compile_model(mlp(), torch.randn(16, 8), backend=AUTO, quiet=True)
    assert compiled.backend == EAGER
    assert "onnxruntime" in compiled.report and "differs from eager" in compiled.report


def test_available_backends_and_auto_on_cpu():
    found = available_backends("cpu")
    assert list(found) == list(BACKENDS)
    assert found[EAGER].ok
    assert not found[TENSORRT].ok and "CUDA" in found[TENSORRT].reason
    with pytest.raises(ValueError, match="unknown backend"):
        compile_model(mlp(), torch.randn(2, 8), backend="tvm")


@pytest.mark.gpu
def test_tensorrt_on_gpu_equals_eager():
    status = backend_status(TENSORRT, "cuda")
    if not status.ok:
        pytest.skip(f"TensorRT not usable here: {status.reason}")
    model = mlp().cuda()
    compiled = compile_model(
        model, torch.randn(4, 8, device="cuda"), backend=TENSORRT, strict=True, max_batch=128
    )
    assert compiled.backend == TENSORRT
    for n in BATCHES:
        x = torch.randn(n, 8, device="cuda")
        with torch.inference_mode():
            torch.testing.assert_close(compiled(x), model(x), rtol=1e-3, atol=1e-3)
