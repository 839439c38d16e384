"""JSON over HTTP with the standard library (server readiness checks and the OpenAI client)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


def http_json(url: str, body: dict | None = None, token: str | None = None,
              timeout_s: float = 30.0) -> tuple[int, object]:  # fmt: skip
    """GET (no body) or POST JSON; returns (HTTP status, parsed JSON or text). No retries:
    connection errors and timeouts raise ``OSError``."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    text = raw.decode("utf-8", "replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text
