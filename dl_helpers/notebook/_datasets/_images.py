"""Image data sets: FashionMNIST and MNIST (28x28 grey arrays), the flower photos (JPEG files).

Offline stand-ins: scikit-learn's shipped 8x8 digits scaled to 28x28, and JPEG crops of
scikit-learn's two shipped sample photos.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dl_helpers.notebook._datasets._download import (
    DownloadError,
    data_dir,
    fetch,
    fetch_extracted,
    source_url,
)
from dl_helpers.offline import with_fallback


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
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
MNIST_CLASSES = [str(i) for i in range(10)]

FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
_IDX_SHAPE = {"x_train": (28, 28), "y_train": (), "x_test": (28, 28), "y_test": ()}


def read_idx(path: Path) -> np.ndarray:
    """Read a gzip IDX file (the MNIST container format) of unsigned bytes."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise ValueError(f"{path.name}: not an IDX file of unsigned bytes (header {data[:4]!r})")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    want = 4 + 4 * ndim + int(np.prod(dims))
    if len(data) != want:
        raise ValueError(f"{path.name}: {len(data)} bytes, its header {dims} says {want}")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _idx_reader(shape: tuple):
    def read(path: Path) -> np.ndarray:
        a = read_idx(path)
        if a.shape[1:] != shape:
            raise ValueError(f"{path.name}: shape {a.shape}, expected (n, *{shape})")
        return a

    return read


def _load_idx_set(public_url: str, folder: str, mirror: str | None) -> tuple[dict, str]:
    d = data_dir() / folder
    arrays = {}
    for key, name in IDX_FILES.items():
        url = source_url(public_url + name, folder, name, mirror)
        arrays[key] = fetch(url, d / name, _idx_reader(_IDX_SHAPE[key]), "a gzip IDX file")
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if len(x) != len(y):
            raise DownloadError(f"{d}: {split} set has {len(x)} images but {len(y)} labels")
    return arrays, source_url(public_url, folder, "", mirror)


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


def _image_dataset(name, url, folder, classes, offline, n_train, n_test, mirror) -> ImageDataset:
    def real():
        arrays, source = _load_idx_set(url, folder, mirror)
        x_train = arrays["x_train"][:n_train].astype(np.float32) / 255.0
        x_test = arrays["x_test"][:n_test].astype(np.float32) / 255.0
        return ImageDataset(
            x_train,
            arrays["y_train"][:n_train].astype(np.int64),
            x_test,
            arrays["y_test"][:n_test].astype(np.int64),
            classes,
            offline=False,
            source=source,
        )

    def standin():
        xtr, ytr, xte, yte = digits_28x28(n_train, n_test)
        return ImageDataset(xtr, ytr, xte, yte, classes, True, "sklearn.datasets.load_digits")

    what = "scikit-learn's 8x8 digits scaled to 28x28, 10 classes, labels 0-9"
    return with_fallback(name, real, standin, what, offline)


def load_fashion_mnist(
    offline: bool | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
    mirror: str | None = None,
) -> ImageDataset:
    """FashionMNIST (60k/10k 28x28 clothing images, 10 classes), the four gzip IDX files.

    ``mirror``: a base URL replacing the public one (default ``DL_HELPERS_DATA_MIRROR``; files
    under ``<mirror>/fashion_mnist/``). Offline stand-in: real handwritten digits from
    scikit-learn at 28x28 (same shapes, dtypes and class count; the class names stay
    FashionMNIST's so downstream code is unchanged).
    """
    return _image_dataset(
        "FashionMNIST",
        FASHION_MNIST_URL,
        "fashion_mnist",
        FASHION_MNIST_CLASSES,
        offline,
        n_train,
        n_test,
        mirror,
    )


def load_mnist(
    offline: bool | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
    mirror: str | None = None,
) -> ImageDataset:
    """MNIST (60k/10k 28x28 handwritten digits), the four gzip IDX files.

    ``mirror``: files under ``<mirror>/mnist/``. Offline: scikit-learn's digits at 28x28.
    """
    return _image_dataset(
        "MNIST", MNIST_URL, "mnist", MNIST_CLASSES, offline, n_train, n_test, mirror
    )


# ---------------------------------------------------------------------------------------------
# Flower photos: JPEG files in class folders.

FLOWERS_URL = (
    "https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz"
)
FLOWER_CLASSES = ["daisy", "dandelion", "roses", "sunflowers", "tulips"]


