"""dl_helpers.models: which path is taken (hub or stand-in), and that the stand-ins are
complete Hugging Face folders the notebooks' loading code reads like a hub model."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("transformers")

from dl_helpers.models import _text as tm  # noqa: E402
from dl_helpers.offline import OfflineDataWarning  # noqa: E402


def test_toy_french_and_sentences():
    assert tm.toy_french("The plot was dull.") == "le intrigue était terne ."
    assert tm.toy_french("Unknown words stay") == "unknown words stay"
    text = "It was shot in black and white. <br /><br />The plot was dull! Short. It was shot"
    assert tm.split_sentences([text, "The plot was dull!"]) == [
        "It was shot in black and white.",
        "The plot was dull!",
        "Short.",
        "It was shot",
    ]


@pytest.fixture
def default_mode(monkeypatch):
    """offline=None as users run it (the test run sets DL_HELPERS_OFFLINE=1); the hub is out of
    reach here (HF_HUB_OFFLINE=1, no cached copy), as on an air-gapped machine."""
    monkeypatch.delenv("DL_HELPERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_unreachable_hub_falls_back_only_when_allowed(default_mode, tmp_path):
    with pytest.warns(OfflineDataWarning, match="download failed.*could not be loaded"):
        src = tm.translation_model("t5-small", offline=None, dest=tmp_path, train_steps=2)
    assert src.offline and os.path.isdir(src.path)
    with pytest.raises(OSError, match="'t5-small' could not be loaded from the hub"):
        tm.translation_model("t5-small", offline=False, dest=tmp_path, train_steps=2)
    with pytest.raises(OSError, match="could not be loaded from the hub"):
        tm.sentence_embedding_model(offline=False)
    packaged = tm.sentence_embedding_model(offline=None)  # the packaged copy, no banner
    assert not packaged.offline and "packaged" in packaged.description


def test_a_model_that_loads_is_used_as_named(default_mode, tmp_path):
    """A name the loader can resolve (here a local folder) is handed on unchanged."""
    with pytest.warns(OfflineDataWarning):
        built = tm.sentiment_model(offline=True, dest=tmp_path, train_steps=2)
    src = tm.sentiment_model(built.path, offline=False)
    assert src.path == built.path and not src.offline


def test_tiny_t5_is_a_complete_folder_and_is_reused(tmp_path, monkeypatch):
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    with pytest.warns(OfflineDataWarning, match="tiny T5"):
        src = tm.translation_model(offline=True, dest=tmp_path, train_steps=5)
    assert src.offline and os.path.isdir(src.path)

    tok = AutoTokenizer.from_pretrained(src.path)
    model = AutoModelForSeq2SeqLM.from_pretrained(src.path).eval()
    ids = tok(tm.TRANSLATION_PREFIX + "The plot was dull.")["input_ids"]
    assert ids[-1] == tok.eos_token_id and tok.unk_token_id not in ids
    assert tok.decode(ids, skip_special_tokens=True) == (
        tm.TRANSLATION_PREFIX + "The plot was dull."
    )
    batch = tok(
        [tm.TRANSLATION_PREFIX + "The plot was dull.", "A"], padding=True, return_tensors="pt"
    )
    with torch.inference_mode():
        out = model.generate(**batch, max_new_tokens=4)
    assert out.shape[0] == 2 and out.shape[1] <= 5

    def fail(*a, **k):
        raise AssertionError("rebuilt although a complete build exists")

    monkeypatch.setattr(tm, "build_tiny_t5", fail)
    with pytest.warns(OfflineDataWarning):
        again = tm.translation_model(offline=True, dest=tmp_path, train_steps=5)
    assert again.path == src.path


def test_tiny_sentiment_classifier_works_in_a_pipeline(tmp_path):
    from transformers import pipeline

    with pytest.warns(OfflineDataWarning, match="tiny BERT"):
        src = tm.sentiment_model(offline=True, dest=tmp_path, train_steps=5)
    pipe = pipeline("sentiment-analysis", model=src.path, device="cpu")
    out = pipe(["What a wonderful film this was.", "x"], batch_size=2, truncation=True)
    assert [set(r) for r in out] == [{"label", "score"}] * 2
    assert {r["label"] for r in out} <= {"NEGATIVE", "POSITIVE"}
    assert all(0.5 <= r["score"] <= 1.0 for r in out)


def test_sentence_embedding_model_offline_is_the_packaged_real_model():
    src = tm.sentence_embedding_model(offline=True)
    assert not src.offline and "packaged" in src.description  # the real weights
    assert os.path.isfile(os.path.join(src.path, "model.safetensors"))
    with pytest.raises(OSError, match="not available offline"):
        tm.sentence_embedding_model("sentence-transformers/all-mpnet-base-v2", offline=True)
