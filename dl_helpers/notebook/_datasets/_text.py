"""Text: the IMDB movie reviews (labelled positive / negative).

Offline stand-in: short synthetic reviews whose words carry the label (:func:`imdb_standin`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dl_helpers.notebook._datasets._download import data_dir, fetch_extracted, source_url
from dl_helpers.offline import with_fallback

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


POS_WORDS = [
    "wonderful",
    "brilliant",
    "moving",
    "superb",
    "delightful",
    "gripping",
    "charming",
    "excellent",
    "beautiful",
    "hilarious",
    "touching",
    "masterful",
    "great",
    "enjoyable",
]
NEG_WORDS = [
    "boring",
    "awful",
    "dull",
    "terrible",
    "clumsy",
    "tedious",
    "lifeless",
    "predictable",
    "painful",
    "bad",
    "weak",
    "forgettable",
    "annoying",
    "poor",
]
_TOPICS = [
    "the acting",
    "the plot",
    "the script",
    "the soundtrack",
    "the ending",
    "the cast",
    "the direction",
    "the dialogue",
    "the photography",
    "the pacing",
    "the story",
    "the lead",
]
_OPINIONS = [
    "{topic} was {word}.",
    "I found {topic} {word}.",
    "Honestly, {topic} is {word}.",
    "{topic} felt {word} from start to finish.",
    "What a {word} film this was.",
    "Overall a {word} experience.",
    "My friends thought {topic} was {word} too.",
]
_NEUTRAL = [
    "I saw this movie last weekend with my family.",
    "It runs a little over two hours.",
    "The film is based on a novel from the seventies.",
    "It was shot in black and white.",
    "I rented it on a rainy Sunday.",
    "The director also made a sequel.",
    "Most of it takes place in a small town.",
    "It came out the same year as my favourite film.",
]


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
            word = str(rng.choice(POS_WORDS if positive else NEG_WORDS))
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


def _check_imdb(root: Path) -> None:
    empty = [
        f"aclImdb/{s}/{c}"
        for s in ("train", "test")
        for c in IMDB_CLASSES
        if not any((root / s / c).glob("*.txt"))
    ]
    if empty:
        raise ValueError(f"no reviews (*.txt) under {', '.join(empty)}")


def load_imdb_reviews(
    offline: bool | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    mirror: str | None = None,
) -> TextDataset:
    """The IMDB movie reviews (Maas et al. 2011; 25k train / 25k test, pos/neg), shuffled.

    Online: aclImdb_v1.tar.gz (84 MB), extracted under the data cache (folder ``imdb``) without
    the unlabelled part; ``mirror``: ``<mirror>/imdb/aclImdb_v1.tar.gz``. Offline stand-in:
    :func:`imdb_standin` (2,000/1,000 reviews unless sizes are given).
    """
    url = source_url(IMDB_URL, "imdb", "aclImdb_v1.tar.gz", mirror)
    rng = np.random.default_rng(seed)

    def real():
        root = fetch_extracted(
            url,
            data_dir() / "imdb",
            "aclImdb",
            _check_imdb,
            "the aclImdb tar.gz layout",
            keep=lambda m: "/unsup" not in m.name,
        )
        train, test = _read_imdb_split(root, "train"), _read_imdb_split(root, "test")
        xtr, ytr = _take(*train, n_train, rng)
        xte, yte = _take(*test, n_test, rng)
        return TextDataset(xtr, ytr, xte, yte, IMDB_CLASSES, False, url)

    def standin():
        n_tr = 2000 if n_train is None else int(n_train)
        n_te = 1000 if n_test is None else int(n_test)
        xtr, ytr = imdb_standin(n_tr, seed)
        xte, yte = imdb_standin(n_te, seed + 1)
        return TextDataset(xtr, ytr, xte, yte, IMDB_CLASSES, True, "dl_helpers.imdb_standin")

    what = "short synthetic movie reviews, labels 0/1"
    return with_fallback("IMDB reviews", real, standin, what, offline)


def first_sentence(text: str, max_chars: int = 300) -> str:
    """The first sentence of a review (HTML line breaks dropped), at most ``max_chars`` long."""
    text = re.sub(r"<br\s*/?>", " ", text)
    return re.split(r"(?<=[.!?])\s+", text.strip(), maxsplit=1)[0][:max_chars]
