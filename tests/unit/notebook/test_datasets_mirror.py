"""The real download and parsing code of every data set, run against a local HTTP mirror.

A real HTTP server on 127.0.0.1 (``http.server`` in a thread) serves small files in the real
formats (gzip IDX, the PetFinder zip, the flowers tgz, the IMDB tar.gz layout, the California
Housing tgz) under the mirror layout; the loaders get its URL through ``mirror=`` or
``DL_HELPERS_DATA_MIRROR``. Checked: the real schema and the served row counts, a second call
served from the cache (no new request), and a truncated or corrupt download failing with a
clear error and no file left in the cache.
"""

from __future__ import annotations

import collections
import gzip
import hashlib
import io
import socket
import tarfile
import threading
import warnings
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dl_helpers.notebook import _datasets as ds
from dl_helpers.notebook._datasets import _tables as tables
from dl_helpers.offline import OFFLINE_ENV, OfflineDataWarning


class Mirror:
    """Files served at ``url/<path>``; ``hits`` counts GET requests per path."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.hits: collections.Counter = collections.Counter()
        self.truncate: set[str] = set()  # paths sent with a full Content-Length but half the body
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                path = self.path.lstrip("/")
                mirror.hits[path] += 1
                body = mirror.files.get(path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if path in mirror.truncate else body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def mirror():
    m = Mirror()
    yield m
    m.close()
    assert not m.thread.is_alive()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty data cache; the test run's DL_HELPERS_OFFLINE and any mirror setting removed."""
    d = tmp_path / "cache"
    monkeypatch.setenv(ds.CACHE_ENV, str(d))
    monkeypatch.delenv(OFFLINE_ENV, raising=False)
    monkeypatch.delenv(ds.MIRROR_ENV, raising=False)
    return d


def cached_files(cache: Path) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())


# ------------------------------------------------------------------ files in the real formats


