"""Schema-constrained decoding in-process: every answer is JSON that validates against the
schema, and the answers equal a reference computed directly with llguidance on the tiny model."""

from __future__ import annotations

import json

import jsonschema
import pytest
from tiny_llm import constrained_greedy, greedy_one_by_one, tiny_model  # noqa: F401  (a fixture)

from dl_helpers.llm import (
    ChatModelSource,
    SchemaConstraint,
    generate,
    generate_fn,
    json_schema,
    parse_answer,
    return_type,
)

FIELDS = {"sentiment": ["positive", "negative"], "product": None}
SCHEMA = json_schema(FIELDS, max_chars=8)
PROMPTS = [
    "Hi",
    "Review: the headphones sound great. Answer with JSON.",
    "What is 2+2?",
    "Review: the blender broke after two days, a waste of money and time.",
]
TOKENS = 40  # enough for the tiny model to close the object (its strings run to maxLength)


def test_schema_from_fields_is_tight_and_bad_schemas_fail_early():
    assert SCHEMA == {
        "type": "object",
        "properties": {
            "sentiment": {"enum": ["positive", "negative"]},
            "product": {"type": "string", "maxLength": 8},
        },
        "required": ["sentiment", "product"],
        "additionalProperties": False,
    }
    with pytest.raises(ValueError, match="at least one field"):
        json_schema({})
    with pytest.raises(ValueError, match="json_schema is not valid JSON"):
        generate_fn(lambda: None, 8, json_schema="{not json")
    with pytest.raises(ValueError, match="cannot be used for constrained decoding"):
        generate_fn(lambda: None, 8, json_schema={"type": "no-such-type"})


def test_constrained_answers_validate_and_equal_the_reference(tiny_model):  # noqa: F811
    model, tok = ChatModelSource("tiny", str(tiny_model)).load()
    constraint = SchemaConstraint(tok, SCHEMA)
    texts, counts = generate(model, tok, PROMPTS, TOKENS, batch_size=3, json_schema=constraint)
    for text in texts:
        jsonschema.validate(json.loads(text), SCHEMA)
        assert parse_answer(text, FIELDS)[1] is None, text
    assert texts == [constrained_greedy(tiny_model, p, SCHEMA, TOKENS) for p in PROMPTS]
    assert max(counts) < TOKENS  # every answer ended with the end token, not the budget
    # the unconstrained answers of the same model are not JSON at all
    assert not any(t.startswith("{") for t in greedy_one_by_one(tiny_model, PROMPTS[:2], 8))


def test_udf_gives_schema_answers_in_spark(spark, tiny_model):  # noqa: F811
    from pyspark.ml.functions import predict_batch_udf

    source = ChatModelSource("tiny", str(tiny_model))
    fn = generate_fn(source.load, TOKENS, batch_size=2, device="cpu", json_schema=SCHEMA)
    udf = predict_batch_udf(fn, return_type=return_type(), batch_size=8)
    df = spark.createDataFrame(list(enumerate(PROMPTS)), "id long, prompt string").coalesce(1)
    got = {r.id: r.a.text for r in df.select("id", udf("prompt", "id").alias("a")).collect()}
    assert [got[i] for i in range(len(PROMPTS))] == [
        constrained_greedy(tiny_model, p, SCHEMA, TOKENS) for p in PROMPTS
    ]
