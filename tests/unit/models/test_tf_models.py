"""dl_helpers.models in the TensorFlow environment: the stand-ins the TF notebooks use are
seeded (same seed, same weights and outputs), work as the notebooks use them (generate, the
sentiment pipeline, a saved and reloaded copy), and follow the offline policy.

Run with ``.envs/tf/bin/python -m pytest tests/unit/models/test_tf_models.py``; skipped
elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")
pytest.importorskip("transformers")

from dl_helpers.models import _tf as tm  # noqa: E402
from dl_helpers.notebook._datasets import imdb_standin  # noqa: E402
from dl_helpers.offline import OfflineDataWarning  # noqa: E402

PREFIX = "translate English to French: "


def _sentences(n, seed=0):
    texts, _ = imdb_standin(n, seed=seed)
    return [PREFIX + t.split(".")[0] + "." for t in texts]


def _generate(model, tokenizer, texts, new_tokens=6):
    enc = tokenizer(
        texts, padding="max_length", truncation=True, max_length=32, return_tensors="tf"
    )
    ids = model.generate(
        input_ids=enc["input_ids"],
        attention_mask=enc["attention_mask"],
        max_new_tokens=new_tokens,
        do_sample=False,
    )
    return tokenizer.batch_decode(ids, skip_special_tokens=True)


@pytest.fixture
def default_mode(monkeypatch):
    """offline=None as users run it; the hub is out of reach (HF_HUB_OFFLINE=1, no cache)."""
    monkeypatch.delenv("DL_HELPERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_t5_standin_is_seeded_and_its_output_follows_the_input(tmp_path):
    texts = _sentences(60)
    with pytest.warns(OfflineDataWarning, match="2-layer T5 with random weights"):
        a = tm.t5_model_tf(texts=texts, offline=True, seed=0)
    b = tm.t5_model_tf(texts=texts, offline=True, seed=0)
    c = tm.t5_model_tf(texts=texts, offline=True, seed=1)
    assert a.offline and a.tokenizer.eos_token_id is not None
    wa, wb, wc = (np.concatenate([w.numpy().ravel() for w in m.model.weights]) for m in (a, b, c))
    np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(wa, wc)
    out = _generate(a.model, a.tokenizer, texts[:8])
    assert out == _generate(b.model, b.tokenizer, texts[:8])
    assert len(set(out)) > 1  # a random T5 that repeats one answer for every input is useless
    # What the notebook does next: save, reload (as Spark's workers do), same outputs.
    from transformers import AutoTokenizer, TFT5ForConditionalGeneration

    a.model.save_pretrained(tmp_path / "t5", safe_serialization=True)
    a.tokenizer.save_pretrained(tmp_path / "t5")
    again = TFT5ForConditionalGeneration.from_pretrained(tmp_path / "t5")
    assert _generate(again, AutoTokenizer.from_pretrained(tmp_path / "t5"), texts[:8]) == out


def test_t5_falls_back_only_when_allowed(default_mode):
    with pytest.warns(OfflineDataWarning, match="download failed"):
        m = tm.t5_model_tf("t5-small", texts=_sentences(30), offline=None)
    assert m.offline
    with pytest.raises(OSError, match="huggingface|t5-small"):
        tm.t5_model_tf("t5-small", texts=_sentences(30), offline=False)
    with pytest.raises(ValueError, match="none were given"):
        tm.t5_model_tf(offline=True)


@pytest.mark.slow
def test_sentiment_standin_learns(default_mode):
    texts, labels = imdb_standin(1000, seed=0)
    test_texts, test_labels = imdb_standin(200, seed=1)
    with pytest.warns(OfflineDataWarning, match="2-layer DistilBERT"):
        m = tm.sentiment_pipeline_tf(None, texts, labels, offline=None, epochs=5, verbose=0)
    assert m.offline
    out = m.model(test_texts, batch_size=32, truncation=True)
    assert {r["label"] for r in out} == {"NEGATIVE", "POSITIVE"}  # it learned something
    agree = np.mean(
        [(r["label"] == "POSITIVE") == bool(y) for r, y in zip(out, test_labels, strict=True)]
    )
    assert agree > 0.7, agree
    with pytest.raises(OSError):
        tm.sentiment_pipeline_tf(None, texts, labels, offline=False)


def test_sentiment_standin_same_seed_same_scores():
    texts, labels = imdb_standin(100, seed=0)
    runs = [
        tm.sentiment_pipeline_tf(None, texts, labels, offline=True, epochs=1, seed=s, verbose=0)
        for s in (3, 3, 4)
    ]
    scores = [[r["score"] for r in m.model(texts[:16], batch_size=16)] for m in runs]
    assert scores[0] == scores[1]
    assert scores[0] != scores[2]


def test_resnet50_standin_is_seeded():
    with pytest.warns(OfflineDataWarning, match="ResNet50 ImageNet weights: random"):
        a = tm.resnet50_keras(offline=True, image_size=32, seed=0)
    b = tm.resnet50_keras(offline=True, image_size=32, seed=0)
    assert a.offline and a.model.output_shape == (None, 1000)
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(
        a.model(x, training=False).numpy(), b.model(x, training=False).numpy()
    )
