"""Tables: PetFinder-mini (pets and their adoption speed) and California Housing (regression).

Offline stand-ins: synthetic tables with the real columns, dtypes, category values and ranges,
with a target that depends on the features, so a model has something to learn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dl_helpers.notebook._datasets._download import data_dir, fetch, source_url
from dl_helpers.offline import with_fallback


@dataclass
class TableDataset:
    """A pandas table with where it came from."""

    frame: object  # pandas.DataFrame (pandas is imported lazily)
    offline: bool
    source: str


PETFINDER_URL = "http://storage.googleapis.com/download.tensorflow.org/data/petfinder-mini.zip"
# petfinder-mini.csv: 11,537 rows; column -> pandas dtype kind ("O" text, "i" integer).
PETFINDER_COLUMNS: dict[str, str] = {
    "Type": "O",
    "Age": "i",
    "Breed1": "O",
    "Gender": "O",
    "Color1": "O",
    "Color2": "O",
    "MaturitySize": "O",
    "FurLength": "O",
    "Vaccinated": "O",
    "Sterilized": "O",
    "Health": "O",
    "Fee": "i",
    "Description": "O",
    "PhotoAmt": "i",
    "AdoptionSpeed": "i",
}
PETFINDER_ROWS = 11537

# Category values as they appear in the real file (most frequent first).
PET_CATEGORIES: dict[str, list[str]] = {
    "Type": ["Dog", "Cat"],
    "Gender": ["Female", "Male", "Mixed"],
    "Color1": ["Black", "Brown", "Golden", "Cream", "Gray", "White", "Yellow"],
    "Color2": ["No Color", "White", "Brown", "Cream", "Gray", "Golden", "Yellow"],
    "MaturitySize": ["Medium", "Small", "Large", "Extra Large"],
    "FurLength": ["Short", "Medium", "Long"],
    "Vaccinated": ["No", "Yes", "Not Sure"],
    "Sterilized": ["No", "Yes", "Not Sure"],
    "Health": ["Healthy", "Minor Injury", "Serious Injury"],
}
PET_BREEDS = [
    "Mixed Breed",
    "Domestic Short Hair",
    "Domestic Medium Hair",
    "Tabby",
    "Domestic Long Hair",
    "Siamese",
    "Persian",
    "Labrador Retriever",
    "Shih Tzu",
    "Poodle",
    "Terrier",
    "Golden Retriever",
    "German Shepherd Dog",
    "Calico",
    "Oriental Short Hair",
    "Beagle",
    "Rottweiler",
    "Husky",
]


def petfinder_standin(n_rows: int = PETFINDER_ROWS, seed: int = 0):
    """A synthetic table with petfinder-mini.csv's columns, dtypes and category values.

    ``AdoptionSpeed`` (0-4; 4 = not adopted) depends on age, photos, fee, health and
    sterilisation through a noisy score, so a model has something to learn; about a quarter of
    the rows are "not adopted", like the real file.
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = int(n_rows)

    def pick(values, p_first=0.55):
        k = len(values)
        p = np.full(k, (1 - p_first) / (k - 1)) if k > 1 else np.ones(1)
        p[0] = p_first if k > 1 else 1.0
        return rng.choice(values, size=n, p=p)

    cols: dict[str, object] = {c: pick(v) for c, v in PET_CATEGORIES.items()}
    cols["Type"] = rng.choice(["Dog", "Cat"], size=n, p=[0.54, 0.46])
    breed_p = np.r_[0.45, 0.2, 0.1, np.full(len(PET_BREEDS) - 3, 0.25 / (len(PET_BREEDS) - 3))]
    cols["Breed1"] = rng.choice(PET_BREEDS, size=n, p=breed_p)
    age = np.minimum(rng.gamma(1.0, 10.0, n).astype(np.int64) + 1, 255)
    fee = np.where(rng.random(n) < 0.8, 0, rng.integers(1, 11, n) * 50).astype(np.int64)
    photos = rng.poisson(3.5, n).astype(np.int64)
    score = (
        -0.04 * age
        + 0.25 * photos
        - 0.004 * fee
        + np.where(cols["Health"] == "Healthy", 0.5, -0.5)
        + np.where(cols["Sterilized"] == "Yes", -0.6, 0.3)
        + rng.normal(0, 0.8, n)
    )
    # Lowest quarter of scores: not adopted (4); the rest spread over speeds 0-3.
    not_adopted = score < np.quantile(score, 0.27)
    edges = np.quantile(score[~not_adopted], [0.25, 0.5, 0.75]) if (~not_adopted).any() else []
    speed = np.where(not_adopted, 4, 3 - np.digitize(score, edges))
    cols["Age"] = age
    cols["Fee"] = fee
    cols["PhotoAmt"] = photos
    cols["AdoptionSpeed"] = speed.astype(np.int64)
    cols["Description"] = np.array(
        [
            f"{t.lower()} looking for a home, {a} months old"
            for t, a in zip(cols["Type"], age, strict=True)
        ],
        dtype=object,
    )
    frame = pd.DataFrame({c: cols[c] for c in PETFINDER_COLUMNS})
    for c, kind in PETFINDER_COLUMNS.items():
        frame[c] = frame[c].astype(np.int64 if kind == "i" else object)
    return frame


