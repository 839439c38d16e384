"""The OpenAI-compatible kind of server: ``transformers serve`` (CPU or GPU) or vLLM (GPUs).

Usage: ``OpenAIServer(model=folder, engine="transformers")``, handed to a ``ServerManager``
(``OpenAIServerManager`` builds it); ``start`` runs in the server process."""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
import signal
import subprocess
import sys

from dl_helpers import Status
from dl_helpers.servers._base import ServeContext, ServerKind, http_json

log = logging.getLogger(__name__)

ENGINES = {"transformers": "transformers serve", "vllm": "vLLM"}
ENGINE_STOP_S = 10.0  # SIGTERM -> engine exit; then SIGKILL


def _die_with_parent() -> None:
    # In the child, before exec: SIGTERM when the server process dies, however it dies.
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclasses.dataclass
class OpenAIServer(ServerKind):
    """An OpenAI-compatible server for one model.

    ``model``: a local model folder (a plain Hugging Face folder; ``transformers serve`` cannot
    serve a GGUF file) or, online, a model name. ``served_model_name``: what requests name (vLLM
    only; ``transformers serve`` answers to ``model`` itself). ``extra_args``: more engine
    command-line arguments.
    """

    model: str
    engine: str = "transformers"
    served_model_name: str | None = None
    extra_args: list = dataclasses.field(default_factory=list)
    warmup: bool = True

    def __post_init__(self):
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {sorted(ENGINES)}, not {self.engine!r}")
        self._proc = None

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_proc"}

    def __setstate__(self, state):
        self.__dict__.update(state, _proc=None)

    @property
    def display(self) -> str:  # type: ignore[override]
        return ENGINES[self.engine]

    @property
    def supports_token(self) -> bool:  # type: ignore[override]
        return self.engine == "vllm"

    @property
    def model_id(self) -> str:
        """The name requests carry."""
        if self.engine == "vllm":
            return self.served_model_name or self.model
        return self.model

    def command(self, ctx: ServeContext) -> list[str]:
        if self.engine == "transformers":
            cli = (
                "import sys; from transformers.cli.transformers import main; "
                "sys.argv[0] = 'transformers'; sys.exit(main())"
            )
            cmd = [
                sys.executable,
                "-c",
                cli,
                "serve",
                "--host",
                ctx.address,
                "--port",
                str(ctx.port),
                "--log-level",
                "info",
            ]
            if not ctx.gpus:
                cmd += ["--device", "cpu"]
            return [*cmd, *map(str, self.extra_args), self.model]
        cmd = [
            sys.executable,
            "-m",
            "vllm.entrypoints.cli.main",
            "serve",
            self.model,
            "--host",
            ctx.address,
            "--port",
            str(ctx.port),
            "--served-model-name",
            self.model_id,
            "--tensor-parallel-size",
            str(max(1, len(ctx.gpus))),
        ]
        if ctx.token:
            cmd += ["--api-key", ctx.token]
        return [*cmd, *map(str, self.extra_args)]

    def start(self, ctx: ServeContext) -> list[str]:
        """Start the engine as a child process (same process group: it dies with its parent),
        wait for ``/health``, then send one one-token chat request, so that "ready" means the
        model answers. vLLM gets the executor's GPUs as its tensor-parallel size and the
        manager's API key; ``transformers serve`` has no API key option, so its servers rely on
        listening on loopback only."""
        cmd = self.command(ctx)
        log.info("starting %s: %s", self.display, " ".join(a for a in cmd if a != ctx.token))
        sys.stdout.flush()
        env = dict(os.environ)
        if os.path.isdir(self.model):
            env["HF_HUB_OFFLINE"] = "1"  # a local folder: nothing to ask the hub
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, env=env, preexec_fn=_die_with_parent
        )
        base = self.url(ctx.address, ctx.port)
        while True:  # the launcher's start_timeout_s bounds this wait (it stops us)
            if self._proc.poll() is not None:
                raise RuntimeError(f"{self.display} exited with code {self._proc.returncode}")
            try:
                status, _ = http_json(f"{base}/health", timeout_s=2)
                if status == 200:
                    break
            except OSError:
                pass
            if ctx.stop.wait(0.3):
                return []
        if self.warmup:
            body = {
                "model": self.model_id,
                "max_tokens": 1,
                "temperature": 0,
                "messages": [{"role": "user", "content": "Hello"}],
            }
            status, reply = http_json(f"{base}/v1/chat/completions", body, ctx.token, 600)
            if status != 200:
                raise RuntimeError(f"first request to {self.model_id!r} failed: {status} {reply}")
        return [self.model_id]

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(ENGINE_STOP_S)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in %.0f s: killing it", self.display, ENGINE_STOP_S)
            self._proc.kill()
            self._proc.wait(10)


def vllm_available() -> Status:
    """Can vLLM serve here (installed, with a CUDA GPU)? ``Status.reason`` says why not."""
    try:
        import torch

        gpu = torch.cuda.is_available()
    except ImportError:
        gpu = False
    if not gpu:
        return Status(False, "vLLM needs a CUDA GPU and this machine has none")
    if importlib.util.find_spec("vllm") is None:
        return Status(
            False, "vLLM is not installed (GPU machines: pip install -r requirements-gpu-torch.txt)"
        )
    return Status(True)
