"""Batched greedy generation in Spark tasks, and the prompt checks that every path shares: a
null or empty prompt, or one too long for the context, raises naming its row (never a silent
empty answer or a truncated prompt).

Usage::

    udf = predict_batch_udf(generate_fn(source.load, max_new_tokens=64, system="Be brief."),
                            return_type=return_type(), batch_size=8)
    df.withColumn("answer", udf("prompt", "id"))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


def return_type():
    """The Spark type of a generation result: struct<text: string, new_tokens: int>."""
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType

    return StructType([StructField("text", StringType()), StructField("new_tokens", IntegerType())])


def chat_messages(prompt: str, system: str | None = None) -> list[dict]:
    msgs = [{"role": "system", "content": system}] if system else []
    return msgs + [{"role": "user", "content": prompt}]


def check_prompts(prompts: Sequence, row_ids: Sequence | None = None) -> list[str]:
    """The prompts as str; a null, non-text or blank prompt raises naming its row."""
    out = []
    for i, p in enumerate(prompts):
        row = row_ids[i] if row_ids is not None else i
        if p is None or (isinstance(p, float) and p != p):
            raise ValueError(f"prompt (row {row}): is null")
        if not isinstance(p, str):
            raise ValueError(f"prompt (row {row}): expected text, got {type(p).__name__}")
        if not p.strip():
            raise ValueError(f"prompt (row {row}): is empty")
        out.append(p)
    return out


def context_length(model_or_config) -> int | None:
    cfg = getattr(model_or_config, "config", model_or_config)
    return getattr(cfg, "max_position_embeddings", None)


def check_lengths(lengths: Sequence[int], row_ids, max_new_tokens: int, context: int | None):
    """Raise naming the first row whose prompt plus ``max_new_tokens`` exceeds ``context``."""
    if not context:
        return
    for i, n in enumerate(lengths):
        if n + max_new_tokens > context:
            row = row_ids[i] if row_ids is not None else i
            raise ValueError(
                f"prompt (row {row}): {n} tokens with the chat template; with max_new_tokens="
                f"{max_new_tokens} that exceeds the model's context of {context} tokens"
            )


def chat_token_ids(tokenizer, prompts: Sequence[str], system: str | None = None) -> list[list[int]]:
    """Each prompt's chat-template token ids, ready for the assistant's answer."""
    texts = [
        tokenizer.apply_chat_template(
            chat_messages(p, system), tokenize=False, add_generation_prompt=True
        )
        for p in prompts
    ]
    return [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


def generate(
    model, tokenizer, prompts: Sequence, max_new_tokens: int, *, system=None, row_ids=None
) -> tuple[list[str], list[int]]:
    """Greedy answers for ``prompts`` in one left-padded batch: (texts, new token counts)."""
    import torch

    prompts = check_prompts(prompts, row_ids)
    ids = chat_token_ids(tokenizer, prompts, system)
    check_lengths([len(x) for x in ids], row_ids, max_new_tokens, context_length(model))
    batch = tokenizer.pad({"input_ids": ids}, return_tensors="pt", padding=True)
    with torch.inference_mode():
        out = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    new = out[:, batch["input_ids"].shape[1] :]
    stop = {tokenizer.eos_token_id, tokenizer.pad_token_id}
    counts = []
    for row in new.tolist():
        n = next((i for i, t in enumerate(row) if t in stop), len(row))
        counts.append(n + (1 if n < len(row) else 0))  # the end token is generated too
    texts = tokenizer.batch_decode(new, skip_special_tokens=True)
    return texts, counts


def generate_fn(load: Callable, max_new_tokens: int, system: str | None = None) -> Callable:
    """A ``make_predict_fn``: ``load()`` -> (model, tokenizer), run once per Python worker.

    The predict function takes (prompts, row ids) and returns ``{"text", "new_tokens"}``: each
    prompt becomes a chat (``system`` message optional) through the tokenizer's chat template,
    and the batch is left-padded and decoded greedily for at most ``max_new_tokens``.
    """

    def make_predict_fn():
        import numpy as np

        model, tokenizer = load()

        def predict(prompts, row_ids):
            texts, counts = generate(
                model,
                tokenizer,
                list(prompts),
                max_new_tokens,
                system=system,
                row_ids=list(row_ids),
            )
            return {"text": np.array(texts, dtype=object), "new_tokens": np.array(counts)}

        return predict

    return make_predict_fn