def idx_gz(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return gzip.compress(header + arr.astype(np.uint8).tobytes())


def mnist_files(n_train=30, n_test=12, seed=0) -> tuple[dict[str, bytes], dict]:
    rng = np.random.default_rng(seed)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    return {ds.IDX_FILES[k]: idx_gz(a) for k, a in arrays.items()}, arrays


def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def tgz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in members.items():
            add(t, name, data)
    return buf.getvalue()


def jpeg(value: int, w=40, h=30) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


PET_ROWS = 40


def petfinder_zip() -> tuple[bytes, pd.DataFrame]:
    frame = ds.petfinder_standin(PET_ROWS, seed=1)  # the real columns and category values
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:  # the real zip's layout
        z.writestr("petfinder-mini/petfinder-mini.csv", frame.to_csv(index=False))
    return buf.getvalue(), frame


FLOWERS_PER_CLASS = 2


def flowers_tgz() -> bytes:
    members = {"flower_photos/LICENSE.txt": b"CC-BY"}
    for i, c in enumerate(ds.FLOWER_CLASSES):
        for k in range(FLOWERS_PER_CLASS):
            members[f"flower_photos/{c}/{i}_{k}.jpg"] = jpeg(40 * i + k)
    members["../escaped.jpg"] = jpeg(1)  # must not leave the cache
    return tgz(members)


IMDB_PER_CLASS = {"train": 3, "test": 2}


def imdb_tgz() -> bytes:
    members = {"aclImdb/README": b"Large Movie Review Dataset v1.0", "aclImdb/imdb.vocab": b"a"}
    for split, n in IMDB_PER_CLASS.items():
        for c, rating in (("pos", 9), ("neg", 2)):
            for i in range(n):
                text = f"{split} {c} review {i}"
                members[f"aclImdb/{split}/{c}/{i}_{rating}.txt"] = text.encode()
    members["aclImdb/train/unsup/0_0.txt"] = b"unlabelled"
    return tgz(members)


# The first two block groups of the real cal_housing.data (longitude, latitude, age, rooms,
# bedrooms, population, households, income, value), then made-up ones of the same shape.
CAL_ROWS = [
    "-122.230000,37.880000,41.000000,880.000000,129.000000,322.000000,126.000000,8.325200,452600.000000",
    "-122.220000,37.860000,21.000000,7099.000000,1106.000000,2401.000000,1138.000000,8.301400,358500.000000",
    "-118.250000,34.050000,30.000000,1500.000000,300.000000,900.000000,280.000000,3.500000,210000.000000",
]


def california_tgz() -> bytes:
    data = ("\n".join(CAL_ROWS) + "\n").encode()
    return tgz(
        {
            "CaliforniaHousing/cal_housing.data": data,
            "CaliforniaHousing/cal_housing.domain": b"longitude: continuous.",
        }
    )


# ------------------------------------------------------------------ one test per data set


@pytest.mark.parametrize(
    "loader, folder", [(ds.load_fashion_mnist, "fashion_mnist"), (ds.load_mnist, "mnist")]
)
def test_idx_data_sets_through_the_mirror(loader, folder, mirror, cache):
    files, arrays = mnist_files()
    for name, body in files.items():
        mirror.files[f"{folder}/{name}"] = body
    with warnings.catch_warnings():
        warnings.simplefilter("error", OfflineDataWarning)
        data = loader(offline=False, mirror=mirror.url)
        assert data.offline is False and data.source == f"{mirror.url}/{folder}/"
        assert data.x_train.shape == (30, 28, 28) and data.x_test.shape == (12, 28, 28)
        assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
        np.testing.assert_array_equal(data.x_train, arrays["x_train"] / np.float32(255))
        np.testing.assert_array_equal(data.y_test, arrays["y_test"])
        assert len(data.class_names) == 10
        assert sorted(mirror.hits) == sorted(f"{folder}/{n}" for n in files)
        assert set(mirror.hits.values()) == {1}
        again = loader(offline=False, mirror=mirror.url, n_train=5, n_test=3)  # from the cache
    assert set(mirror.hits.values()) == {1}
    assert again.x_train.shape == (5, 28, 28)
    assert again.y_test.tolist() == arrays["y_test"][:3].tolist()
    assert cached_files(cache) == sorted(f"{folder}/{n}" for n in files)


def test_petfinder_through_the_mirror(mirror, cache):
    body, frame = petfinder_zip()
    mirror.files["petfinder_mini/petfinder-mini.zip"] = body
    with warnings.catch_warnings():
        warnings.simplefilter("error", OfflineDataWarning)
        table = ds.load_petfinder_mini(offline=False, mirror=mirror.url)
        sample = ds.load_petfinder_mini(offline=False, mirror=mirror.url, n_rows=10, seed=0)
    assert table.offline is False
    assert table.source == f"{mirror.url}/petfinder_mini/petfinder-mini.zip"
    assert list(table.frame.columns) == list(ds.PETFINDER_COLUMNS) and len(table.frame) == PET_ROWS
    for col, kind in ds.PETFINDER_COLUMNS.items():
        assert table.frame[col].dtype.kind == kind, col
    pd.testing.assert_frame_equal(table.frame, frame, check_dtype=False)
    assert len(sample.frame) == 10 and list(sample.frame.columns) == list(ds.PETFINDER_COLUMNS)
    assert mirror.hits == {"petfinder_mini/petfinder-mini.zip": 1}  # the second call: the cache
    assert cached_files(cache) == ["petfinder_mini/petfinder-mini.zip"]


def test_flower_photos_through_the_mirror(mirror, cache):
    mirror.files["flower_photos/flower_photos.tgz"] = flowers_tgz()
    with warnings.catch_warnings():
        warnings.simplefilter("error", OfflineDataWarning)
        imgs = ds.load_flower_photos(offline=False, mirror=mirror.url)
        two = ds.load_flower_photos(offline=False, mirror=mirror.url, n_images=2)
    assert imgs.offline is False
    assert imgs.source == f"{mirror.url}/flower_photos/flower_photos.tgz"
    n = FLOWERS_PER_CLASS * len(ds.FLOWER_CLASSES)
    assert len(imgs.files) == n == len(imgs.labels) and imgs.labels.dtype == np.int64
    assert [imgs.class_names[y] for y in imgs.labels] == [f.parent.name for f in imgs.files]
    assert sorted(set(imgs.labels.tolist())) == list(range(5))
    for f in imgs.files:
        with Image.open(f) as im:
            assert im.format == "JPEG" and im.size == (40, 30)
    assert len(two.files) == 2
    assert mirror.hits == {"flower_photos/flower_photos.tgz": 1}
    assert not list(cache.parent.glob("escaped.jpg")) and not list(cache.rglob("escaped.jpg"))
    # Only the extracted folder stays (the archive is deleted after a complete extraction).
    assert cached_files(cache) == sorted(
        ["flower_photos/flower_photos/LICENSE.txt"]
        + [
            f"flower_photos/flower_photos/{c}/{i}_{k}.jpg"
            for i, c in enumerate(ds.FLOWER_CLASSES)
            for k in range(FLOWERS_PER_CLASS)
        ]
    )


def test_imdb_through_the_mirror(mirror, cache):
    mirror.files["imdb/aclImdb_v1.tar.gz"] = imdb_tgz()
    with warnings.catch_warnings():
        warnings.simplefilter("error", OfflineDataWarning)
        data = ds.load_imdb_reviews(offline=False, mirror=mirror.url)
        part = ds.load_imdb_reviews(offline=False, mirror=mirror.url, n_train=4, n_test=1)
    assert data.offline is False and data.source == f"{mirror.url}/imdb/aclImdb_v1.tar.gz"
    assert data.class_names == ["neg", "pos"]
    assert len(data.train_texts) == 2 * IMDB_PER_CLASS["train"] == len(data.train_labels)
    assert len(data.test_texts) == 2 * IMDB_PER_CLASS["test"]
    assert data.train_labels.dtype == np.int64 and data.train_labels.mean() == 0.5
    for text, y in zip(
        data.train_texts + data.test_texts, np.r_[data.train_labels, data.test_labels], strict=True
    ):
        assert text.split()[1] == data.class_names[y]
    assert not any("unlabelled" in t for t in data.train_texts)
    assert len(part.train_texts) == 4 and len(part.test_texts) == 1
    assert mirror.hits == {"imdb/aclImdb_v1.tar.gz": 1}
    assert not any("/unsup/" in f for f in cached_files(cache))


def test_california_housing_through_the_mirror(mirror, cache, monkeypatch):
    body = california_tgz()
    mirror.files["california_housing/cal_housing.tgz"] = body
    # The loader checks the real archive's sha256; here it is the served file's.
    monkeypatch.setattr(tables, "CALIFORNIA_SHA256", hashlib.sha256(body).hexdigest())
    monkeypatch.setenv(ds.MIRROR_ENV, mirror.url + "/")  # the environment variable this time
    with warnings.catch_warnings():
        warnings.simplefilter("error", OfflineDataWarning)
        data = ds.load_california_housing(offline=False)
        two = ds.load_california_housing(offline=False, n_rows=2, seed=1)
    f = data.frame
    assert data.offline is False
    assert data.source == f"{mirror.url}/california_housing/cal_housing.tgz"
    assert list(f.columns) == ds.CALIFORNIA_FEATURES + [ds.CALIFORNIA_TARGET]
    assert len(f) == len(CAL_ROWS) and all(f[c].dtype == np.float64 for c in f.columns)
    # The first block group as scikit-learn's fetch_california_housing gives it.
    first = dict(
        MedInc=8.3252,
        HouseAge=41.0,
        AveRooms=880 / 126,
        AveBedrms=129 / 126,
        Population=322.0,
        AveOccup=322 / 126,
        Latitude=37.88,
        Longitude=-122.23,
        MedHouseVal=4.526,
    )
    assert f.iloc[0].to_dict() == pytest.approx(first)
    assert len(two.frame) == 2 and list(two.frame.index) == [0, 1]
    assert mirror.hits == {"california_housing/cal_housing.tgz": 1}
    assert cached_files(cache) == ["california_housing/cal_housing.tgz"]


# ------------------------------------------------------------------ broken downloads


def _corrupt(body: bytes) -> bytes:
    """Same length, the middle overwritten: a gzip/zip that no longer decodes."""
    mid = len(body) // 2
    n = max(8, len(body) // 4)
    return body[: mid - n // 2] + bytes(n) + body[mid - n // 2 + n :]


BROKEN = {
    "mnist": (
        lambda m: ds.load_mnist(offline=False, mirror=m),
        "mnist/" + ds.IDX_FILES["x_train"],
        lambda: mnist_files()[0][ds.IDX_FILES["x_train"]],
        "gzip IDX",
    ),
    "petfinder": (
        lambda m: ds.load_petfinder_mini(offline=False, mirror=m),
        "petfinder_mini/petfinder-mini.zip",
        lambda: petfinder_zip()[0],
        "zip",
    ),
    "flowers": (
        lambda m: ds.load_flower_photos(offline=False, mirror=m),
        "flower_photos/flower_photos.tgz",
        flowers_tgz,
        "flower_photos",
    ),
    "imdb": (
        lambda m: ds.load_imdb_reviews(offline=False, mirror=m),
        "imdb/aclImdb_v1.tar.gz",
        imdb_tgz,
        "aclImdb",
    ),
    "california": (
        lambda m: ds.load_california_housing(offline=False, mirror=m),
        "california_housing/cal_housing.tgz",
        california_tgz,
        "cal_housing",
    ),
}


@pytest.mark.parametrize("how", ["truncated", "corrupt"])
@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_download_fails_clearly_and_leaves_no_file(name, how, mirror, cache, monkeypatch):
    load, path, make, what = BROKEN[name]
    body = make()
    if name == "mnist":  # the other three files are fine
        files, _ = mnist_files()
        for n, b in files.items():
            mirror.files[f"mnist/{n}"] = b
    if name == "california":
        monkeypatch.setattr(tables, "CALIFORNIA_SHA256", hashlib.sha256(body).hexdigest())
    if how == "truncated":
        mirror.truncate.add(path)
        mirror.files[path] = body
        expected = rf"{mirror.url}/{path}: download truncated: got {len(body) // 2} of {len(body)}"
    else:
        mirror.files[path] = _corrupt(body)
        expected = (
            rf"{mirror.url}/{path}: (checksum mismatch|the downloaded file is not "
            rf".*{what})"
        )
    with pytest.raises(ds.DownloadError, match=expected):
        load(mirror.url)
    assert mirror.hits[path] == 1
    leftover = [f for f in cached_files(cache) if path.split("/")[1] in f or f.endswith(".part")]
    assert leftover == [], leftover
    # The next call downloads again (nothing broken was cached), and succeeds once fixed.
    mirror.truncate.discard(path)
    mirror.files[path] = body
    with warnings.catch_warnings():
        warnings.simplefilter("error", OfflineDataWarning)
        assert load(mirror.url).offline is False
    assert mirror.hits[path] == 2


def test_california_checksum_is_checked(mirror, cache):
    """The real archive's sha256 is required: another file of the right format is refused."""
    mirror.files["california_housing/cal_housing.tgz"] = california_tgz()
    expected = f"checksum mismatch.*expected {tables.CALIFORNIA_SHA256}"
    with pytest.raises(ds.DownloadError, match=expected):
        ds.load_california_housing(offline=False, mirror=mirror.url)
    assert cached_files(cache) == []


def test_missing_file_on_the_mirror_is_named(mirror, cache):
    with pytest.raises(OSError, match="404"):
        ds.load_petfinder_mini(offline=False, mirror=mirror.url)
    assert mirror.hits == {"petfinder_mini/petfinder-mini.zip": 1}
    assert cached_files(cache) == []


# ------------------------------------------------------------------ the offline policy on failures


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LOADERS = {
    "fashion_mnist": lambda **k: ds.load_fashion_mnist(n_train=10, n_test=10, **k),
    "mnist": lambda **k: ds.load_mnist(n_train=10, n_test=10, **k),
    "petfinder": lambda **k: ds.load_petfinder_mini(n_rows=20, **k),
    "flowers": lambda **k: ds.load_flower_photos(n_images=3, **k),
    "imdb": lambda **k: ds.load_imdb_reviews(n_train=10, n_test=10, **k),
    "california": lambda **k: ds.load_california_housing(n_rows=10, **k),
}


@pytest.mark.parametrize("name", list(LOADERS))
def test_unreachable_mirror_falls_back_only_when_allowed(name, cache, tmp_path, monkeypatch):
    monkeypatch.setenv(ds.MIRROR_ENV, f"http://127.0.0.1:{_closed_port()}")
    kwargs = {"dest": tmp_path / "fl"} if name == "flowers" else {}
    with pytest.warns(OfflineDataWarning, match="download failed.*(refused|URLError)"):
        data = LOADERS[name](offline=None, **kwargs)
    assert data.offline is True
    with pytest.raises(OSError, match="refused"):
        LOADERS[name](offline=False)
    assert [f for f in cached_files(cache) if "standin" not in f] == []


def test_file_mirror(tmp_path, cache):
    """A mirror on shared storage: a file:// URL."""
    files, arrays = mnist_files(n_train=4, n_test=2)
    (tmp_path / "m" / "mnist").mkdir(parents=True)
    for name, body in files.items():
        (tmp_path / "m" / "mnist" / name).write_bytes(body)
    data = ds.load_mnist(offline=False, mirror=(tmp_path / "m").as_uri())
    assert data.x_test.shape == (2, 28, 28)
    np.testing.assert_array_equal(data.y_train, arrays["y_train"])


def test_mirror_setting(monkeypatch):
    monkeypatch.delenv(ds.MIRROR_ENV, raising=False)
    assert ds.source_url(ds.IMDB_URL, "imdb", "aclImdb_v1.tar.gz") == ds.IMDB_URL
    monkeypatch.setenv(ds.MIRROR_ENV, "http://mirror.internal/data/")
    assert ds.source_url(ds.IMDB_URL, "imdb", "aclImdb_v1.tar.gz") == (
        "http://mirror.internal/data/imdb/aclImdb_v1.tar.gz"
    )
    assert ds.source_url(ds.IMDB_URL, "imdb", "aclImdb_v1.tar.gz", mirror="") == ds.IMDB_URL
    assert ds.source_url(ds.IMDB_URL, "imdb", "x", mirror="http://other") == "http://other/imdb/x"
    # Every download has a place in the documented layout.
    assert set(ds.MIRROR_LAYOUT) == {
        "fashion_mnist",
        "mnist",
        "petfinder_mini",
        "flower_photos",
        "imdb",
        "california_housing",
    }
