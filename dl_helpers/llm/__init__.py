"""LLM batch inference in-process: chat models by name (SmolLM2 offline), batched generation,
JSON answers parsed into a struct. Serving them beside each executor: :mod:`dl_helpers.servers`.

Usage::

    from dl_helpers.llm import chat_model, generate_fn, return_type

    source = chat_model("Qwen/Qwen2.5-0.5B-Instruct")       # SmolLM2 offline
    udf = predict_batch_udf(generate_fn(source.load, max_new_tokens=64, batch_size=8),
                            return_type=return_type(), batch_size=64)
    answers = df.withColumn("answer", udf("prompt", "id"))  # struct<text, new_tokens>
"""

from dl_helpers.llm._constrained import SchemaConstraint, json_schema
from dl_helpers.llm._device import choose_dtype, gpu_device, resolve_device, resolve_dtype
from dl_helpers.llm._generation import check_prompts, generate, generate_fn, load_on, return_type
from dl_helpers.llm._models import ChatModelSource, chat_model, plain_folder, smollm2_source
from dl_helpers.llm._prompts import length_batches, padding_tokens, prefix_order
from dl_helpers.llm._reasoning import split_reasoning
from dl_helpers.llm._structured import json_instruction, not_followed, parse_answer, parsed_column

__all__ = [
    "ChatModelSource",
    "SchemaConstraint",
    "chat_model",
    "check_prompts",
    "choose_dtype",
    "generate",
    "generate_fn",
    "gpu_device",
    "json_instruction",
    "json_schema",
    "length_batches",
    "load_on",
    "not_followed",
    "padding_tokens",
    "parse_answer",
    "parsed_column",
    "plain_folder",
    "prefix_order",
    "resolve_device",
    "resolve_dtype",
    "return_type",
    "smollm2_source",
    "split_reasoning",
]
