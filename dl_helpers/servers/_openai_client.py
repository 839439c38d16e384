"""OpenAI-compatible chat inference from Spark tasks: ``openai_predict_fn`` for
``predict_batch_udf``, for ``transformers serve`` and vLLM alike.

Usage: ``predict_batch_udf(openai_predict_fn(servers, max_new_tokens=64),
return_type=dl_helpers.llm.return_type(), batch_size=8)("prompt", "id")``."""

from __future__ import annotations

import dataclasses
import http.client
import time
from collections.abc import Callable, Mapping

from dl_helpers.servers._base import ServerError, http_json, server_table, task_server

# Retried while the server lives (as OpenAI's own client does): overload, and server errors.
TRANSIENT_STATUS = (429, 500, 502, 503, 504)
# Requests in flight per task when ``concurrency`` is not given: transformers serve answers a
# few at a time on CPU; vLLM batches many requests continuously, so it needs more to fill it.
DEFAULT_CONCURRENCY = {"transformers": 4, "vllm": 32}
FAIL, QUARANTINE = "fail", "quarantine"


class RequestFailed(ServerError):
    """One prompt's request failed (after its retries) while its server is still running."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason  # one line, for the row's ``error`` in quarantine mode


def openai_predict_fn(
    servers,
    *,
    model: str | None = None,
    max_new_tokens: int = 64,
    system: str | None = None,
    concurrency: int | None = None,
    request_timeout_s: float = 300.0,
    retries: int = 2,
    retry_wait_s: float = 1.0,
    tokenizer: str | None = None,
    on_bad_row: str = FAIL,
    json_schema: Mapping | None = None,
    prefix_order: bool = True,
) -> Callable:
    """A ``make_predict_fn`` taking (prompts, row ids) and returning ``{"text", "new_tokens"}``
    (and ``error`` in quarantine mode), like :func:`dl_helpers.llm.generate_fn`, answered by this
    executor's server.

    ``servers``: a started :class:`~dl_helpers.servers._managers.OpenAIServerManager` (or its
    ``servers`` dict, with ``model``). ``tokenizer`` (a folder or hub name): when given, a
    prompt that with ``max_new_tokens`` does not fit the model's context is refused before
    anything is sent (servers differ in how they treat one). Each task checks at once that its
    executor's server serves the model; a batch's prompts go out as ``concurrency`` concurrent
    greedy (temperature 0) requests (None: 4 for transformers serve, 32 for vLLM), each with
    ``request_timeout_s``, in :func:`dl_helpers.llm.prefix_order` where ``prefix_order`` (shared
    prefixes together, for vLLM's prefix caching); answers come back in the input order.
    ``on_bad_row="fail"``: a bad prompt or a request that fails after ``retries`` fails the job
    naming its row; ``"quarantine"``: that row gets null text and the reason in ``error``, the
    others are answered (a server that is gone still fails the job).
    ``json_schema``: sent as the OpenAI ``response_format`` (vLLM decodes under it;
    ``transformers serve`` ignores it, so parse its answers with the reporting path). An
    executor that joined after the manager started starts its own server in its first task.
    """
    from dl_helpers.llm._generation import BAD_ROW_MODES

    if on_bad_row not in BAD_ROW_MODES:
        raise ValueError(f"on_bad_row must be one of {BAD_ROW_MODES}, got {on_bad_row!r}")
    table, model, start = server_table(servers, model, "model")
    if concurrency is None:
        concurrency = DEFAULT_CONCURRENCY.get(getattr(servers, "engine", "transformers"), 4)
    fmt = None
    if json_schema is not None:
        fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": json_schema}}
    sending = _Requests(
        model, max_new_tokens, system, request_timeout_s, retries, retry_wait_s, fmt
    )
    settings = dict(on_bad_row=on_bad_row, prefix_order=prefix_order, system=system)

    def make_predict_fn():
        from concurrent.futures import ThreadPoolExecutor

        info = task_server(table, model, "model", start)
        tok, context = _tokenizer(tokenizer)
        pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="llm-client")
        checks = (tok, context, max_new_tokens)

        def predict(prompts, row_ids):
            return _answer(pool, sending, info, list(prompts), list(row_ids), checks, settings)

        return predict

    return make_predict_fn


def _problems(prompts, rows, checks, system) -> list:
    """Each prompt's problem (or None): not text, blank, or too long for the context."""
    from dl_helpers.llm._prompts import chat_token_ids, length_problem, prompt_problem

    tok, context, max_new_tokens = checks
    problems = [prompt_problem(p) for p in prompts]
    if tok is not None:
        for i, p in enumerate(prompts):
            if problems[i] is None:
                n = len(chat_token_ids(tok, [p], system)[0])
                problems[i] = length_problem(n, max_new_tokens, context)
    return problems


def _answer(pool, sending, info, prompts, rows, checks, settings) -> dict:
    """One predict call: check, send (in prefix order), gather in the input order."""
    from concurrent.futures import ALL_COMPLETED, FIRST_EXCEPTION, wait

    import numpy as np

    from dl_helpers.llm._prompts import prefix_order

    quarantine = settings["on_bad_row"] == QUARANTINE
    problems = _problems(prompts, rows, checks, settings["system"])
    if not quarantine:
        for row, problem in zip(rows, problems):
            if problem:
                raise ValueError(f"prompt (row {row}): {problem}")
    good = [i for i, p in enumerate(problems) if p is None]
    if settings["prefix_order"]:
        good = [good[j] for j in prefix_order([prompts[i] for i in good])]
    futures = {i: pool.submit(sending.ask, info, prompts[i], rows[i]) for i in good}
    wait(futures.values(), return_when=ALL_COMPLETED if quarantine else FIRST_EXCEPTION)
    failed = [f.exception() for f in futures.values() if f.done() and f.exception() is not None]
    fatal = [e for e in failed if not (quarantine and isinstance(e, RequestFailed))]
    if fatal:
        for f in futures.values():
            f.cancel()
        raise fatal[0]
    texts: list = [None] * len(prompts)
    counts: list = [None] * len(prompts)
    errors = [f"prompt: {p}" if p else None for p in problems]
    for i, f in futures.items():
        if f.exception() is not None:
            errors[i] = f"request: {f.exception().reason}"
        else:
            texts[i], counts[i] = f.result()
    out = {"text": np.array(texts, dtype=object), "new_tokens": np.array(counts, dtype=object)}
    if quarantine:
        out["error"] = np.array(errors, dtype=object)
    return out


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
    response_format: dict | None = None

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
        if self.response_format is not None:
            body["response_format"] = self.response_format
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
            why = f"HTTP {status} {str(reply)[:200]}" if status is not None else repr(cause)
            what = f"request for row {row} failed"
            if status is not None:
                what += f": HTTP {status} {reply}"
            if not info.is_alive():
                raise info.failure(f"{what}; the server is gone", self.model, cause)
            if (status is not None and status not in TRANSIENT_STATUS) or attempt == self.retries:
                tries = f" (after {attempt + 1} tries)" if attempt else ""
                full = info.failure(what + tries, self.model, cause)
                raise RequestFailed(str(full), why + tries)
            time.sleep(self.retry_wait_s * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover
