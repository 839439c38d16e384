"""TensorFlow models by name, with small stand-ins built here when the hub or the weights are
out of reach: the TensorFlow counterpart of :mod:`dl_helpers.models`.

Which path runs is the offline policy of :mod:`dl_helpers.offline` (the ``offline`` argument,
else ``DL_HELPERS_OFFLINE``, else "try the real model, fall back to the stand-in, loudly").
Stand-ins are built in memory, seeded (the same ``seed`` gives the same weights and outputs),
and only show that a pipeline works: their outputs say nothing about the real model.

- :func:`t5_model_tf`: a Hugging Face TF T5 and its tokenizer (``t5-small``); stand-in: a
  2-layer T5 with random weights and a Unigram tokenizer trained on the given texts.
- :func:`sentiment_pipeline_tf`: a TF ``pipeline("sentiment-analysis")``; stand-in: a 2-layer
  DistilBERT with a WordPiece tokenizer, both trained here on the given labelled texts.
- :func:`resnet50_keras`: Keras' ResNet50 with ImageNet weights; stand-in: random weights.

TensorFlow, tf-keras and transformers are imported inside the functions.
"""

from __future__ import annotations

import collections
import math
import time
from dataclasses import dataclass

from dl_helpers.models._text import TINY_T5
from dl_helpers.offline import with_fallback


@dataclass
class TFModel:
    """A loaded model (and its tokenizer or pipeline, where it has one)."""

    model: object
    tokenizer: object | None
    offline: bool  # True: the offline stand-in (random or briefly trained weights)
    description: str


def _word_counts(tok, texts) -> collections.Counter:
    """Words of ``texts`` as ``tok``'s normalizer and pre-tokenizer split them, counted."""
    counts: collections.Counter = collections.Counter()
    for t in texts:
        norm = tok.normalizer.normalize_str(str(t))
        counts.update(w for w, _ in tok.pre_tokenizer.pre_tokenize_str(norm))
    return counts


