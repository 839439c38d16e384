"""Offline switch and the FashionMNIST / MNIST loaders (offline path: no network in tests)."""

import gzip

import numpy as np
import pytest

from dl_helpers import datasets
from dl_helpers.datasets import OfflineDataWarning, load_fashion_mnist, load_mnist, resolve_offline


@pytest.mark.parametrize(
    "arg, env, expected",
    [
        (True, {}, True),
        (False, {"DL_HELPERS_OFFLINE": "1"}, False),  # the argument wins
        (None, {"DL_HELPERS_OFFLINE": "yes"}, True),
        (None, {"DL_HELPERS_OFFLINE": "0"}, False),
        (None, {}, None),
    ],
)
def test_resolve_offline(arg, env, expected):
    assert resolve_offline(arg, env) is expected


def test_bad_offline_value_is_named():
    with pytest.raises(ValueError, match="maybe"):
        resolve_offline(None, {"DL_HELPERS_OFFLINE": "maybe"})


def test_fashion_mnist_standin_has_the_real_schema(capsys):
    with pytest.warns(OfflineDataWarning, match="FashionMNIST"):
        ds = load_fashion_mnist(offline=True, n_train=3000, n_test=500)
    assert "OFFLINE STAND-IN" in capsys.readouterr().err
    assert ds.offline
    assert ds.x_train.shape == (3000, 28, 28) and ds.x_test.shape == (500, 28, 28)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    assert set(np.unique(ds.y_train)) == set(range(10))
    assert len(ds.class_names) == 10


def test_standin_is_deterministic_and_learnable():
    a = load_mnist(offline=True, n_test=200)
    b = load_mnist(offline=True, n_test=200)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    # nearest class mean on raw pixels is far above chance: the labels carry signal
    means = np.stack([a.x_train[a.y_train == k].mean(0) for k in range(10)])
    d = ((a.x_test[:, None] - means[None]) ** 2).sum(axis=(2, 3))
    assert (d.argmin(1) == a.y_test).mean() > 0.6


def test_failed_download_falls_back_loudly(monkeypatch):
    def no_network(*a, **k):
        raise OSError("no route to host")

    monkeypatch.delenv("DL_HELPERS_OFFLINE", raising=False)  # conftest sets it for all tests
    monkeypatch.setattr(datasets, "_load_idx_set", no_network)
    with pytest.warns(OfflineDataWarning, match="no route to host"):
        ds = load_fashion_mnist(offline=None, n_train=10, n_test=10)
    assert ds.offline
    with pytest.raises(OSError):
        load_fashion_mnist(offline=False)  # online explicitly asked: the error propagates


def test_idx_reader_roundtrip(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    p = tmp_path / "x-idx3-ubyte.gz"
    with gzip.open(p, "wb") as f:
        f.write(header + arr.tobytes())
    np.testing.assert_array_equal(datasets._read_idx(p), arr)
