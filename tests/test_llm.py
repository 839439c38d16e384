"""The LLM helpers that need neither Spark nor a server: prompt checks, structured-output
parsing, and greedy batched generation against one-by-one generation on the tiny chat model."""

from __future__ import annotations

import pytest
from llm_models import CONTEXT, greedy_one_by_one, tiny_model  # noqa: F401  (a fixture)

from dl_helpers.llm import (
    ChatModelSource,
    chat_model,
    check_prompts,
    generate,
    json_instruction,
    parse_answer,
    smollm2_source,
)

FIELDS = {"sentiment": ["positive", "negative"], "product": None}


def test_prompt_checks_name_the_row():
    assert check_prompts(["a", "b"], [10, 11]) == ["a", "b"]
    with pytest.raises(ValueError, match=r"prompt \(row 11\): is null"):
        check_prompts(["a", None], [10, 11])
    with pytest.raises(ValueError, match=r"prompt \(row 12\): is null"):
        check_prompts([float("nan")], [12])  # pandas' missing value
    with pytest.raises(ValueError, match=r"prompt \(row 3\): is empty"):
        check_prompts([" \n"], [3])
    with pytest.raises(ValueError, match=r"prompt \(row 0\): expected text, got int"):
        check_prompts([5])


def test_structured_answers_parse_or_say_why_not():
    text = 'Sure! {"sentiment": "Positive", "product": "headphones {v2}"} Anything else?'
    assert parse_answer(text, FIELDS) == (
        {"sentiment": "positive", "product": "headphones {v2}"},
        None,
    )
    cases = {
        "The review is positive.": "no JSON object",
        '{"sentiment": "positive", "product": "the headph': "JSON object not closed",
        '{"sentiment": "positive"}': "missing field(s) ['product']",
        '{"sentiment": "meh", "product": "x"}': "'meh' is not one of ['positive', 'negative']",
        '{"sentiment": "positive", "product": ["a"]}': "product: expected a value, got list",
        '{"sentiment": "positive", product: x}': "invalid JSON",
        None: "no answer",
    }
    for answer, problem in cases.items():
        values, why = parse_answer(answer, FIELDS)
        assert values == {"sentiment": None, "product": None} and problem in why, (answer, why)
    assert '{"sentiment": "positive", "product": "..."}' in json_instruction(FIELDS)


def test_offline_model_is_the_packaged_smollm2():
    src = chat_model("Qwen/Qwen2.5-0.5B-Instruct", offline=True)
    assert src == smollm2_source() and src.offline and src.gguf_file.endswith(".gguf")


def test_batched_greedy_equals_one_by_one_and_checks_length(tiny_model):  # noqa: F811
    folder = tiny_model
    prompts = ["Hi", "What is the capital of France?", "Name three colors, please."]
    model, tok = ChatModelSource("tiny", str(folder)).load()
    texts, counts = generate(model, tok, prompts, 6, row_ids=[1, 2, 3])  # left-padded batch
    assert texts == greedy_one_by_one(folder, prompts, 6) and counts == [6, 6, 6]
    with pytest.raises(ValueError, match=rf"prompt \(row 2\): \d+ tokens .* context of {CONTEXT}"):
        generate(model, tok, ["Hi", "word " * CONTEXT], 6, row_ids=[1, 2])
