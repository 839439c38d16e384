"""LLM batch inference through an OpenAI-compatible server beside each executor.

The notebooks' short import::

    from dl_helpers.llm_serving import OpenAIServerManager, openai_predict_fn, vllm_unavailable

    with OpenAIServerManager(spark, model_folder) as servers:          # transformers serve
        udf = predict_batch_udf(openai_predict_fn(servers, max_new_tokens=64),
                                return_type=llm_generation.return_type(), batch_size=16)
        df.select(udf("prompt", "id"))

``engine="vllm"`` serves with vLLM on GPUs (tensor parallel over the GPUs Spark gives each
executor); :func:`vllm_unavailable` says why it cannot run here, if it cannot. The servers have
every guarantee of the Triton ones (same lifecycle: one per executor, loopback, a token where
the engine takes one, readiness with the log tail, owner watchdog, nothing leaked).
"""

from __future__ import annotations

import importlib.util

from dl_helpers.servers.managers import OpenAIServerManager, stop_all_servers
from dl_helpers.servers.openai_client import openai_predict_fn


def vllm_unavailable() -> str | None:
    """None if vLLM can serve here (installed, with a CUDA GPU), else why not."""
    try:
        import torch

        gpu = torch.cuda.is_available()
    except ImportError:
        gpu = False
    if not gpu:
        return "vLLM needs a CUDA GPU and this machine has none"
    if importlib.util.find_spec("vllm") is None:
        return "vLLM is not installed (GPU machines: pip install -r requirements-gpu-torch.txt)"
    return None


__all__ = ["OpenAIServerManager", "openai_predict_fn", "stop_all_servers", "vllm_unavailable"]
