"""Data sets for the notebooks, with an offline path.

Each loader has two paths:

- online: the real data set, downloaded from its public source (for users with internet);
- offline: a stand-in with the same schema (shapes, dtypes, class count, column names), built
  from data that installed packages ship, for CI and air-gapped clusters.

Which one runs is decided by :func:`resolve_offline`: the ``offline`` argument if given, else
the ``DL_HELPERS_OFFLINE`` environment variable (1/true/yes or 0/false/no), else "try the
download, fall back to the stand-in". Whenever the stand-in is used, a banner says so, because
numbers computed on it (accuracy, ...) say nothing about the real data set.
"""

from __future__ import annotations

import gzip
import os
import sys
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

OFFLINE_ENV = "DL_HELPERS_OFFLINE"
CACHE_ENV = "DL_HELPERS_DATA_DIR"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class OfflineDataWarning(UserWarning):
    """Issued whenever a stand-in replaces a real data set."""


def resolve_offline(offline: bool | None = None, env=None) -> bool | None:
    """True: use the stand-in. False: download (errors propagate). None: try, then fall back."""
    if offline is not None:
        return bool(offline)
    env = os.environ if env is None else env
    raw = env.get(OFFLINE_ENV)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{OFFLINE_ENV}={raw!r}: expected one of 1/true/yes/on or 0/false/no/off")


def announce_standin(name: str, what: str, reason: str) -> None:
    """Say loudly that a stand-in is used (stderr banner + a warning)."""
    msg = f"OFFLINE STAND-IN for {name}: {what} ({reason}). Real-data figures do not apply."
    bar = "!" * min(len(msg), 100)
    print(f"{bar}\n{msg}\n{bar}", file=sys.stderr, flush=True)
    warnings.warn(msg, OfflineDataWarning, stacklevel=3)


def data_dir() -> Path:
    d = Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "dl_helpers"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _download(url: str, dest: Path, timeout: float = 30.0) -> Path:
    """Download to ``dest`` atomically (a partial file never takes the final name)."""
    if dest.exists():
        return dest
    tmp = dest.with_suffix(dest.suffix + ".part")
    with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as f:
        while chunk := r.read(1 << 20):
            f.write(chunk)
    tmp.replace(dest)
    return dest


@dataclass
class ImageDataset:
    """28x28 grey images as float32 in [0, 1] with int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    offline: bool
    source: str


FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
MNIST_CLASSES = [str(i) for i in range(10)]

_FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST container format)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _load_idx_set(base_url: str, folder: str) -> dict[str, np.ndarray]:
    d = data_dir() / folder
    d.mkdir(parents=True, exist_ok=True)
    return {k: _read_idx(_download(base_url + f, d / f)) for k, f in _IDX_FILES.items()}


def digits_28x28(
    n_train: int | None = None, n_test: int | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's shipped 8x8 handwritten digits (1,797 real images), scaled to 28x28.

    Scaling is bilinear (8x8 -> 28x28) with a 2-pixel border, like MNIST's centred digits; small
    random shifts make augmented copies when more rows are asked for than exist.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    imgs = digits.images.astype(np.float32) / 16.0  # (1797, 8, 8) in [0, 1]
    labels = digits.target.astype(np.int64)
    # bilinear resize to 24x24, pad to 28x28
    src = np.linspace(0, 7, 24)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, 7)
    w = (src - i0).astype(np.float32)
    rows = imgs[:, i0, :] * (1 - w)[None, :, None] + imgs[:, i1, :] * w[None, :, None]
    big = rows[:, :, i0] * (1 - w)[None, None, :] + rows[:, :, i1] * w[None, None, :]
    big = np.pad(big, ((0, 0), (2, 2), (2, 2)))

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(big))
    big, labels = big[order], labels[order]
    split = int(len(big) * 0.8)
    xtr, ytr, xte, yte = big[:split], labels[:split], big[split:], labels[split:]

    def grow(x, y, n):
        if n is None or n <= len(x):
            return (x, y) if n is None else (x[:n], y[:n])
        idx = rng.integers(0, len(x), n)
        shifts = rng.integers(-2, 3, size=(n, 2))
        out = np.stack([np.roll(x[i], tuple(s), axis=(0, 1)) for i, s in zip(idx, shifts)])
        return out.astype(np.float32), y[idx]

    xtr, ytr = grow(xtr, ytr, n_train)
    xte, yte = grow(xte, yte, n_test)
    return xtr, ytr, xte, yte


def _image_dataset(name, url, folder, classes, offline, n_train, n_test) -> ImageDataset:
    mode = resolve_offline(offline)
    if mode is not True:
        try:
            arrays = _load_idx_set(url, folder)
            x_train = arrays["x_train"].astype(np.float32) / 255.0
            x_test = arrays["x_test"].astype(np.float32) / 255.0
            ds = ImageDataset(
                x_train[:n_train], arrays["y_train"][:n_train].astype(np.int64),
                x_test[:n_test], arrays["y_test"][:n_test].astype(np.int64),
                classes, offline=False, source=url,
            )  # fmt: skip
            return ds
        except OSError as e:
            if mode is False:
                raise
            reason = f"download failed: {e}"
    else:
        reason = f"offline requested ({OFFLINE_ENV} or offline=True)"
    announce_standin(
        name, "scikit-learn's 8x8 digits scaled to 28x28, 10 classes, labels 0-9", reason
    )
    xtr, ytr, xte, yte = digits_28x28(n_train, n_test)
    return ImageDataset(xtr, ytr, xte, yte, classes, True, "sklearn.datasets.load_digits")


def load_fashion_mnist(
    offline: bool | None = None, n_train: int | None = None, n_test: int | None = None
) -> ImageDataset:
    """FashionMNIST (60k/10k 28x28 clothing images, 10 classes).

    Offline stand-in: real handwritten digits from scikit-learn at 28x28 (same shapes, dtypes
    and class count; the class names stay FashionMNIST's so downstream code is unchanged).
    """
    return _image_dataset(
        "FashionMNIST", _FASHION_URL, "fashion_mnist", FASHION_MNIST_CLASSES,
        offline, n_train, n_test,
    )  # fmt: skip


def load_mnist(
    offline: bool | None = None, n_train: int | None = None, n_test: int | None = None
) -> ImageDataset:
    """MNIST (60k/10k 28x28 handwritten digits). Offline: scikit-learn's digits at 28x28."""
    return _image_dataset(
        "MNIST", _MNIST_URL, "mnist", MNIST_CLASSES, offline, n_train, n_test
    )
