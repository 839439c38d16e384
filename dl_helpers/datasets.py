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


# ---------------------------------------------------------------------------------------------
# TensorFlow / HuggingFace (TF) notebooks: PetFinder-mini (table), flower photos (JPEG files),
# IMDB reviews (labelled text). Same two paths as above: the real data online, a stand-in
# with the same schema offline.
# ---------------------------------------------------------------------------------------------

PETFINDER_URL = "http://storage.googleapis.com/download.tensorflow.org/data/petfinder-mini.zip"
# petfinder-mini.csv: 11,537 rows; column -> pandas dtype kind ("O" text, "i" integer).
PETFINDER_COLUMNS: dict[str, str] = {
    "Type": "O", "Age": "i", "Breed1": "O", "Gender": "O", "Color1": "O", "Color2": "O",
    "MaturitySize": "O", "FurLength": "O", "Vaccinated": "O", "Sterilized": "O",
    "Health": "O", "Fee": "i", "Description": "O", "PhotoAmt": "i", "AdoptionSpeed": "i",
}  # fmt: skip
PETFINDER_ROWS = 11537

# Category values as they appear in the real file (most frequent first).
_PET_CATEGORIES: dict[str, list[str]] = {
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
_PET_BREEDS = [
    "Mixed Breed", "Domestic Short Hair", "Domestic Medium Hair", "Tabby", "Domestic Long Hair",
    "Siamese", "Persian", "Labrador Retriever", "Shih Tzu", "Poodle", "Terrier", "Golden Retriever",
    "German Shepherd Dog", "Calico", "Oriental Short Hair", "Beagle", "Rottweiler", "Husky",
]  # fmt: skip


@dataclass
class TableDataset:
    """A pandas table with where it came from."""

    frame: object  # pandas.DataFrame (pandas is imported lazily)
    offline: bool
    source: str


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

    cols: dict[str, object] = {c: pick(v) for c, v in _PET_CATEGORIES.items()}
    cols["Type"] = rng.choice(["Dog", "Cat"], size=n, p=[0.54, 0.46])
    breed_p = np.r_[0.45, 0.2, 0.1, np.full(len(_PET_BREEDS) - 3, 0.25 / (len(_PET_BREEDS) - 3))]
    cols["Breed1"] = rng.choice(_PET_BREEDS, size=n, p=breed_p)
    age = np.minimum(rng.gamma(1.0, 10.0, n).astype(np.int64) + 1, 255)
    fee = np.where(rng.random(n) < 0.8, 0, rng.integers(1, 11, n) * 50).astype(np.int64)
    photos = rng.poisson(3.5, n).astype(np.int64)
    score = (
        -0.04 * age + 0.25 * photos - 0.004 * fee
        + np.where(cols["Health"] == "Healthy", 0.5, -0.5)
        + np.where(cols["Sterilized"] == "Yes", -0.6, 0.3)
        + rng.normal(0, 0.8, n)
    )  # fmt: skip
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
        member = next(m for m in z.namelist() if m.endswith("petfinder-mini.csv"))
        with z.open(member) as f:
            return pd.read_csv(f)


def load_petfinder_mini(
    offline: bool | None = None, n_rows: int | None = None, seed: int = 0
) -> TableDataset:
    """PetFinder-mini (TensorFlow's structured-data tutorial table: pets and adoption speed).

    ``n_rows`` keeps a random sample (``seed``) of that many rows. Offline stand-in:
    :func:`petfinder_standin`, the same columns, dtypes and category values.
    """
    import zipfile

    mode = resolve_offline(offline)
    if mode is not True:
        try:
            dest = data_dir() / "petfinder_mini" / "petfinder-mini.zip"
            dest.parent.mkdir(parents=True, exist_ok=True)
            frame = _read_petfinder_zip(_download(PETFINDER_URL, dest))
            if n_rows is not None and n_rows < len(frame):
                frame = frame.sample(n=n_rows, random_state=seed).reset_index(drop=True)
            return TableDataset(frame, offline=False, source=PETFINDER_URL)
        except (OSError, zipfile.BadZipFile, StopIteration) as e:
            if mode is False:
                raise
            reason = f"download failed: {e!r}"
    else:
        reason = f"offline requested ({OFFLINE_ENV} or offline=True)"
    announce_standin(
        "PetFinder-mini", "a synthetic table with its columns, dtypes and category values", reason
    )
    rows = PETFINDER_ROWS if n_rows is None else n_rows
    return TableDataset(petfinder_standin(rows, seed), True, "dl_helpers.petfinder_standin")


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


def _safe_extract(tar, dest: Path, members=None) -> None:
    """Extract a tar without letting member paths escape ``dest``."""
    dest = dest.resolve()
    chosen = []
    for m in members if members is not None else tar.getmembers():
        target = (dest / m.name).resolve()
        if not str(target).startswith(str(dest) + os.sep) or m.issym() or m.islnk():
            continue
        chosen.append(m)
    import tarfile

    if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: also refuse device files etc.
        tar.extractall(dest, members=chosen, filter="data")
    else:
        tar.extractall(dest, members=chosen)


def _image_files(root: Path, classes: list[str], n: int | None, seed: int):
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


def load_flower_photos(
    offline: bool | None = None,
    n_images: int | None = None,
    dest: str | os.PathLike | None = None,
    seed: int = 0,
) -> ImageFiles:
    """The TensorFlow flower photos (3,670 JPEGs in 5 class folders), as files on disk.

    Online: downloaded and extracted under the data cache (``DL_HELPERS_DATA_DIR``).
    ``n_images`` keeps a random sample (``seed``). Offline stand-in: JPEGs cut from
    scikit-learn's sample photos (:func:`flower_photos_standin`), written under ``dest``
    (default: the data cache); 100 files unless ``n_images`` says otherwise.
    """
    import tarfile

    mode = resolve_offline(offline)
    if mode is not True:
        try:
            base = data_dir()
            root = base / "flower_photos"
            if not (root / FLOWER_CLASSES[0]).is_dir():
                tgz = _download(FLOWERS_URL, base / "flower_photos.tgz", timeout=120)
                with tarfile.open(tgz) as t:
                    _safe_extract(t, base)
            files, labels = _image_files(root, FLOWER_CLASSES, n_images, seed)
            if not files:
                raise OSError(f"no JPEG files under {root}")
            return ImageFiles(root, files, labels, FLOWER_CLASSES, False, FLOWERS_URL)
        except (OSError, tarfile.TarError) as e:
            if mode is False:
                raise
            reason = f"download failed: {e!r}"
    else:
        reason = f"offline requested ({OFFLINE_ENV} or offline=True)"
    n = 100 if n_images is None else int(n_images)
    announce_standin(
        "flower photos", f"{n} JPEG crops of scikit-learn's 2 sample photos, labels meaningless",
        reason,
    )  # fmt: skip
    root = Path(dest) if dest is not None else data_dir() / "flower_photos_standin"
    if root.exists():  # a stand-in of another size or seed must not mix with this one
        for old in root.glob("*/standin_*.jpg"):
            old.unlink()
    flower_photos_standin(root, n, seed)
    files, labels = _image_files(root, FLOWER_CLASSES, None, seed)
    return ImageFiles(root, files, labels, FLOWER_CLASSES, True, "sklearn load_sample_images")


IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_CLASSES = ["neg", "pos"]


@dataclass
class TextDataset:
    """Labelled texts (IMDB: 0 = negative, 1 = positive review)."""

    train_texts: list[str]
    train_labels: np.ndarray
    test_texts: list[str]
    test_labels: np.ndarray
    class_names: list[str]
    offline: bool
    source: str


_POS_WORDS = [
    "wonderful", "brilliant", "moving", "superb", "delightful", "gripping", "charming",
    "excellent", "beautiful", "hilarious", "touching", "masterful", "great", "enjoyable",
]  # fmt: skip
_NEG_WORDS = [
    "boring", "awful", "dull", "terrible", "clumsy", "tedious", "lifeless", "predictable",
    "painful", "bad", "weak", "forgettable", "annoying", "poor",
]  # fmt: skip
_TOPICS = [
    "the acting", "the plot", "the script", "the soundtrack", "the ending", "the cast",
    "the direction", "the dialogue", "the photography", "the pacing", "the story", "the lead",
]  # fmt: skip
_OPINIONS = [
    "{topic} was {word}.", "I found {topic} {word}.", "Honestly, {topic} is {word}.",
    "{topic} felt {word} from start to finish.", "What a {word} film this was.",
    "Overall a {word} experience.", "My friends thought {topic} was {word} too.",
]  # fmt: skip
_NEUTRAL = [
    "I saw this movie last weekend with my family.", "It runs a little over two hours.",
    "The film is based on a novel from the seventies.", "It was shot in black and white.",
    "I rented it on a rainy Sunday.", "The director also made a sequel.",
    "Most of it takes place in a small town.", "It came out the same year as my favourite film.",
]  # fmt: skip


def imdb_standin(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """``n`` short synthetic movie reviews with balanced labels (1 = positive).

    Each review mixes neutral sentences with opinions; most opinions carry the review's
    polarity, one in five the opposite one (so single words do not decide the label alone),
    and ``<br />`` tags appear as in the real reviews.
    """
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 2).astype(np.int64)
    rng.shuffle(labels)
    texts = []
    for y in labels:
        sentences = []
        for _ in range(int(rng.integers(2, 6))):
            if rng.random() < 0.35:
                sentences.append(str(rng.choice(_NEUTRAL)))
                continue
            positive = bool(y) if rng.random() < 0.8 else not y
            word = str(rng.choice(_POS_WORDS if positive else _NEG_WORDS))
            s = str(rng.choice(_OPINIONS)).format(topic=str(rng.choice(_TOPICS)), word=word)
            sentences.append(s[0].upper() + s[1:])
        sep = " <br /><br />" if rng.random() < 0.3 else " "
        texts.append(sep.join(sentences))
    return texts, labels


def _read_imdb_split(root: Path, split: str) -> tuple[list[str], np.ndarray]:
    texts, labels = [], []
    for y, c in enumerate(IMDB_CLASSES):
        for f in sorted((root / split / c).glob("*.txt")):
            texts.append(f.read_text(encoding="utf-8"))
            labels.append(y)
    return texts, np.asarray(labels, dtype=np.int64)


def _take(texts: list[str], labels: np.ndarray, n: int | None, rng) -> tuple[list[str], np.ndarray]:
    order = rng.permutation(len(texts))
    if n is not None:
        order = order[:n]
    return [texts[i] for i in order], labels[order]


def load_imdb_reviews(
    offline: bool | None = None, n_train: int | None = None, n_test: int | None = None,
    seed: int = 0,
) -> TextDataset:  # fmt: skip
    """The IMDB movie reviews (Maas et al. 2011; 25k train / 25k test, pos/neg), shuffled.

    Online: aclImdb_v1.tar.gz (84 MB), extracted under the data cache without the unlabelled
    part. Offline stand-in: :func:`imdb_standin` (2,000/1,000 reviews unless sizes are given).
    """
    import tarfile

    mode = resolve_offline(offline)
    rng = np.random.default_rng(seed)
    if mode is not True:
        try:
            base = data_dir()
            root = base / "aclImdb"
            if not (root / "test" / "pos").is_dir():
                tgz = _download(IMDB_URL, base / "aclImdb_v1.tar.gz", timeout=300)
                with tarfile.open(tgz) as t:
                    wanted = [m for m in t.getmembers() if "/unsup" not in m.name]
                    _safe_extract(t, base, wanted)
            train, test = _read_imdb_split(root, "train"), _read_imdb_split(root, "test")
            if not train[0] or not test[0]:
                raise OSError(f"no reviews under {root}")
            xtr, ytr = _take(*train, n_train, rng)
            xte, yte = _take(*test, n_test, rng)
            return TextDataset(xtr, ytr, xte, yte, IMDB_CLASSES, False, IMDB_URL)
        except (OSError, tarfile.TarError) as e:
            if mode is False:
                raise
            reason = f"download failed: {e!r}"
    else:
        reason = f"offline requested ({OFFLINE_ENV} or offline=True)"
    announce_standin("IMDB reviews", "short synthetic movie reviews, labels 0/1", reason)
    n_tr = 2000 if n_train is None else int(n_train)
    n_te = 1000 if n_test is None else int(n_test)
    xtr, ytr = imdb_standin(n_tr, seed)
    xte, yte = imdb_standin(n_te, seed + 1)
    return TextDataset(xtr, ytr, xte, yte, IMDB_CLASSES, True, "dl_helpers.imdb_standin")


# ---------------------------------------------------------------------------------------------
# California Housing (regression on 8 numeric features). Online: scikit-learn's fetcher (the
# StatLib file from figshare); offline: a stand-in with the same columns, ranges and dtypes.
# ---------------------------------------------------------------------------------------------

CALIFORNIA_FEATURES = [
    "MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude",
    "Longitude",
]  # fmt: skip
CALIFORNIA_TARGET = "MedHouseVal"  # median house value, in units of $100,000 (capped at 5.00001)
CALIFORNIA_ROWS = 20640

# (latitude, longitude, share of the rows): the state's big metropolitan areas, then the rest.
_CA_CENTRES = [
    (34.05, -118.25, 0.33), (37.77, -122.42, 0.22), (32.72, -117.16, 0.09),
    (38.58, -121.49, 0.08), (36.74, -119.78, 0.06),
]  # fmt: skip


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
        1.1 + 0.42 * income - 0.35 * inland + 0.004 * age - 0.12 * (occupancy - 3)
        + rng.normal(0, 0.35, n)
    )  # fmt: skip
    value = np.clip(value, 0.14999, 5.00001)
    cols = [income, age, rooms, bedrooms, population, occupancy, lat, lon]
    frame = pd.DataFrame(dict(zip(CALIFORNIA_FEATURES, cols, strict=True)))
    frame[CALIFORNIA_TARGET] = value
    return frame.astype(np.float64)