def _read_petfinder_zip(path: Path):
    import zipfile

    import pandas as pd

    with zipfile.ZipFile(path) as z:
        members = [m for m in z.namelist() if m.endswith("petfinder-mini.csv")]
        if not members:
            raise ValueError(f"no petfinder-mini.csv in the zip (members: {z.namelist()[:5]})")
        with z.open(members[0]) as f:
            frame = pd.read_csv(f)
    missing = [c for c in PETFINDER_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"petfinder-mini.csv lacks the columns {missing}")
    return frame


def load_petfinder_mini(
    offline: bool | None = None,
    n_rows: int | None = None,
    seed: int = 0,
    mirror: str | None = None,
) -> TableDataset:
    """PetFinder-mini (TensorFlow's structured-data tutorial table: pets and adoption speed).

    Online: ``petfinder-mini.zip`` (``mirror``: ``<mirror>/petfinder_mini/petfinder-mini.zip``).
    ``n_rows`` keeps a random sample (``seed``) of that many rows. Offline stand-in:
    :func:`petfinder_standin`, the same columns, dtypes and category values.
    """
    url = source_url(PETFINDER_URL, "petfinder_mini", "petfinder-mini.zip", mirror)

    def real():
        dest = data_dir() / "petfinder_mini" / "petfinder-mini.zip"
        frame = fetch(url, dest, _read_petfinder_zip, "a zip holding petfinder-mini.csv")
        if n_rows is not None and n_rows < len(frame):
            frame = frame.sample(n=n_rows, random_state=seed).reset_index(drop=True)
        return TableDataset(frame, offline=False, source=url)

    def standin():
        rows = PETFINDER_ROWS if n_rows is None else n_rows
        return TableDataset(petfinder_standin(rows, seed), True, "dl_helpers.petfinder_standin")

    what = "a synthetic table with its columns, dtypes and category values"
    return with_fallback("PetFinder-mini", real, standin, what, offline)


# ---------------------------------------------------------------------------------------------
# California Housing (regression on 8 numeric features): the StatLib file that scikit-learn's
# fetch_california_housing downloads, read the way that function reads it.

CALIFORNIA_URL = "https://ndownloader.figshare.com/files/5976036"  # cal_housing.tgz
CALIFORNIA_SHA256 = "aaa5c9a6afe2225cc2aed2723682ae403280c4a3695a2ddda4ffb5d8215ea681"
CALIFORNIA_MEMBER = "CaliforniaHousing/cal_housing.data"
# cal_housing.data's 9 comma-separated columns, in file order.
CALIFORNIA_RAW_COLUMNS = [
    "longitude",
    "latitude",
    "housingMedianAge",
    "totalRooms",
    "totalBedrooms",
    "population",
    "households",
    "medianIncome",
    "medianHouseValue",
]

CALIFORNIA_FEATURES = [
    "MedInc",
    "HouseAge",
    "AveRooms",
    "AveBedrms",
    "Population",
    "AveOccup",
    "Latitude",
    "Longitude",
]
CALIFORNIA_TARGET = "MedHouseVal"  # median house value, in units of $100,000 (capped at 5.00001)
CALIFORNIA_ROWS = 20640

# (latitude, longitude, share of the rows): the state's big metropolitan areas, then the rest.
_CA_CENTRES = [
    (34.05, -118.25, 0.33),
    (37.77, -122.42, 0.22),
    (32.72, -117.16, 0.09),
    (38.58, -121.49, 0.08),
    (36.74, -119.78, 0.06),
]


