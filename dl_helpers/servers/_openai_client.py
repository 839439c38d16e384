"""OpenAI-compatible chat inference from Spark tasks: ``openai_predict_fn`` for
``predict_batch_udf``, for ``transformers serve`` and vLLM alike.

Usage: ``predict_batch_udf(openai_predict_fn(servers, max_new_tokens=64),
return_type=dl_helpers.llm.return_type(), batch_size=8)("prompt", "id")``."""

from __future__ import annotations

import dataclasses
import http.client
import time
from collections.abc import Callable

from dl_helpers.servers._base import http_json, server_table, task_server

TRANSIENT_STATUS = (429, 502, 503, 504)


def openai_predict_fn(
    servers,
    *,
    model: str | None = None,
    max_new_tokens: int = 64,
    system: str | None = None,
    concurrency: int = 4,
    request_timeout_s: float = 300.0,
    retries: int = 2,
    retry_wait_s: float = 1.0,
    tokenizer: str | None = None,
) -> Callable:
    """A ``make_predict_fn`` taking (prompts, row ids) and returning ``{"text", "new_tokens"}``,
    like :func:`dl_helpers.llm.generate_fn`, answered by this executor's server.

    ``servers``: a started :class:`~dl_helpers.servers._managers.OpenAIServerManager` (or its
    ``servers`` dict, with ``model``). ``tokenizer`` (a folder or hub name): when given, a
    prompt that with ``max_new_tokens`` does not fit the model's context fails naming its row
    before anything is sent (servers differ in how they treat one). Each task checks at once
    that its executor's server serves the model; a batch's prompts go out as ``concurrency``
    concurrent greedy (temperature 0) requests, each with ``request_timeout_s``. An executor
    that joined after the manager started starts its own server in its first task.
    """
    table, model, start = server_table(servers, model, "model")
    sending = _Requests(model, max_new_tokens, system, request_timeout_s, retries, retry_wait_s)

    def make_predict_fn():
        from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

        import numpy as np

        from dl_helpers.llm._generation import chat_token_ids, check_lengths, check_prompts

        info = task_server(table, model, "model", start)
        tok, context = _tokenizer(tokenizer)
        pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="llm-client")

        def predict(prompts, row_ids):
            rows = list(row_ids)
            texts = check_prompts(list(prompts), rows)
            if tok is not None:
                lengths = [len(x) for x in chat_token_ids(tok, texts, system)]
                check_lengths(lengths, rows, max_new_tokens, context)
            futures = [pool.submit(sending.ask, info, p, r) for p, r in zip(texts, rows)]
            wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in futures if f.done() and f.exception() is not None]
            if failed:
                for f in futures:
                    f.cancel()
                raise failed[0].exception()
            answers = [f.result() for f in futures]
            return {
                "text": np.array([a[0] for a in answers], dtype=object),
                "new_tokens": np.array([a[1] for a in answers]),
            }

        return predict

    return make_predict_fn


def _tokenizer(name: str | None):
    """(tokenizer, context length) for the prompt-length check; (None, None) without one."""
    if not name:
        return None, None
    from transformers import AutoConfig, AutoTokenizer

    from dl_helpers.llm._generation import context_length

    return AutoTokenizer.from_pretrained(name), context_length(AutoConfig.from_pretrained(name))


@dataclasses.dataclass(frozen=True)
class _Requests:
    """How one prompt becomes a chat request, and how often a failed one is tried again."""

    model: str
    max_new_tokens: int
    system: str | None
    timeout_s: float
    retries: int
    retry_wait_s: float

    def ask(self, info, prompt: str, row) -> tuple[str, int]:
        """(answer, new tokens) for one prompt; transient failures are retried while the server
        lives, anything else fails naming the row."""
        from dl_helpers.llm._generation import chat_messages

        body = {
            "model": self.model,
            "messages": chat_messages(prompt, self.system),
            "max_tokens": self.max_new_tokens,
            "temperature": 0,
        }
        url = f"{info.url}/v1/chat/completions"
        for attempt in range(self.retries + 1):
            cause: BaseException | None = None
            try:
                status, reply = http_json(url, body, info.token, self.timeout_s)
            except (OSError, http.client.HTTPException) as e:  # refused, reset, timed out
                status, reply, cause = None, None, e
            if status == 200:
                choice = reply["choices"][0]
                return choice["message"]["content"], int(reply["usage"]["completion_tokens"])
            what = f"request for row {row} failed"
            if status is not None:
                what += f": HTTP {status} {reply}"
            if not info.is_alive():
                raise info.failure(f"{what}; the server is gone", self.model, cause)
            if (status is not None and status not in TRANSIENT_STATUS) or attempt == self.retries:
                tries = f" (after {attempt + 1} tries)" if attempt else ""
                raise info.failure(what + tries, self.model, cause)
            time.sleep(self.retry_wait_s * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover
