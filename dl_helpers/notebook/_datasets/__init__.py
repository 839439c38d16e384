"""The notebooks' sample data sets, each with an offline stand-in of the same schema.

Online, the real data set is downloaded from its public source, or the mirror that
``DL_HELPERS_DATA_MIRROR`` (or ``mirror=``) names, into ``DL_HELPERS_DATA_DIR``; offline, a
stand-in built from data installed packages ship, with ``.offline`` True. Which one runs is the
policy of :mod:`dl_helpers.offline`; the README describes the mirror's layout. The loaders and
what a notebook needs of them are public in :mod:`dl_helpers.notebook`; the rest (URLs,
stand-in builders, file readers) stays here for the package and its tests.
"""

from dl_helpers.notebook._datasets._download import (
    CACHE_ENV,
    MIRROR_ENV,
    DownloadError,
    data_dir,
    resolve_mirror,
    source_url,
)
from dl_helpers.notebook._datasets._images import (
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
from dl_helpers.notebook._datasets._tables import (
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
from dl_helpers.notebook._datasets._text import (
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
