"""The order in which ``openai_predict_fn`` sends a batch's prompts to its server, and that the
answers still come back to their own rows.

The requests themselves are tested against real servers in ``test_llm_servers.py``; here the
sender records the order it is asked in (one client thread, so asked order is sent order), which
a real server cannot report back."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from dl_helpers.llm import prefix_order
from dl_helpers.servers._openai_client import _answer

SUMMARISE = "Summarise this review in one sentence: "
TRANSLATE = "Translate into French: "
PROMPTS = [
    TRANSLATE + "the film was long",
    SUMMARISE + "a fine cast, a thin plot",
    TRANSLATE + "a quiet evening",
    SUMMARISE + "dull from start to end",
    "What is the capital of France?",
    SUMMARISE + "a fine cast, a thin plot",
]


class RecordingSender:
    """Answers each prompt with a text naming it, and remembers the rows in the order asked."""

    def __init__(self):
        self.asked: list[int] = []

    def ask(self, info, prompt, row):
        self.asked.append(row)
        return f"answer to {prompt!r}", len(prompt)


def send(prompts, order: bool, on_bad_row: str = "fail"):
    sender = RecordingSender()
    rows = [100 + i for i in range(len(prompts))]
    settings = dict(on_bad_row=on_bad_row, prefix_order=order, system=None)
    with ThreadPoolExecutor(max_workers=1) as pool:
        out = _answer(pool, sender, None, list(prompts), rows, (None, None, 16), settings)
    return [r - 100 for r in sender.asked], out


@pytest.mark.parametrize("order", [True, False])
def test_answers_come_back_to_their_rows(order):
    _, out = send(PROMPTS, order)
    assert list(out["text"]) == [f"answer to {p!r}" for p in PROMPTS]
    assert list(out["new_tokens"]) == [len(p) for p in PROMPTS]


def test_prompts_with_a_shared_prefix_are_sent_together():
    asked, _ = send(PROMPTS, order=True)
    assert asked == prefix_order(PROMPTS)
    instructions = [PROMPTS[i].split(":")[0] for i in asked]
    # Each instruction's prompts are sent one after another, not interleaved with others.
    runs = [k for j, k in enumerate(instructions) if j == 0 or instructions[j - 1] != k]
    assert len(runs) == len(set(instructions)), instructions
    assert asked != list(range(len(PROMPTS)))  # the row order interleaves them


def test_without_prefix_order_prompts_go_in_row_order():
    asked, _ = send(PROMPTS, order=False)
    assert asked == list(range(len(PROMPTS)))


def test_a_quarantined_prompt_is_not_sent_and_the_others_keep_prefix_order():
    prompts = list(PROMPTS)
    prompts[2] = None  # a null prompt
    asked, out = send(prompts, order=True, on_bad_row="quarantine")
    good = [i for i, p in enumerate(prompts) if p is not None]
    assert asked == [good[j] for j in prefix_order([prompts[i] for i in good])]
    assert out["text"][2] is None and out["error"][2].startswith("prompt: ")
    assert [out["text"][i] for i in good] == [f"answer to {prompts[i]!r}" for i in good]
    assert [out["error"][i] for i in good] == [None] * len(good)
