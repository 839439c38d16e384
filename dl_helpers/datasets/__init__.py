"""Data sets for the notebooks, each with an offline stand-in.

Each loader has two paths:

- online: the real data set, downloaded from its public source (or a mirror, below) into the
  data cache (``DL_HELPERS_DATA_DIR``, default ``~/.cache/dl_helpers``);
- offline: a stand-in with the same schema (shapes, dtypes, class count, column names), built
  from data that installed packages ship, for CI and air-gapped clusters without a mirror.

Which one runs is the offline policy of :mod:`dl_helpers.offline` (the ``offline`` argument,
else ``DL_HELPERS_OFFLINE``, else "try the download, fall back to the stand-in, loudly").

Mirror: for an air-gapped cluster with an internal copy of the files, set
``DL_HELPERS_DATA_MIRROR`` (or pass ``mirror=`` to a loader; the argument wins, ``""`` turns
the mirror off) to the mirror's base URL (``http(s)://...`` or ``file:///...``). It replaces
the public base URL of every data-set download; the mirror holds each data set's files, under
their public names, in the folders of :data:`MIRROR_LAYOUT`: ``<mirror>/<folder>/<file>``.

Modules: ``_download`` (cache, mirror, atomic checked downloads), ``_images`` (FashionMNIST,
MNIST, flower photos), ``_tables`` (PetFinder-mini, California Housing), ``_text`` (IMDB
reviews). Every public name is imported from ``dl_helpers.datasets``.
"""

from dl_helpers.datasets._download import (
    CACHE_ENV,
    MIRROR_ENV,
    DownloadError,
    data_dir,
    resolve_mirror,
    source_url,
)
from dl_helpers.datasets._images import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_URL,
    FLOWER_CLASSES,
    FLOWERS_URL,
    IDX_FILES,
    MNIST_CLASSES,
    MNIST_URL,
    ImageDataset,
    ImageFiles,
    digits_28x28,
    flower_photos_standin,
    load_fashion_mnist,
    load_flower_photos,
    load_mnist,
    read_idx,
)
from dl_helpers.datasets._tables import (
    CALIFORNIA_FEATURES,
    CALIFORNIA_RAW_COLUMNS,
    CALIFORNIA_ROWS,
    CALIFORNIA_TARGET,
    CALIFORNIA_URL,
    PET_BREEDS,
    PET_CATEGORIES,
    PETFINDER_COLUMNS,
    PETFINDER_ROWS,
    PETFINDER_URL,
    TableDataset,
    california_from_raw,
    california_housing_standin,
    load_california_housing,
    load_petfinder_mini,
    petfinder_standin,
)
from dl_helpers.datasets._text import (
    IMDB_CLASSES,
    IMDB_URL,
    NEG_WORDS,
    POS_WORDS,
    TextDataset,
    first_sentence,
    imdb_standin,
    load_imdb_reviews,
)

# Folder and file names on a mirror (``<mirror>/<folder>/<file>``), per data set.
MIRROR_LAYOUT: dict[str, list[str]] = {
    "fashion_mnist": list(IDX_FILES.values()),
    "mnist": list(IDX_FILES.values()),
    "petfinder_mini": ["petfinder-mini.zip"],
    "flower_photos": ["flower_photos.tgz"],
    "imdb": ["aclImdb_v1.tar.gz"],
    "california_housing": ["cal_housing.tgz"],
}

__all__ = [
    "CACHE_ENV",
    "MIRROR_ENV",
    "MIRROR_LAYOUT",
    "DownloadError",
    "data_dir",
    "resolve_mirror",
    "source_url",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_URL",
    "FLOWER_CLASSES",
    "FLOWERS_URL",
    "IDX_FILES",
    "MNIST_CLASSES",
    "MNIST_URL",
    "ImageDataset",
    "ImageFiles",
    "digits_28x28",
    "flower_photos_standin",
    "load_fashion_mnist",
    "load_flower_photos",
    "load_mnist",
    "read_idx",
    "CALIFORNIA_FEATURES",
    "CALIFORNIA_RAW_COLUMNS",
    "CALIFORNIA_ROWS",
    "CALIFORNIA_TARGET",
    "CALIFORNIA_URL",
    "PET_BREEDS",
    "PET_CATEGORIES",
    "PETFINDER_COLUMNS",
    "PETFINDER_ROWS",
    "PETFINDER_URL",
    "TableDataset",
    "california_from_raw",
    "california_housing_standin",
    "load_california_housing",
    "load_petfinder_mini",
    "petfinder_standin",
    "IMDB_CLASSES",
    "IMDB_URL",
    "NEG_WORDS",
    "POS_WORDS",
    "TextDataset",
    "first_sentence",
    "imdb_standin",
    "load_imdb_reviews",
]