@dataclass
class ImageFiles:
    """JPEG files in class folders (``root/<class>/<name>.jpg``), as the flower photos come."""

    root: Path
    files: list[Path]
    labels: np.ndarray
    class_names: list[str]
    offline: bool
    source: str


def image_files(root: Path, classes: list[str], n: int | None = None, seed: int = 0):
    """(files, int64 labels) of ``root/<class>/*.jpg``, class by class; ``n``: a seeded sample."""
    files, labels = [], []
    for i, c in enumerate(classes):
        for f in sorted((root / c).glob("*.jpg")):
            files.append(f)
            labels.append(i)
    labels = np.asarray(labels, dtype=np.int64)
    if n is not None and n < len(files):
        keep = np.sort(np.random.default_rng(seed).choice(len(files), n, replace=False))
        files, labels = [files[i] for i in keep], labels[keep]
    return files, labels


def flower_photos_standin(dest: str | os.PathLike, n_images: int = 100, seed: int = 0) -> Path:
    """Write ``n_images`` JPEGs into ``dest/<flower class>/``, cut from real photos.

    The photos are scikit-learn's two shipped sample images (a Chinese temple and a flower,
    640x427). Each file is a random crop (40-100% of each side) resized to 320x240 or 240x320,
    so the files look like the flower photos (JPEG, a few hundred pixels a side) to the
    decode/resize pipeline. The class folder is assigned round-robin: labels carry no meaning.
    """
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = [Image.fromarray(im) for im in load_sample_images().images]
    rng = np.random.default_rng(seed)
    root = Path(dest)
    for c in FLOWER_CLASSES:
        (root / c).mkdir(parents=True, exist_ok=True)
    for i in range(n_images):
        im = photos[i % len(photos)]
        w, h = im.size
        cw, ch = int(w * rng.uniform(0.4, 1.0)), int(h * rng.uniform(0.4, 1.0))
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        size = (320, 240) if rng.random() < 0.7 else (240, 320)
        crop = im.crop((x0, y0, x0 + cw, y0 + ch)).resize(size, Image.BILINEAR)
        cls = FLOWER_CLASSES[i % len(FLOWER_CLASSES)]
        crop.save(root / cls / f"standin_{i:05d}.jpg", quality=90)
    return root


def _check_flowers(root: Path) -> None:
    missing = [c for c in FLOWER_CLASSES if not any((root / c).glob("*.jpg"))]
    if missing:
        raise ValueError(f"no JPEG files under flower_photos/{{{','.join(missing)}}}/")


def load_flower_photos(
    offline: bool | None = None,
    n_images: int | None = None,
    dest: str | os.PathLike | None = None,
    seed: int = 0,
    mirror: str | None = None,
) -> ImageFiles:
    """The TensorFlow flower photos (3,670 JPEGs in 5 class folders), as files on disk.

    Online: ``flower_photos.tgz`` downloaded and extracted under the data cache
    (``DL_HELPERS_DATA_DIR``, folder ``flower_photos``); ``mirror``: the archive at
    ``<mirror>/flower_photos/flower_photos.tgz``. ``n_images`` keeps a random sample (``seed``).
    Offline stand-in: JPEGs cut from scikit-learn's sample photos
    (:func:`flower_photos_standin`), written under ``dest`` (default: the data cache); 100
    files unless ``n_images`` says otherwise.
    """
    url = source_url(FLOWERS_URL, "flower_photos", "flower_photos.tgz", mirror)

    def real():
        root = fetch_extracted(
            url,
            data_dir() / "flower_photos",
            "flower_photos",
            _check_flowers,
            "a tgz of flower_photos/<class>/*.jpg",
            timeout=120,
        )
        files, labels = image_files(root, FLOWER_CLASSES, n_images, seed)
        return ImageFiles(root, files, labels, FLOWER_CLASSES, False, url)

    n = 100 if n_images is None else int(n_images)

    def standin():
        root = Path(dest) if dest is not None else data_dir() / "flower_photos_standin"
        if root.exists():  # a stand-in of another size or seed must not mix with this one
            for old in root.glob("*/standin_*.jpg"):
                old.unlink()
        flower_photos_standin(root, n, seed)
        files, labels = image_files(root, FLOWER_CLASSES)
        return ImageFiles(root, files, labels, FLOWER_CLASSES, True, "sklearn load_sample_images")

    what = f"{n} JPEG crops of scikit-learn's 2 sample photos, labels meaningless"
    return with_fallback("flower photos", real, standin, what, offline)
