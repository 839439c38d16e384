"""Unit tests for the data loaders of the TensorFlow / HuggingFace (TF) notebooks.

PetFinder-mini, flower photos and IMDB reviews: the offline stand-ins (schema, sizes,
determinism), the online readers fed with small archives of the real layout placed in the
download cache (no network), and the fall-back rules. Runs in the torch environment: nothing
here imports tensorflow.
"""

from __future__ import annotations

import io
import tarfile
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dl_helpers import datasets as ds


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty download cache; the DL_HELPERS_OFFLINE setting of the test run is removed."""
    d = tmp_path / "cache"
    monkeypatch.setenv(ds.CACHE_ENV, str(d))
    monkeypatch.delenv(ds.OFFLINE_ENV, raising=False)
    return d


@pytest.fixture
def no_network(monkeypatch):
    """Downloads fail as they do on an air-gapped machine."""

    def fail(url, dest, timeout=30.0):
        if dest.exists():
            return dest
        raise OSError(f"no network: {url}")

    monkeypatch.setattr(ds, "_download", fail)


def _jpeg_bytes(w=40, h=30, value=128) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


# ----------------------------------------------------------------------------- PetFinder-mini


def test_petfinder_standin_has_the_real_schema():
    with pytest.warns(ds.OfflineDataWarning, match="PetFinder-mini"):
        table = ds.load_petfinder_mini(offline=True, n_rows=3000)
    f = table.frame
    assert table.offline is True
    assert list(f.columns) == list(ds.PETFINDER_COLUMNS)
    assert len(f) == 3000
    for col, kind in ds.PETFINDER_COLUMNS.items():
        assert f[col].dtype.kind == kind, col
        assert f[col].notna().all(), col
    for col, values in ds._PET_CATEGORIES.items():
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


def test_petfinder_online_reads_the_zip_layout(cache):
    real = ds.petfinder_standin(50, seed=1)  # any frame with the real columns
    dest = cache / "petfinder_mini" / "petfinder-mini.zip"
    dest.parent.mkdir(parents=True)
    with zipfile.ZipFile(dest, "w") as z:
        z.writestr("petfinder-mini/petfinder-mini.csv", real.to_csv(index=False))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ds.OfflineDataWarning)
        table = ds.load_petfinder_mini(offline=False)
        sample = ds.load_petfinder_mini(offline=False, n_rows=10, seed=0)
    assert table.offline is False and table.source == ds.PETFINDER_URL
    pd.testing.assert_frame_equal(table.frame, real, check_dtype=False)
    assert len(sample.frame) == 10
    assert list(sample.frame.columns) == list(ds.PETFINDER_COLUMNS)


def test_petfinder_falls_back_only_when_allowed(cache, no_network):
    with pytest.warns(ds.OfflineDataWarning, match="download failed"):
        table = ds.load_petfinder_mini(n_rows=20)
    assert table.offline is True and len(table.frame) == 20
    with pytest.raises(OSError, match="no network"):
        ds.load_petfinder_mini(offline=False)


# ----------------------------------------------------------------------------- flower photos


def test_flower_standin_writes_jpegs_in_class_folders(tmp_path):
    with pytest.warns(ds.OfflineDataWarning, match="flower photos"):
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
    with pytest.warns(ds.OfflineDataWarning):
        again = ds.load_flower_photos(offline=True, n_images=5, dest=tmp_path / "fl")
    assert len(again.files) == 5
    assert len(list((tmp_path / "fl").glob("*/*.jpg"))) == 5


def test_flower_standin_is_deterministic(tmp_path):
    a = ds.flower_photos_standin(tmp_path / "a", 4, seed=7)
    b = ds.flower_photos_standin(tmp_path / "b", 4, seed=7)
    for fa in sorted(a.glob("*/*.jpg")):
        assert fa.read_bytes() == (b / fa.parent.name / fa.name).read_bytes()


def test_flower_online_extracts_the_archive_safely(cache):
    cache.mkdir(parents=True)
    with tarfile.open(cache / "flower_photos.tgz", "w:gz") as t:
        for i, c in enumerate(ds.FLOWER_CLASSES):
            _add(t, f"flower_photos/{c}/{i}.jpg", _jpeg_bytes(value=40 * i))
        _add(t, "flower_photos/LICENSE.txt", b"CC-BY")
        _add(t, "../escaped.jpg", _jpeg_bytes())  # must not leave the cache
    with warnings.catch_warnings():
        warnings.simplefilter("error", ds.OfflineDataWarning)
        imgs = ds.load_flower_photos(offline=False)
        two = ds.load_flower_photos(offline=False, n_images=2)
    assert imgs.offline is False and imgs.source == ds.FLOWERS_URL
    assert [f.parent.name for f in imgs.files] == ds.FLOWER_CLASSES
    assert imgs.labels.tolist() == [0, 1, 2, 3, 4]
    assert len(two.files) == 2
    assert not (cache.parent / "escaped.jpg").exists()


def test_flowers_fall_back_only_when_allowed(cache, no_network, tmp_path):
    with pytest.warns(ds.OfflineDataWarning, match="download failed"):
        imgs = ds.load_flower_photos(n_images=3, dest=tmp_path / "fl")
    assert imgs.offline is True and len(imgs.files) == 3
    with pytest.raises(OSError, match="no network"):
        ds.load_flower_photos(offline=False)


# ----------------------------------------------------------------------------- IMDB reviews


def test_imdb_standin_is_balanced_text():
    with pytest.warns(ds.OfflineDataWarning, match="IMDB"):
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
    pos, neg = set(ds._POS_WORDS), set(ds._NEG_WORDS)

    def polarity(t):
        words = t.replace(".", " ").lower().split()
        return sum(w in pos for w in words) - sum(w in neg for w in words)

    agree = np.mean([(polarity(t) > 0) == bool(y) for t, y in zip(texts, labels, strict=True)])
    assert agree > 0.75  # learnable, but not from a single word
    (a, ya), (b, yb) = ds.imdb_standin(50, seed=1), ds.imdb_standin(50, seed=1)
    assert a == b and ya.tolist() == yb.tolist()


def test_imdb_online_reads_the_archive_layout(cache):
    cache.mkdir(parents=True)
    with tarfile.open(cache / "aclImdb_v1.tar.gz", "w:gz") as t:
        for split in ("train", "test"):
            for c in ("pos", "neg"):
                for i in range(3):
                    _add(t, f"aclImdb/{split}/{c}/{i}_7.txt", f"{split} {c} review {i}".encode())
        _add(t, "aclImdb/train/unsup/0_0.txt", b"unlabelled")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ds.OfflineDataWarning)
        data = ds.load_imdb_reviews(offline=False, n_train=4)
    assert data.offline is False and data.source == ds.IMDB_URL
    assert len(data.train_texts) == 4 and len(data.test_texts) == 6
    for text, y in zip(data.train_texts + data.test_texts,
                       np.r_[data.train_labels, data.test_labels], strict=True):  # fmt: skip
        assert text.split()[1] == data.class_names[y]
    assert not (cache / "aclImdb" / "train" / "unsup").exists()
    test_only = ds.load_imdb_reviews(offline=False, n_train=0, n_test=2)
    assert test_only.train_texts == [] and len(test_only.test_texts) == 2


def test_imdb_falls_back_only_when_allowed(cache, no_network):
    with pytest.warns(ds.OfflineDataWarning, match="download failed"):
        data = ds.load_imdb_reviews(n_train=10, n_test=10)
    assert data.offline is True and len(data.train_texts) == 10
    with pytest.raises(OSError, match="no network"):
        ds.load_imdb_reviews(offline=False)
