"""The LLM helpers that need neither Spark nor a server: prompt checks, structured-output
parsing, and greedy batched generation against one-by-one generation on the tiny chat model."""

from __future__ import annotations

import pytest
from tiny_llm import CONTEXT, greedy_one_by_one, tiny_model  # noqa: F401  (a fixture)

from dl_helpers.llm import (
    ChatModelSource,
    chat_model,
    check_prompts,
    choose_dtype,
    generate,
    generate_fn,
    gpu_device,
    json_instruction,
    length_batches,
    load_on,
    padding_tokens,
    parse_answer,
    prefix_order,
    resolve_device,
    resolve_dtype,
    return_type,
    smollm2_source,
    split_reasoning,
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


MIXED = [
    "Hi",
    "Please write a long and detailed description of the water cycle, step by step, for a class.",
    "What is 2+2?",
    "Summarize: the meeting moved to Friday because the room was booked and two people were ill.",
    "Yes?",
    "Name three colors, please.",
]


def test_length_aware_batches_cut_padding_and_keep_every_row():
    lengths = [3, 40, 5, 38, 2, 9, 41, 4]
    row = length_batches(lengths, 4, length_aware=False)
    aware = length_batches(lengths, 4)
    assert row == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert sorted(i for b in aware for i in b) == list(range(8)) and max(map(len, aware)) == 4
    assert padding_tokens(lengths, aware) < padding_tokens(lengths, row) / 3
    assert length_batches(lengths, None) == [sorted(range(8), key=lambda i: lengths[i])]
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        length_batches(lengths, 0)


def test_length_aware_answers_equal_row_order_in_input_order(tiny_model):  # noqa: F811
    model, tok = ChatModelSource("tiny", str(tiny_model)).load()
    row_order = generate(model, tok, MIXED, 5, batch_size=2, length_aware=False)
    aware = generate(model, tok, MIXED, 5, batch_size=2)
    assert aware == row_order
    assert aware[0] == greedy_one_by_one(tiny_model, MIXED, 5)  # the input order, row by row


def test_dtype_and_device_choice():
    assert choose_dtype("cpu") == "float32"
    assert choose_dtype("cuda:0", (8, 0)) == "bfloat16"  # A100, H100, L4
    assert choose_dtype("cuda:1", (7, 5)) == "float16"  # T4
    with pytest.raises(ValueError, match="compute capability"):
        choose_dtype("cuda")
    assert gpu_device(["3"], "2,3", 2) == "cuda:1"  # Spark's address among the visible devices
    assert gpu_device(["1"], None, 2) == "cuda:1"
    assert gpu_device(["5"], None, 1) == "cuda:0"  # an isolated container sees only its GPU
    assert gpu_device(None, None, 1) == "cuda:0"
    assert gpu_device(["0"], None, 0) is None
    import torch

    assert resolve_dtype("auto", "cpu") is torch.float32 and resolve_dtype("float16", "cpu")
    with pytest.raises(ValueError, match="not a torch dtype"):
        resolve_dtype("float33", "cpu")
    if not torch.cuda.is_available():
        assert resolve_device() == "cpu"


def test_generation_on_the_gpu_in_its_dtype(tiny_model):  # noqa: F811
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU: none is visible to torch here")
    source = ChatModelSource("tiny", str(tiny_model))
    model, tok = load_on(source.load)
    major, minor = torch.cuda.get_device_capability()
    assert model.device.type == "cuda"
    assert model.dtype == (torch.bfloat16 if major >= 8 else torch.float16)
    texts, counts = generate(model, tok, MIXED, 5, batch_size=3)
    assert len(texts) == len(MIXED) and all(c > 0 for c in counts)


def test_reasoning_split():
    assert split_reasoning("<think>2 and 2 make 4.</think>\nIt is 4.") == (
        "2 and 2 make 4.",
        "It is 4.",
    )
    assert split_reasoning("Counting first.</think> Four.") == ("Counting first.", "Four.")
    assert split_reasoning("<think>still thinking") == ("still thinking", "")
    assert split_reasoning("Four.") == (None, "Four.")
    assert split_reasoning(None) == (None, None)


def test_prefix_order_puts_shared_prefixes_together():
    a, b = "Classify the review as JSON.\nReview: ", "Translate to French: "
    prompts = [a + "good", b + "cat", a + "bad", "Hi", b + "dog", a + "fine"]
    systems = ["S1", "S1", "S2", "S1", "S1", "S1"]
    order = prefix_order(prompts, systems)
    assert sorted(order) == list(range(6))
    keys = [(systems[i], prompts[i].split("\n")[0].split(":")[0]) for i in order]
    runs = [k for j, k in enumerate(keys) if j == 0 or keys[j - 1] != k]
    assert len(runs) == len(set(keys))  # each (system, instruction) in one run
    assert prefix_order(["b", "a", "b"]) == [1, 0, 2]  # stable for equal prompts
    with pytest.raises(ValueError, match="2 system prompts for 3 prompts"):
        prefix_order(["a", "b", "c"], ["x", "y"])


def _udf(folder, on_bad_row, **kw):
    from pyspark.ml.functions import predict_batch_udf

    source = ChatModelSource("tiny", str(folder))
    fn = generate_fn(source.load, 5, batch_size=2, on_bad_row=on_bad_row, device="cpu", **kw)
    return predict_batch_udf(fn, return_type=return_type(on_bad_row, **kw), batch_size=8)


def test_udf_quarantines_bad_prompts_and_answers_the_rest(spark, tiny_model):  # noqa: F811
    rows = [(0, "Hi"), (1, None), (2, "Name three colors."), (3, "  "), (4, "word " * CONTEXT)]
    df = spark.createDataFrame(rows, "id long, prompt string").coalesce(1)
    out = df.select("id", _udf(tiny_model, "quarantine")("prompt", "id").alias("a")).collect()
    got = {r.id: r.a for r in out}
    expected = greedy_one_by_one(tiny_model, ["Hi", "Name three colors."], 5)
    assert [got[0].text, got[2].text] == expected and got[0].error is None
    assert got[1].text is None and got[1].new_tokens is None and got[1].error == "prompt: is null"
    assert got[3].error == "prompt: is empty"
    assert f"context of {CONTEXT} tokens" in got[4].error and got[4].text is None
    with pytest.raises(Exception, match=r"prompt \(row 1\): is null"):
        df.select(_udf(tiny_model, "fail")("prompt", "id")).collect()
    with pytest.raises(ValueError, match="on_bad_row must be one of"):
        return_type("skip")