def load_california_housing(
    offline: bool | None = None, n_rows: int | None = None, seed: int = 0
) -> TableDataset:
    """California Housing (1990 census block groups: 20,640 rows, 8 features, house value).

    ``frame`` has the 8 :data:`CALIFORNIA_FEATURES` and :data:`CALIFORNIA_TARGET`, float64.
    ``n_rows`` keeps a random sample (``seed``). Online: ``sklearn.datasets.
    fetch_california_housing`` (cached under the data folder). Offline stand-in:
    :func:`california_housing_standin`.
    """
    mode = resolve_offline(offline)
    if mode is not True:
        try:
            from sklearn.datasets import fetch_california_housing

            home = data_dir() / "sklearn"
            bunch = fetch_california_housing(data_home=str(home), as_frame=True, n_retries=1)
            frame = bunch.frame.astype(np.float64)
            if n_rows is not None and n_rows < len(frame):
                frame = frame.sample(n=n_rows, random_state=seed)
            frame = frame.reset_index(drop=True)[CALIFORNIA_FEATURES + [CALIFORNIA_TARGET]]
            return TableDataset(frame, offline=False, source="sklearn fetch_california_housing")
        except OSError as e:  # URLError, HTTPError, timeouts and a bad cache are all OSErrors
            if mode is False:
                raise
            reason = f"download failed: {e!r}"
    else:
        reason = f"offline requested ({OFFLINE_ENV} or offline=True)"
    announce_standin(
        "California Housing", "a synthetic table with its 8 features and target", reason
    )
    rows = CALIFORNIA_ROWS if n_rows is None else n_rows
    frame = california_housing_standin(rows, seed)
    return TableDataset(frame, True, "dl_helpers.california_housing_standin")
