"""The offline policy: when the real data set or model is used, and when a stand-in replaces it.

Every data loader (:mod:`dl_helpers.notebook`) and model loader (:mod:`dl_helpers.models`) goes
through :func:`with_fallback`, so the rule is written once:

- ``offline=True``: the stand-in only; nothing is downloaded.
- ``offline=False``: the real thing or an error (the download's own error propagates).
- ``offline=None`` (the default): try the real thing; if it fails with one of the expected
  errors (``OSError`` by default: no network, HTTP errors, timeouts, a bad download), fall back
  to the stand-in.

The argument wins over the ``DL_HELPERS_OFFLINE`` environment variable (1/true/yes/on or
0/false/no/off), which wins over the default. Whenever a stand-in is used, a banner on stderr
and an :class:`OfflineDataWarning` say so, because figures computed on it (accuracy, ...) say
nothing about the real data set or model.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from typing import TypeVar

from dl_helpers import Status

OFFLINE_ENV = "DL_HELPERS_OFFLINE"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

T = TypeVar("T")


class OfflineDataWarning(UserWarning):
    """Issued whenever a stand-in replaces a real data set or model."""


def resolve_offline(offline: bool | None = None, env=None) -> bool | None:
    """True: the stand-in. False: the real thing (errors propagate). None: try, then fall back."""
    if offline is not None:
        return bool(offline)
    env = os.environ if env is None else env
    raw = env.get(OFFLINE_ENV)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{OFFLINE_ENV}={raw!r}: expected one of 1/true/yes/on or 0/false/no/off")


def announce_standin(name: str, what: str, reason: str) -> None:
    """Say loudly that a stand-in is used (stderr banner + a warning)."""
    msg = f"OFFLINE STAND-IN for {name}: {what} ({reason}). Real-data figures do not apply."
    bar = "!" * min(len(msg), 100)
    print(f"{bar}\n{msg}\n{bar}", file=sys.stderr, flush=True)
    warnings.warn(msg, OfflineDataWarning, stacklevel=3)


def with_fallback(
    name: str,
    real: Callable[[], T],
    standin: Callable[[], T],
    what: str | None,
    offline: bool | None = None,
    errors: tuple[type[BaseException], ...] = (OSError,),
) -> T:
    """``real()`` or ``standin()``, as the policy above decides.

    ``name`` and ``what`` (what the stand-in is) go into the banner. ``what=None`` means the
    fallback is the real thing from another source (a copy an installed package ships): no
    banner then. Only ``errors`` raised by ``real()`` lead to the fallback; anything else is a
    bug and propagates.
    """
    mode = resolve_offline(offline)
    if mode is True:
        reason = f"offline requested ({OFFLINE_ENV} or offline=True)"
    else:
        try:
            return real()
        except errors as e:
            if mode is False:
                raise
            reason = f"download failed: {e!r}"[:400]
    if what is not None:
        announce_standin(name, what, reason)
    return standin()


def hub_available(name: str) -> Status:
    """Does the Hugging Face hub answer for model ``name`` (its config only)? If not, why."""
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(name)
        return Status(True)
    except (OSError, ValueError) as e:  # offline mode, DNS, HTTP errors: all OSError here
        return Status(False, f"{type(e).__name__}: {str(e).splitlines()[0][:200]}")


__all__ = [
    "OFFLINE_ENV",
    "OfflineDataWarning",
    "announce_standin",
    "hub_available",
    "resolve_offline",
    "with_fallback",
]
