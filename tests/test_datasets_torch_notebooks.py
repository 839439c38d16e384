"""California Housing loader (housing_regression_torch): both paths give the same schema, the
stand-in is learnable and announced, and a failed download falls back only when allowed."""

from __future__ import annotations

import numpy as np
import pytest

from dl_helpers import datasets as ds

COLUMNS = ds.CALIFORNIA_FEATURES + [ds.CALIFORNIA_TARGET]


def test_standin_has_the_real_schema_and_ranges():
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


def test_standin_is_deterministic_and_learnable():
    a = ds.california_housing_standin(3000, seed=1)
    b = ds.california_housing_standin(3000, seed=1)
    assert a.equals(b)
    assert not a.equals(ds.california_housing_standin(3000, seed=2))
    x = np.c_[a[ds.CALIFORNIA_FEATURES].to_numpy(), np.ones(len(a))]
    y = a[ds.CALIFORNIA_TARGET].to_numpy()
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    r2 = 1 - ((x @ coef - y) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert r2 > 0.5, r2


def test_offline_load_announces_the_standin(capsys):
    with pytest.warns(ds.OfflineDataWarning, match="California Housing"):
        data = ds.load_california_housing(offline=True, n_rows=500)
    assert data.offline and len(data.frame) == 500
    assert list(data.frame.columns) == COLUMNS
    assert "OFFLINE STAND-IN for California Housing" in capsys.readouterr().err


def _failing_fetch(**kwargs):
    raise OSError("no network in this test")


def test_failed_download_falls_back_unless_online_was_required(monkeypatch):
    import sklearn.datasets

    monkeypatch.setattr(sklearn.datasets, "fetch_california_housing", _failing_fetch)
    monkeypatch.delenv(ds.OFFLINE_ENV, raising=False)
    with pytest.warns(ds.OfflineDataWarning, match="download failed"):
        data = ds.load_california_housing(offline=None, n_rows=10)
    assert data.offline and len(data.frame) == 10
    with pytest.raises(OSError, match="no network"):
        ds.load_california_housing(offline=False)


def test_online_path_keeps_columns_and_samples(monkeypatch):
    """The sklearn frame (as the real fetcher returns it) is sampled and ordered as documented."""
    import types

    import pandas as pd
    import sklearn.datasets

    real_like = ds.california_housing_standin(200, seed=5)
    shuffled = real_like[list(reversed(COLUMNS))].astype(np.float32)  # other order and dtype

    def fake_fetch(**kwargs):
        assert kwargs["as_frame"] is True
        return types.SimpleNamespace(frame=pd.DataFrame(shuffled))

    monkeypatch.setattr(sklearn.datasets, "fetch_california_housing", fake_fetch)
    data = ds.load_california_housing(offline=False, n_rows=50, seed=3)
    assert not data.offline
    assert list(data.frame.columns) == COLUMNS and len(data.frame) == 50
    assert all(data.frame[c].dtype == np.float64 for c in COLUMNS)
    assert list(data.frame.index) == list(range(50))