def _by_count(counts) -> list[str]:
    """Keys, most frequent first, ties in alphabetical order (the same order every run)."""
    return [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


# ---------------------------------------------------------------------------------------------
# Translation (T5)


def build_standin_t5_tf(texts, vocab_size: int = 800, seed: int = 0):
    """(model, tokenizer): a 2-layer TF T5 with random weights (seeded) and a Unigram tokenizer
    made from ``texts``. The large ``initializer_factor`` keeps the random model's outputs
    varying with its input (with the default, every input decodes to the same tokens)."""
    import tf_keras
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import T5Config, T5TokenizerFast, TFT5ForConditionalGeneration

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    # Unigram pieces: whole words (most frequent first) and every character, scored by log
    # frequency. Built here rather than by the tokenizers trainer, whose vocabulary changes
    # from run to run: the same texts must give the same token ids.
    specials = ["<pad>", "</s>", "<unk>"]
    counts = _word_counts(tok, texts)
    chars = collections.Counter()
    for w, n in counts.items():
        for ch in w:
            chars[ch] += n
    words = [w for w in _by_count(counts) if len(w) > 1][
        : max(0, vocab_size - len(specials) - len(chars))
    ]
    total = sum(counts.values()) + sum(chars.values())
    pieces = [(w, math.log(counts[w] / total)) for w in words]
    pieces += [(ch, math.log(chars[ch] / total) - 10.0) for ch in _by_count(chars)]
    tok.model = models.Unigram([(t, 0.0) for t in specials] + pieces, unk_id=2, byte_fallback=False)
    tok.add_special_tokens(specials)
    eos = tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", eos)]
    )
    tokenizer = T5TokenizerFast(tokenizer_object=tok, extra_ids=0)
    config = T5Config(
        vocab_size=len(tokenizer),
        **TINY_T5,
        initializer_factor=20.0,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    tf_keras.utils.set_random_seed(seed)  # Python, NumPy and TF: Keras' unseeded initializers
    net = TFT5ForConditionalGeneration(config)
    net.build_in_name_scope()
    return net, tokenizer


def t5_model_tf(
    name: str = "t5-small",
    texts=(),
    offline: bool | None = None,
    vocab_size: int = 800,
    seed: int = 0,
) -> TFModel:
    """``name`` from the hub (``AutoTokenizer`` + ``TFT5ForConditionalGeneration``), else the
    stand-in of :func:`build_standin_t5_tf`, its tokenizer trained on ``texts`` (the inputs
    the model will see, task prefix included)."""

    def real() -> TFModel:
        from transformers import AutoTokenizer, TFT5ForConditionalGeneration

        tokenizer = AutoTokenizer.from_pretrained(name)
        model = TFT5ForConditionalGeneration.from_pretrained(name)
        return TFModel(model, tokenizer, False, f"{name} from the Hugging Face hub")

    what = "a 2-layer T5 with random weights, tokenizer trained here"

    def standin() -> TFModel:
        if not len(texts):
            raise ValueError("the T5 stand-in trains its tokenizer on texts: none were given")
        model, tokenizer = build_standin_t5_tf(texts, vocab_size, seed)
        return TFModel(model, tokenizer, True, what)

    return with_fallback(name, real, standin, what, offline)


# ---------------------------------------------------------------------------------------------
# Sentiment classification (DistilBERT)

SENTIMENT_LABELS = {0: "NEGATIVE", 1: "POSITIVE"}  # as in the task's default model


def build_standin_sentiment_tf(
    train_texts,
    train_labels,
    epochs: int = 4,
    seed: int = 0,
    vocab_size: int = 1000,
    seq_len: int = 64,
    verbose: int = 2,
):
    """(model, tokenizer): a 2-layer TF DistilBERT classifier and a WordPiece tokenizer, both
    trained on ``train_texts`` / ``train_labels`` (0/1) for ``epochs`` epochs; seeded (Python,
    NumPy and TF). Fewer than 3 epochs on a couple of thousand reviews learn nothing."""
    import numpy as np
    import tf_keras
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import (
        DistilBertConfig,
        DistilBertTokenizerFast,
        TFDistilBertForSequenceClassification,
    )

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    # Whole words (most frequent first) and every character, alone and as a continuation;
    # built here, not by the trainer, so the same texts give the same token ids every run.
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    counts = _word_counts(tok, train_texts)
    chars = sorted({ch for w in counts for ch in w})
    base = specials + chars + ["##" + ch for ch in chars]
    words = [w for w in _by_count(counts) if len(w) > 1][: max(0, vocab_size - len(base))]
    vocab = {t: i for i, t in enumerate(base + words)}
    tok.model = models.WordPiece(vocab, unk_token="[UNK]")
    tok.add_special_tokens(specials)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tokenizer = DistilBertTokenizerFast(tokenizer_object=tok, model_max_length=128)
    tf_keras.utils.set_random_seed(seed)
    config = DistilBertConfig(
        vocab_size=len(tokenizer),
        dim=64,
        hidden_dim=128,
        n_layers=2,
        n_heads=4,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
        id2label=dict(SENTIMENT_LABELS),
        label2id={v: k for k, v in SENTIMENT_LABELS.items()},
    )
    net = TFDistilBertForSequenceClassification(config)
    net.build_in_name_scope()
    enc = tokenizer(
        list(train_texts),
        padding="max_length",
        truncation=True,
        max_length=seq_len,
        return_tensors="np",
    )
    net.compile(optimizer=tf_keras.optimizers.Adam(1e-3))  # the model computes its own loss
    net.fit(dict(enc), np.asarray(train_labels), epochs=epochs, batch_size=32, verbose=verbose)
    return net, tokenizer


def sentiment_pipeline_tf(
    name: str | None = None,
    train_texts=(),
    train_labels=(),
    offline: bool | None = None,
    epochs: int = 4,
    seed: int = 0,
    verbose: int = 2,
) -> TFModel:
    """A TF ``pipeline("sentiment-analysis")`` (``model`` is the pipeline): ``name`` (None:
    the task's default model) from the hub, else one around the stand-in of
    :func:`build_standin_sentiment_tf`, trained on ``train_texts`` / ``train_labels``."""
    label = name or "sentiment-analysis default model"

    def real() -> TFModel:
        from transformers import pipeline

        pipe = pipeline("sentiment-analysis", model=name, framework="tf", dtype=None)
        return TFModel(pipe, pipe.tokenizer, False, f"{label} from the Hugging Face hub")

    what = "a 2-layer DistilBERT trained here for a moment on synthetic reviews"

    def standin() -> TFModel:
        from transformers import pipeline

        if not len(train_texts):
            raise ValueError("the sentiment stand-in is trained on texts: none were given")
        t0 = time.perf_counter()
        net, tokenizer = build_standin_sentiment_tf(
            train_texts, train_labels, epochs, seed, verbose=verbose
        )
        print(f"stand-in trained in {time.perf_counter() - t0:.1f} s")
        pipe = pipeline(
            "sentiment-analysis", model=net, tokenizer=tokenizer, framework="tf", dtype=None
        )
        return TFModel(pipe, tokenizer, True, what)

    return with_fallback(label, real, standin, what, offline)


# ---------------------------------------------------------------------------------------------
# Image classification (Keras ResNet50)


def resnet50_keras(
    offline: bool | None = None, image_size: int = 224, seed: int | None = None
) -> TFModel:
    """Keras' ResNet50 (logits: ``classifier_activation=None``) for ``image_size`` square RGB
    input, with ImageNet weights (downloaded by Keras), else random initial weights (seeded
    when ``seed`` is given)."""
    import keras

    shape = (image_size, image_size, 3)

    def real() -> TFModel:
        model = keras.applications.ResNet50(
            weights="imagenet", classifier_activation=None, input_shape=shape
        )
        return TFModel(model, None, False, "ResNet50 with ImageNet weights")

    what = "random initial weights"

    def standin() -> TFModel:
        if seed is not None:
            keras.utils.set_random_seed(seed)
        model = keras.applications.ResNet50(
            weights=None, classifier_activation=None, input_shape=shape
        )
        return TFModel(model, None, True, f"ResNet50 with {what}")

    # Keras' weight download raises a plain Exception for network and HTTP errors.
    return with_fallback(
        "ResNet50 ImageNet weights", real, standin, what, offline, errors=(Exception,)
    )
