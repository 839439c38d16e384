"""The Triton kind of server: PyTriton run inside the detached server process.

Usage: ``TritonServer(bind_model=..., model_name="m")``, handed to a ``ServerManager``
(``TritonServerManager`` builds it); ``start`` runs in the server process."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from dl_helpers.servers._base import ServeContext, ServerError, ServerKind, retry_reason_from
from dl_helpers.servers._run_folder import new_workspace

log = logging.getLogger(__name__)

PROTOCOLS = ("http", "grpc")

# Triton start failures worth another attempt (on new ports): log marker -> reason.
TRITON_RETRYABLE = {
    # PyTriton 0.7 gives a model's second and later instances 1 s to find the first one's
    # handshake socket; on a saturated CPU they may not.
    "Timeout occurred while waiting for config file": "a model instance missed its handshake",
    # ... or find the socket there but nobody listening (ConnectionRefusedError; seen in CI).
    "get_config_from_handshake_server": "a model instance could not reach its handshake socket",
}


def _free_port(address: str) -> int:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


class _Binder:
    """PyTriton's Triton, with ``bind`` defaults from the manager's settings."""

    def __init__(self, triton, settings: TritonServer):
        self._triton = triton
        self._settings = settings
        self.models: list[str] = []

    def model_config(self, **overrides):
        """The ModelConfig the manager's settings describe (keywords override)."""
        from pytriton.model_config import DynamicBatcher, ModelConfig

        s = self._settings
        kwargs: dict[str, Any] = {"max_batch_size": s.max_batch_size}
        if s.batching_delay_us is not None:
            kwargs["batcher"] = DynamicBatcher(max_queue_delay_microseconds=s.batching_delay_us)
        kwargs.update(overrides)
        return ModelConfig(**kwargs)

    def bind(self, model_name: str, infer_func, inputs, outputs, config=None, **kwargs):
        if config is None:
            config = self.model_config()
        if callable(infer_func) and self._settings.instances > 1:
            infer_func = [infer_func] * self._settings.instances
        self._triton.bind(
            model_name=model_name,
            infer_func=infer_func,
            inputs=inputs,
            outputs=outputs,
            config=config,
            **kwargs,
        )
        self.models.append(model_name)

    def __getattr__(self, name):
        return getattr(self._triton, name)


@dataclasses.dataclass
class TritonServer(ServerKind):
    """PyTriton serving what ``bind_model(triton)`` binds."""

    bind_model: Callable
    model_name: str
    protocol: str = "http"
    max_batch_size: int = 64
    batching_delay_us: int | None = None
    instances: int = 1
    log_verbose: int = 0
    triton_config: dict = dataclasses.field(default_factory=dict)

    display = "Triton"
    supports_token = True
    retryable = TRITON_RETRYABLE

    def __post_init__(self):
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, not {self.protocol!r}")
        if self.instances < 1 or self.max_batch_size < 0:
            raise ValueError("instances must be >= 1 and max_batch_size >= 0")
        self._triton = None

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_triton"}

    def __setstate__(self, state):
        self.__dict__.update(state, _triton=None)

    def _config(self, ctx: ServeContext):
        from pytriton.triton import TritonConfig

        http = self.protocol == "http"
        cfg: dict[str, Any] = {
            "allow_http": http,
            "allow_grpc": not http,
            "allow_metrics": False,
            "allow_sagemaker": False,
            "allow_vertex_ai": False,
            "log_verbose": self.log_verbose,
            "exit_on_error": True,
            # Idle keep-alive connections of Spark workers would hold a stop for 30 s.
            "exit_timeout_secs": 5,
        }
        if http:
            cfg.update(http_address=ctx.address, http_port=ctx.port)
        else:
            cfg.update(grpc_address=ctx.address, grpc_port=ctx.port)
        cfg.update(self.triton_config)
        if cfg.get("allow_metrics"):
            cfg.setdefault("metrics_address", ctx.address)
            cfg.setdefault("metrics_port", _free_port(ctx.address))
        return TritonConfig(**cfg)

    def _security(self, token: str | None) -> dict:
        if not token:
            return {}
        try:  # nvidia-pytriton >= 0.7
            from pytriton.triton import DEFAULT_PROTECTED_ENDPOINTS, TritonSecurityConfig
        except ImportError as e:
            raise ServerError(
                "require_token needs nvidia-pytriton >= 0.7 (or pass require_token=False)"
            ) from e
        # Inference and the admin endpoints need the token. Health stays open: PyTriton's own
        # readiness wait sends no token (0.7.0).
        return {
            "security_config": TritonSecurityConfig(
                access_token=token,
                restricted_endpoints=sorted({*DEFAULT_PROTECTED_ENDPOINTS, "inference"}),
            )
        }

    def _watch_startup(self, ctx: ServeContext, ready: threading.Event) -> None:
        # PyTriton waits a minute for a tritonserver that already exited (e.g. port in use):
        # notice the exit and fail at once, so the launcher can retry on other ports.
        import psutil

        me = psutil.Process()
        seen = False
        while not ready.is_set() and not ctx.stop.is_set():
            running = False
            for c in me.children():
                with contextlib.suppress(psutil.Error):
                    if "tritonserver" in c.name() and c.status() != psutil.STATUS_ZOMBIE:
                        running = True
            seen = seen or running
            # PyTriton's TritonServer (private, so read defensively): started, and dead?
            server = getattr(self._triton, "_triton_server", None)
            exited = (
                server is not None
                and getattr(server, "_tritonserver_running_cmd", None) is not None
                and not server.is_alive()
            )
            if (exited or (seen and not running)) and not ready.is_set():
                time.sleep(1.0)  # let PyTriton's reader thread copy tritonserver's last words
                log.error("tritonserver exited while starting")
                sys.stdout.flush()
                ctx.set_status("failed", error="tritonserver exited while starting")
                os._exit(3)
            time.sleep(0.2)

    def start(self, ctx: ServeContext) -> list[str]:
        """Build PyTriton's ``Triton`` bound to the listen address only (with the access token),
        let ``bind_model`` bind the models, and wait until each answers."""
        from pytriton.client import ModelClient
        from pytriton.triton import Triton

        ready = threading.Event()
        threading.Thread(
            target=self._watch_startup, args=(ctx, ready), name="startup-watch", daemon=True
        ).start()
        try:
            workspace = new_workspace()
            ctx.set_status("starting", workspace=str(workspace))
            config = self._config(ctx)
            self._triton = Triton(config=config, workspace=workspace, **self._security(ctx.token))
            binder = _Binder(self._triton, self)
            self.bind_model(binder)
            if self.model_name not in binder.models:
                raise ServerError(
                    f"bind_model bound {binder.models or 'no model'}, not {self.model_name!r}"
                )
            self._triton.run()
            url = self.url(ctx.address, ctx.port)
            auth = {"access_token": ctx.token} if ctx.token else {}
            for name in binder.models:
                with ModelClient(url, name, init_timeout_s=60, **auth) as c:
                    c.wait_for_model(timeout_s=60)
            return binder.models
        finally:
            ready.set()

    def alive(self) -> bool:
        return self._triton is not None and self._triton.is_alive()

    def stop(self) -> None:
        if self._triton is not None:
            self._triton.stop()


def retry_reason(log_text: str) -> str | None:
    """Why a failed Triton start is worth another attempt, from its log; None: it is not."""
    return retry_reason_from(log_text, TRITON_RETRYABLE)
