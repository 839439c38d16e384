"""Answers that follow a JSON schema: greedy generation masked token by token by llguidance (the
library vLLM offers as its "guidance" structured-output backend), so one schema serves the
in-process path and vLLM's ``response_format``.

Usage::

    schema = json_schema({"sentiment": ["positive", "negative"], "product": None}, max_chars=24)
    generate_fn(source.load, max_new_tokens=24, json_schema=schema)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

# Compact JSON (no whitespace between tokens): fewer tokens per answer, so a small
# max_new_tokens still closes the object.
COMPACT = {"whitespace_flexible": False}


def json_schema(fields: Mapping[str, Sequence[str] | None], max_chars: int = 24) -> dict:
    """A tight JSON schema for ``fields`` (as :func:`json_instruction` takes them): an object
    with every field required and nothing else; a field with values is an enum of them, a field
    without is a string of at most ``max_chars`` characters."""
    if not fields:
        raise ValueError("fields: give at least one field")
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    props = {
        k: {"enum": list(v)} if v else {"type": "string", "maxLength": max_chars}
        for k, v in fields.items()
    }
    return {
        "type": "object",
        "properties": props,
        "required": list(fields),
        "additionalProperties": False,
    }


def schema_grammar(schema: Mapping | str) -> str:
    """The llguidance grammar of ``schema`` (compact JSON); raises naming the problem."""
    from llguidance import LLMatcher

    text = schema if isinstance(schema, str) else json.dumps(schema)
    try:
        json.loads(text)
    except ValueError as e:
        raise ValueError(f"json_schema is not valid JSON: {e}") from None
    grammar = LLMatcher.grammar_from_json_schema(text, defaults=COMPACT)
    error = LLMatcher.validate_grammar(grammar)
    if error:
        raise ValueError(f"json_schema cannot be used for constrained decoding: {error}")
    return grammar


class SchemaConstraint:
    """A compiled schema for one tokenizer: :meth:`processor` gives a fresh transformers logits
    processor for each ``generate`` call (one matcher per row of the batch)."""

    def __init__(self, tokenizer, schema: Mapping | str):
        import llguidance.hf

        self.grammar = schema_grammar(schema)
        self.lltok = llguidance.hf.from_tokenizer(tokenizer)

    def matcher(self):
        from llguidance import LLMatcher

        m = LLMatcher(self.lltok, self.grammar, log_level=0)
        if m.is_error():
            raise ValueError(f"json_schema: {m.get_error()}")
        return m

    def processor(self, batch_size: int):
        matchers = [self.matcher() for _ in range(batch_size)]
        return _MaskProcessor(matchers, self.lltok.vocab_size, self.lltok.eos_tokens)


def allowed_tokens(matchers, vocab_size: int, width: int, eos_tokens):
    """A (len(matchers), width) bool tensor: the tokens of the tokenizer's ``vocab_size`` that
    each matcher allows next (only the end token once a matcher has stopped: the object is
    complete, or the matcher failed and the answer is reported unparsed); logits past the
    vocabulary (padding) are never allowed."""
    import torch

    words = (vocab_size + 31) // 32
    mask = torch.zeros((len(matchers), words), dtype=torch.int32)
    for i, m in enumerate(matchers):
        row = mask[i]
        if m.is_stopped() or m.is_error():
            for t in eos_tokens:
                bit = 1 << (t % 32)
                row[t // 32] |= bit - (1 << 32) if bit >= 1 << 31 else bit  # int32 words
        else:
            m.unsafe_compute_mask_ptr(row.data_ptr(), row.numel() * row.element_size())
    bits = torch.arange(32, dtype=torch.int32)
    allowed = ((mask.unsqueeze(-1) >> bits) & 1).view(len(matchers), -1)[:, :vocab_size] == 1
    if width > vocab_size:
        allowed = torch.nn.functional.pad(allowed, (0, width - vocab_size), value=False)
    return allowed[:, :width]


class _MaskProcessor:
    """Logits processor: feeds each row's last token to its matcher, then masks the tokens the
    schema does not allow next. Used for one ``generate`` call."""

    def __init__(self, matchers, vocab_size: int, eos_tokens):
        self.matchers = matchers
        self.vocab_size = vocab_size
        self.eos_tokens = list(eos_tokens)
        self.started = False

    def __call__(self, input_ids, scores):
        if input_ids.shape[0] != len(self.matchers):
            raise RuntimeError(f"{input_ids.shape[0]} rows for {len(self.matchers)} matchers")
        if self.started:
            for m, token in zip(self.matchers, input_ids[:, -1].tolist()):
                if not (m.is_stopped() or m.is_error()):
                    m.consume_token(token)
        self.started = True
        allowed = allowed_tokens(self.matchers, self.vocab_size, scores.shape[1], self.eos_tokens)
        allowed = allowed.to(scores.device)
        return scores.masked_fill(~allowed, float("-inf"))
