"""Batched greedy generation in Spark tasks: prompts of similar length batched together, the
task's GPU and a dtype for it, bad prompts failing the job naming their row or (quarantine)
answered with the reason, and reasoning split from the answer where asked.

Usage::

    udf = predict_batch_udf(generate_fn(source.load, max_new_tokens=64, batch_size=8),
                            return_type=return_type(), batch_size=64)
    df.withColumn("answer", udf("prompt", "id"))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from dl_helpers.llm._constrained import SchemaConstraint, schema_grammar
from dl_helpers.llm._device import AUTO, resolve_device, resolve_dtype
from dl_helpers.llm._prompts import (  # noqa: F401  (the server client imports these from here)
    chat_messages,
    chat_token_ids,
    check_lengths,
    check_prompts,
    context_length,
    length_batches,
    length_problem,
    prompt_problem,
)
from dl_helpers.llm._reasoning import split_reasoning

FAIL, QUARANTINE = "fail", "quarantine"
BAD_ROW_MODES = (FAIL, QUARANTINE)


def return_type(on_bad_row: str = FAIL, reasoning: bool = False):
    """The Spark type of a generation result: struct<text: string, new_tokens: int>, with
    ``reasoning`` and ``answer`` (strings) where ``reasoning``, and ``error`` (string) in
    quarantine mode."""
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType

    _check_mode(on_bad_row)
    fields = [StructField("text", StringType()), StructField("new_tokens", IntegerType())]
    if reasoning:
        fields += [StructField("reasoning", StringType()), StructField("answer", StringType())]
    if on_bad_row == QUARANTINE:
        fields.append(StructField("error", StringType()))
    return StructType(fields)


def _check_mode(on_bad_row: str) -> None:
    if on_bad_row not in BAD_ROW_MODES:
        raise ValueError(f"on_bad_row must be one of {BAD_ROW_MODES}, got {on_bad_row!r}")


def _generate_ids(model, tokenizer, ids: list[list[int]], max_new_tokens: int, constraint=None):
    """Greedy answers for token ids in one left-padded batch: (texts, new token counts);
    ``constraint`` (a :class:`SchemaConstraint`) masks each step to its schema."""
    import torch

    batch = tokenizer.pad({"input_ids": ids}, return_tensors="pt", padding=True)
    batch = batch.to(model.device)
    extra = {}
    if constraint is not None:
        from transformers import LogitsProcessorList

        extra["logits_processor"] = LogitsProcessorList([constraint.processor(len(ids))])
    with torch.inference_mode():
        out = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            **extra,
        )
    new = out[:, batch["input_ids"].shape[1] :].cpu()
    stop = {tokenizer.eos_token_id, tokenizer.pad_token_id}
    counts = []
    for row in new.tolist():
        n = next((i for i, t in enumerate(row) if t in stop), len(row))
        counts.append(n + (1 if n < len(row) else 0))  # the end token is generated too
    return tokenizer.batch_decode(new, skip_special_tokens=True), counts


def generate_ids(
    model, tokenizer, ids, max_new_tokens: int, batch_size=None, length_aware=True, constraint=None
):
    """Greedy answers for token ids, in batches of ``batch_size`` (None: one batch) grouped by
    length where ``length_aware``; (texts, counts) in the input order."""
    texts: list = [None] * len(ids)
    counts: list = [None] * len(ids)
    for batch in length_batches([len(x) for x in ids], batch_size, length_aware):
        t, c = _generate_ids(model, tokenizer, [ids[i] for i in batch], max_new_tokens, constraint)
        for i, text, count in zip(batch, t, c):
            texts[i], counts[i] = text, count
    return texts, counts


def generate(
    model,
    tokenizer,
    prompts: Sequence,
    max_new_tokens: int,
    *,
    system=None,
    row_ids=None,
    batch_size: int | None = None,
    length_aware: bool = True,
    json_schema=None,
) -> tuple[list[str], list[int]]:
    """Greedy answers for ``prompts``: (texts, new token counts), in the input order.

    Left-padded batches of at most ``batch_size`` prompts (None: one batch); ``length_aware``
    batches prompts of similar token length together. A bad prompt raises naming its row.
    ``json_schema`` (a schema, or a :class:`SchemaConstraint` made for this tokenizer): each
    answer is decoded under it, so it is JSON that follows the schema unless ``max_new_tokens``
    cut it short.
    """
    prompts = check_prompts(prompts, row_ids)
    ids = chat_token_ids(tokenizer, prompts, system)
    check_lengths([len(x) for x in ids], row_ids, max_new_tokens, context_length(model))
    constraint = _constraint(tokenizer, json_schema)
    return generate_ids(model, tokenizer, ids, max_new_tokens, batch_size, length_aware, constraint)


def _constraint(tokenizer, json_schema):
    if json_schema is None or isinstance(json_schema, SchemaConstraint):
        return json_schema
    return SchemaConstraint(tokenizer, json_schema)


def _problems(tokenizer, prompts, max_new_tokens, system, context):
    """(token ids or None, problem or None) per prompt."""
    out = []
    for p in prompts:
        problem = prompt_problem(p)
        ids = None if problem else chat_token_ids(tokenizer, [p], system)[0]
        if ids is not None:
            problem = length_problem(len(ids), max_new_tokens, context)
        out.append((None if problem else ids, problem))
    return out


def answer_rows(model, tokenizer, prompts, row_ids, settings: dict) -> dict:
    """The predict function's columns for one call: text, new_tokens (+ reasoning, answer, error).

    ``settings``: max_new_tokens, system, batch_size, length_aware, on_bad_row, reasoning,
    constraint.
    """
    import numpy as np

    n, mnt = len(prompts), settings["max_new_tokens"]
    texts: list = [None] * n
    counts: list = [None] * n
    errors: list = [None] * n
    if settings["on_bad_row"] == FAIL:
        texts, counts = generate(
            model,
            tokenizer,
            prompts,
            mnt,
            system=settings["system"],
            row_ids=row_ids,
            batch_size=settings["batch_size"],
            length_aware=settings["length_aware"],
            json_schema=settings["constraint"],
        )
    else:
        checked = _problems(tokenizer, prompts, mnt, settings["system"], context_length(model))
        good = [i for i, (ids, _) in enumerate(checked) if ids is not None]
        t, c = generate_ids(
            model,
            tokenizer,
            [checked[i][0] for i in good],
            mnt,
            settings["batch_size"],
            settings["length_aware"],
            settings["constraint"],
        )
        for i, text, count in zip(good, t, c):
            texts[i], counts[i] = text, count
        errors = [f"prompt: {why}" if why else None for _, why in checked]
    out = {"text": np.array(texts, dtype=object), "new_tokens": np.array(counts, dtype=object)}
    if settings["reasoning"]:
        parts = [split_reasoning(t) for t in texts]
        out["reasoning"] = np.array([p[0] for p in parts], dtype=object)
        out["answer"] = np.array([p[1] for p in parts], dtype=object)
    if settings["on_bad_row"] == QUARANTINE:
        out["error"] = np.array(errors, dtype=object)
    return out


def load_on(load: Callable, device: str = AUTO, dtype=AUTO):
    """``load()`` -> (model, tokenizer) with the model on ``device`` in ``dtype`` ("auto": the
    task's GPU in bfloat16 or float16, else the CPU in float32). ``load`` is given the dtype
    where it takes one (``ChatModelSource.load`` does: no float32 copy on the way)."""
    import inspect

    where = resolve_device(device)
    want = resolve_dtype(dtype, where)
    takes_dtype = "dtype" in inspect.signature(load).parameters
    model, tokenizer = load(dtype=want) if takes_dtype else load()
    return model.to(device=where, dtype=want), tokenizer


def generate_fn(
    load: Callable,
    max_new_tokens: int,
    system: str | None = None,
    *,
    batch_size: int | None = None,
    length_aware: bool = True,
    device: str = AUTO,
    dtype=AUTO,
    on_bad_row: str = FAIL,
    reasoning: bool = False,
    json_schema=None,
) -> Callable:
    """A ``make_predict_fn``: ``load()`` -> (model, tokenizer), run once per Python worker.

    The predict function takes (prompts, row ids) and returns :func:`return_type`'s fields
    (pass it the same ``on_bad_row`` and ``reasoning``). Each prompt becomes a chat (``system``
    optional) through the tokenizer's chat template; the prompts of one predict_batch_udf call
    are generated greedily in left-padded batches of ``batch_size`` (None: all in one), of
    similar token length where ``length_aware``. ``device``/``dtype``: see :func:`load_on`.
    ``on_bad_row="fail"``: a null, non-text, blank or too long prompt fails the job naming its
    row; ``"quarantine"``: its row gets null text and the reason in ``error``, the others are
    answered. ``reasoning``: ``<think>...</think>`` split into ``reasoning`` and ``answer``.
    ``json_schema`` (e.g. from :func:`json_schema`): every answer decoded under the schema
    (llguidance), so ``text`` is JSON that follows it unless ``max_new_tokens`` cut it short;
    parse it with :func:`parsed_column`, which still reports such rows.
    """
    _check_mode(on_bad_row)
    if json_schema is not None:
        schema_grammar(json_schema)  # a bad schema fails here, on the driver
    settings = dict(
        max_new_tokens=max_new_tokens,
        system=system,
        batch_size=batch_size,
        length_aware=length_aware,
        on_bad_row=on_bad_row,
        reasoning=reasoning,
    )

    def make_predict_fn():
        model, tokenizer = load_on(load, device, dtype)
        constraint = _constraint(tokenizer, json_schema)
        task_settings = {**settings, "constraint": constraint}

        def predict(prompts, row_ids):
            return answer_rows(model, tokenizer, list(prompts), list(row_ids), task_settings)

        return predict

    return make_predict_fn
