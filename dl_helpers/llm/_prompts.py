"""Prompt checks, chat-template token ids, and the prompt orders that batches are made from:
similar lengths together (less padding), shared prefixes together (servers' prefix caching)."""

from __future__ import annotations

from collections.abc import Sequence


def chat_messages(prompt: str, system: str | None = None) -> list[dict]:
    msgs = [{"role": "system", "content": system}] if system else []
    return msgs + [{"role": "user", "content": prompt}]


def prompt_problem(prompt) -> str | None:
    """Why ``prompt`` cannot be answered (null, not text, blank), or None if it can."""
    if prompt is None or (isinstance(prompt, float) and prompt != prompt):
        return "is null"
    if not isinstance(prompt, str):
        return f"expected text, got {type(prompt).__name__}"
    if not prompt.strip():
        return "is empty"
    return None


def check_prompts(prompts: Sequence, row_ids: Sequence | None = None) -> list[str]:
    """The prompts as str; a null, non-text or blank prompt raises naming its row."""
    for i, p in enumerate(prompts):
        problem = prompt_problem(p)
        if problem:
            row = row_ids[i] if row_ids is not None else i
            raise ValueError(f"prompt (row {row}): {problem}")
    return list(prompts)


def context_length(model_or_config) -> int | None:
    cfg = getattr(model_or_config, "config", model_or_config)
    return getattr(cfg, "max_position_embeddings", None)


def length_problem(n: int, max_new_tokens: int, context: int | None) -> str | None:
    """Why a prompt of ``n`` tokens cannot be answered within ``context``, or None."""
    if context and n + max_new_tokens > context:
        return (
            f"{n} tokens with the chat template; with max_new_tokens={max_new_tokens} that "
            f"exceeds the model's context of {context} tokens"
        )
    return None


def check_lengths(lengths: Sequence[int], row_ids, max_new_tokens: int, context: int | None):
    """Raise naming the first row whose prompt plus ``max_new_tokens`` exceeds ``context``."""
    for i, n in enumerate(lengths):
        problem = length_problem(n, max_new_tokens, context)
        if problem:
            row = row_ids[i] if row_ids is not None else i
            raise ValueError(f"prompt (row {row}): {problem}")


def chat_token_ids(tokenizer, prompts: Sequence[str], system: str | None = None) -> list[list[int]]:
    """Each prompt's chat-template token ids, ready for the assistant's answer."""
    texts = [
        tokenizer.apply_chat_template(
            chat_messages(p, system), tokenize=False, add_generation_prompt=True
        )
        for p in prompts
    ]
    return [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


def length_batches(
    lengths: Sequence[int], batch_size: int | None, length_aware: bool = True
) -> list[list[int]]:
    """Positions of ``lengths`` in batches of at most ``batch_size`` (None: one batch).

    ``length_aware``: the positions sorted by length (stable) before they are cut, so that each
    batch holds prompts of similar length and pads little; else in row order.
    """
    n = len(lengths)
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = sorted(range(n), key=lambda i: lengths[i]) if length_aware else list(range(n))
    size = batch_size or max(n, 1)
    return [order[i : i + size] for i in range(0, n, size)]


def padding_tokens(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> int:
    """Pad tokens that left-padding each batch to its longest prompt adds."""
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


def prefix_order(prompts: Sequence[str], systems: Sequence[str | None] | None = None) -> list[int]:
    """Positions of ``prompts`` ordered so that prompts sharing a prefix come together.

    The key is (system prompt, prompt text): sorting it puts prompts with the same system prompt
    and the same leading instruction next to each other, so that a server with prefix caching
    (vLLM) computes the shared prefix once for the requests sent together. Stable: equal keys
    keep their row order. Answers go back to the rows through the positions.
    """
    sys_of = systems if systems is not None else [None] * len(prompts)
    if len(sys_of) != len(prompts):
        raise ValueError(f"{len(sys_of)} system prompts for {len(prompts)} prompts")
    return sorted(range(len(prompts)), key=lambda i: (sys_of[i] or "", prompts[i]))
