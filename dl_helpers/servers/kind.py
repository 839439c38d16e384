"""What the shared lifecycle needs to know about one kind of server (Triton, OpenAI-compatible).

A kind is a small picklable object. The launcher (on the server's machine) reads its ``display``
name, ``protocol`` and :meth:`retry_reason`; the detached server process calls :meth:`start`,
:meth:`alive` and :meth:`stop`. Everything else (run folder, ports, owner watchdog, status,
retries, stopping) is the lifecycle's, written once.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from pathlib import Path

# Start failures worth another attempt on new ports, for every kind: log marker -> reason.
COMMON_RETRYABLE = {"already in use": "its port was taken"}


def retry_reason_from(log_text: str, retryable: dict[str, str]) -> str | None:
    """The reason of the first marker (common ones, then ``retryable``) found in a log."""
    markers = {**COMMON_RETRYABLE, **retryable}
    return next((why for marker, why in markers.items() if marker in log_text), None)


@dataclasses.dataclass
class ServeContext:
    """What the server process hands a kind's ``start``."""

    address: str
    port: int
    token: str | None
    gpus: list[str]
    run_dir: Path
    stop: threading.Event  # set when the server is asked to stop
    set_status: Callable[..., None]  # set_status("starting", workspace=...) records details


class ServerKind:
    """Base of the server kinds. Subclasses are dataclasses holding their settings."""

    display = "model"  # "Triton", "transformers serve", "vLLM": used in every message
    protocol = "http"
    supports_token = False
    retryable: dict[str, str] = {}

    def retry_reason(self, log_text: str) -> str | None:
        """Why a failed start is worth another attempt, from the server log; None: it is not."""
        return retry_reason_from(log_text, self.retryable)

    def url(self, address: str, port: int) -> str:
        host = f"[{address}]" if ":" in address else address
        return f"{self.protocol}://{host}:{port}"

    # -- in the server process --------------------------------------------------------------

    def start(self, ctx: ServeContext) -> list[str]:
        """Start serving on ``ctx.port``; return the model names once they answer.

        May raise any exception (reported in the status file and the log). Called once.
        """
        raise NotImplementedError

    def alive(self) -> bool:
        """Is the server still serving (checked twice a second once ready)?"""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop whatever :meth:`start` started, even if it failed half way. Called once."""
        raise NotImplementedError
