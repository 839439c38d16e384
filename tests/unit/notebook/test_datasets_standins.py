"""The offline stand-ins of every data set: the real schema (shapes, dtypes, columns, category
values, ranges), determinism for a seed, a learnable target, and the banner that announces them.
The real download paths are tested against a local mirror in test_datasets_mirror.py."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dl_helpers.notebook import _datasets as ds
from dl_helpers.notebook import load_fashion_mnist, load_mnist
from dl_helpers.offline import OfflineDataWarning

COLUMNS = ds.CALIFORNIA_FEATURES + [ds.CALIFORNIA_TARGET]


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


def test_digits_standin_is_deterministic_and_learnable():
    a = load_mnist(offline=True, n_test=200)
    b = load_mnist(offline=True, n_test=200)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    # nearest class mean on raw pixels is far above chance: the labels carry signal
    means = np.stack([a.x_train[a.y_train == k].mean(0) for k in range(10)])
    d = ((a.x_test[:, None] - means[None]) ** 2).sum(axis=(2, 3))
    assert (d.argmin(1) == a.y_test).mean() > 0.6


def test_idx_reader_roundtrip(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    p = tmp_path / "x-idx3-ubyte.gz"
    with gzip.open(p, "wb") as f:
        f.write(header + arr.tobytes())
    np.testing.assert_array_equal(ds.read_idx(p), arr)


def test_idx_reader_names_a_bad_file(tmp_path):
    p = tmp_path / "x-idx3-ubyte.gz"
    with gzip.open(p, "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + (5).to_bytes(4, "big") * 3 + bytes(10))
    with pytest.raises(ValueError, match=r"x-idx3-ubyte.gz: 26 bytes, its header \[5, 5, 5\]"):
        ds.read_idx(p)
    with gzip.open(p, "wb") as f:
        f.write(b"PK\x03\x04 not idx")
    with pytest.raises(ValueError, match="not an IDX file"):
        ds.read_idx(p)


def test_petfinder_standin_has_the_real_schema():
    with pytest.warns(OfflineDataWarning, match="PetFinder-mini"):
        table = ds.load_petfinder_mini(offline=True, n_rows=3000)
    f = table.frame
    assert table.offline is True
    assert list(f.columns) == list(ds.PETFINDER_COLUMNS)
    assert len(f) == 3000
    for col, kind in ds.PETFINDER_COLUMNS.items():
        assert f[col].dtype.kind == kind, col
        assert f[col].notna().all(), col
    for col, values in ds.PET_CATEGORIES.items():
        assert set(f[col]) <= set(values), col
    assert set(f["AdoptionSpeed"]) == {0, 1, 2, 3, 4}
    # About a quarter not adopted, as in the real file, and the target depends on the features.
    not_adopted = f["AdoptionSpeed"] == 4
    assert 0.2 < not_adopted.mean() < 0.35
    assert f.loc[not_adopted, "Age"].mean() > f.loc[~not_adopted, "Age"].mean()
    assert f.loc[not_adopted, "PhotoAmt"].mean() < f.loc[~not_adopted, "PhotoAmt"].mean()


def test_petfinder_standin_is_deterministic():
    a = ds.petfinder_standin(500, seed=3)
    b = ds.petfinder_standin(500, seed=3)
    c = ds.petfinder_standin(500, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_flower_standin_writes_jpegs_in_class_folders(tmp_path):
    with pytest.warns(OfflineDataWarning, match="flower photos"):
        imgs = ds.load_flower_photos(offline=True, n_images=12, dest=tmp_path / "fl")
    assert imgs.offline is True
    assert len(imgs.files) == 12 and len(imgs.labels) == 12
    assert sorted({f.parent.name for f in imgs.files}) == ds.FLOWER_CLASSES
    assert [imgs.class_names[y] for y in imgs.labels] == [f.parent.name for f in imgs.files]
    sizes = set()
    for f in imgs.files:
        with Image.open(f) as im:
            assert im.format == "JPEG" and im.mode == "RGB"
            sizes.add(im.size)
            pixels = np.asarray(im)
        assert pixels.std() > 5  # real photo content, not a flat image
    assert sizes <= {(320, 240), (240, 320)}
    # A smaller second run in the same folder leaves only its own files.
    with pytest.warns(OfflineDataWarning):
        again = ds.load_flower_photos(offline=True, n_images=5, dest=tmp_path / "fl")
    assert len(again.files) == 5
    assert len(list((tmp_path / "fl").glob("*/*.jpg"))) == 5


def test_flower_standin_is_deterministic(tmp_path):
    a = ds.flower_photos_standin(tmp_path / "a", 4, seed=7)
    b = ds.flower_photos_standin(tmp_path / "b", 4, seed=7)
    for fa in sorted(a.glob("*/*.jpg")):
        assert fa.read_bytes() == (b / fa.parent.name / fa.name).read_bytes()


def test_imdb_standin_is_balanced_text():
    with pytest.warns(OfflineDataWarning, match="IMDB"):
        data = ds.load_imdb_reviews(offline=True, n_train=400, n_test=100)
    assert data.offline is True and data.class_names == ["neg", "pos"]
    assert len(data.train_texts) == 400 and data.train_labels.shape == (400,)
    assert len(data.test_texts) == 100 and data.test_labels.shape == (100,)
    assert data.train_labels.dtype == np.int64
    assert data.train_labels.mean() == 0.5
    assert all(isinstance(t, str) and len(t) > 20 for t in data.train_texts)
    assert any("<br />" in t for t in data.train_texts)  # like the real reviews
    assert data.train_texts != data.test_texts[: len(data.train_texts)]


def test_imdb_standin_label_follows_the_words():
    texts, labels = ds.imdb_standin(2000, seed=0)
    pos, neg = set(ds.POS_WORDS), set(ds.NEG_WORDS)

    def polarity(t):
        words = t.replace(".", " ").lower().split()
        return sum(w in pos for w in words) - sum(w in neg for w in words)

    agree = np.mean([(polarity(t) > 0) == bool(y) for t, y in zip(texts, labels, strict=True)])
    assert agree > 0.75  # learnable, but not from a single word
    (a, ya), (b, yb) = ds.imdb_standin(50, seed=1), ds.imdb_standin(50, seed=1)
    assert a == b and ya.tolist() == yb.tolist()


def test_california_standin_has_the_real_schema_and_ranges():
    frame = ds.california_housing_standin()
    assert list(frame.columns) == COLUMNS
    assert len(frame) == ds.CALIFORNIA_ROWS == 20640
    assert all(frame[c].dtype == np.float64 for c in COLUMNS)
    assert not frame.isna().any().any()
    # the real data's bounds
    assert frame["Latitude"].between(32.54, 41.95).all()
    assert frame["Longitude"].between(-124.35, -114.31).all()
    assert frame["HouseAge"].between(1, 52).all()
    assert frame["MedInc"].between(0.4999, 15.0001).all()
    assert frame[ds.CALIFORNIA_TARGET].between(0.14999, 5.00001).all()
    assert 1.6 < frame[ds.CALIFORNIA_TARGET].mean() < 2.5  # real: 2.07


def test_california_standin_is_deterministic_and_learnable():
    a = ds.california_housing_standin(3000, seed=1)
    b = ds.california_housing_standin(3000, seed=1)
    assert a.equals(b)
    assert not a.equals(ds.california_housing_standin(3000, seed=2))
    x = np.c_[a[ds.CALIFORNIA_FEATURES].to_numpy(), np.ones(len(a))]
    y = a[ds.CALIFORNIA_TARGET].to_numpy()
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    r2 = 1 - ((x @ coef - y) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert r2 > 0.5, r2


def test_california_offline_load_announces_the_standin(capsys):
    with pytest.warns(OfflineDataWarning, match="California Housing"):
        data = ds.load_california_housing(offline=True, n_rows=500)
    assert data.offline and len(data.frame) == 500
    assert list(data.frame.columns) == COLUMNS
    assert "OFFLINE STAND-IN for California Housing" in capsys.readouterr().err