def california_housing_standin(n_rows: int = CALIFORNIA_ROWS, seed: int = 0):
    """A synthetic table with California Housing's 8 features and target (all float64).

    Rows cluster around the big cities (the rest spread over the state's box), and the value
    grows with income and near the coast and falls with crowding, plus noise, capped at 5.00001
    like the real target. Learnable, so a regression has something to fit.
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = int(n_rows)
    shares = np.array([c[2] for c in _CA_CENTRES])
    which = rng.choice(len(_CA_CENTRES) + 1, size=n, p=np.r_[shares, 1 - shares.sum()])
    lat = rng.uniform(32.54, 41.95, n)
    lon = rng.uniform(-124.35, -114.31, n)
    for i, (clat, clon, _) in enumerate(_CA_CENTRES):
        sel = which == i
        lat[sel] = clat + rng.normal(0, 0.25, sel.sum())
        lon[sel] = clon + rng.normal(0, 0.25, sel.sum())
    lat = np.clip(lat, 32.54, 41.95).round(2)
    lon = np.clip(lon, -124.35, -114.31).round(2)
    income = np.clip(rng.lognormal(np.log(3.5), 0.45, n), 0.4999, 15.0001)
    age = rng.integers(1, 53, n).astype(np.float64)
    rooms = np.clip(rng.normal(4.6 + 0.25 * income, 1.0, n), 0.85, 140.0)
    bedrooms = np.clip(rooms * rng.normal(0.2, 0.02, n), 0.33, 35.0)
    population = np.clip(rng.lognormal(np.log(1170), 0.7, n), 3, 35682).round()
    occupancy = np.clip(rng.lognormal(np.log(2.9), 0.25, n), 0.69, 1243.0)
    # distance from a straight line along the coast (degrees): the further inland, the cheaper
    inland = np.clip((lon + 121.0) + 0.8 * (lat - 36.5) + 1.5, 0, None)
    value = (
        1.1
        + 0.42 * income
        - 0.35 * inland
        + 0.004 * age
        - 0.12 * (occupancy - 3)
        + rng.normal(0, 0.35, n)
    )
    value = np.clip(value, 0.14999, 5.00001)
    cols = [income, age, rooms, bedrooms, population, occupancy, lat, lon]
    frame = pd.DataFrame(dict(zip(CALIFORNIA_FEATURES, cols, strict=True)))
    frame[CALIFORNIA_TARGET] = value
    return frame.astype(np.float64)


def california_from_raw(raw: np.ndarray):
    """The 8 features and target (as ``fetch_california_housing`` derives them) from the raw
    9-column block-group table: per-household averages, house value in $100,000."""
    import pandas as pd

    c = {name: raw[:, i].astype(np.float64) for i, name in enumerate(CALIFORNIA_RAW_COLUMNS)}
    households = c["households"]
    cols = [
        c["medianIncome"],
        c["housingMedianAge"],
        c["totalRooms"] / households,
        c["totalBedrooms"] / households,
        c["population"],
        c["population"] / households,
        c["latitude"],
        c["longitude"],
    ]
    frame = pd.DataFrame(dict(zip(CALIFORNIA_FEATURES, cols, strict=True)))
    frame[CALIFORNIA_TARGET] = c["medianHouseValue"] / 100000.0
    return frame


def _read_california_tgz(path: Path):
    import tarfile

    with tarfile.open(path, mode="r:gz") as t:
        member = t.extractfile(CALIFORNIA_MEMBER)  # KeyError if absent
        if member is None:
            raise ValueError(f"{CALIFORNIA_MEMBER} is not a file in the archive")
        raw = np.loadtxt(member, delimiter=",", ndmin=2)
    if raw.shape[1] != len(CALIFORNIA_RAW_COLUMNS) or not len(raw):
        raise ValueError(f"{CALIFORNIA_MEMBER}: shape {raw.shape}, expected (n, 9)")
    return california_from_raw(raw)


def load_california_housing(
    offline: bool | None = None,
    n_rows: int | None = None,
    seed: int = 0,
    mirror: str | None = None,
) -> TableDataset:
    """California Housing (1990 census block groups: 20,640 rows, 8 features, house value).

    ``frame`` has the 8 :data:`CALIFORNIA_FEATURES` and :data:`CALIFORNIA_TARGET`, float64.
    ``n_rows`` keeps a random sample (``seed``). Online: ``cal_housing.tgz``, the file
    ``sklearn.datasets.fetch_california_housing`` downloads (checked against its sha256), read
    and derived the same way; ``mirror``: ``<mirror>/california_housing/cal_housing.tgz``.
    Offline stand-in: :func:`california_housing_standin`.
    """
    url = source_url(CALIFORNIA_URL, "california_housing", "cal_housing.tgz", mirror)

    def real():
        dest = data_dir() / "california_housing" / "cal_housing.tgz"
        frame = fetch(
            url,
            dest,
            _read_california_tgz,
            f"a tgz holding {CALIFORNIA_MEMBER}",
            sha256=CALIFORNIA_SHA256,
        )
        if n_rows is not None and n_rows < len(frame):
            frame = frame.sample(n=n_rows, random_state=seed)
        frame = frame.reset_index(drop=True)[CALIFORNIA_FEATURES + [CALIFORNIA_TARGET]]
        return TableDataset(frame, offline=False, source=url)

    def standin():
        rows = CALIFORNIA_ROWS if n_rows is None else n_rows
        frame = california_housing_standin(rows, seed)
        return TableDataset(frame, True, "dl_helpers.california_housing_standin")

    what = "a synthetic table with its 8 features and target"
    return with_fallback("California Housing", real, standin, what, offline)
