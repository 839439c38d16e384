"""The one error type of the server lifecycle: a server could not be started, found or reached."""

from __future__ import annotations


class ServerError(RuntimeError):
    """A model server (Triton, OpenAI-compatible) could not be started, found or reached."""
