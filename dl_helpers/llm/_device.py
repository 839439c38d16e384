"""Where in-process generation runs: the task's GPU (from its Spark resources) or the CPU, and
the dtype for it (bfloat16 where the GPU supports it, else float16; float32 on the CPU)."""

from __future__ import annotations

import os
from collections.abc import Sequence

AUTO = "auto"


def choose_dtype(device: str, capability: tuple[int, int] | None = None) -> str:
    """The dtype name for ``device``: float32 on the CPU; on CUDA bfloat16 from compute
    capability 8.0 (Ampere) on, float16 before it."""
    if not device.startswith("cuda"):
        return "float32"
    if capability is None:
        raise ValueError("a CUDA device needs its compute capability to choose a dtype")
    return "bfloat16" if tuple(capability) >= (8, 0) else "float16"


def gpu_device(
    addresses: Sequence[str] | None, visible: str | None, device_count: int
) -> str | None:
    """The CUDA device for a task: its first Spark GPU address, as an index among
    ``CUDA_VISIBLE_DEVICES`` (``visible``) where that lists it; else the address itself if this
    process sees that many devices; else cuda:0. None if no device is visible."""
    if device_count < 1:
        return None
    if addresses:
        first = str(addresses[0]).strip()
        listed = [v.strip() for v in visible.split(",")] if visible else []
        if first in listed:
            return f"cuda:{listed.index(first)}"
        if first.isdigit() and int(first) < device_count:
            return f"cuda:{first}"
    return "cuda:0"


def task_gpu_addresses() -> list[str] | None:
    """The GPU addresses Spark gave the running task, or None (no task, or no GPU resource)."""
    try:
        from pyspark import TaskContext
    except ImportError:
        return None
    ctx = TaskContext.get()
    if ctx is None:
        return None
    gpu = ctx.resources().get("gpu")
    return list(gpu.addresses) if gpu is not None else None


def resolve_device(device: str = AUTO) -> str:
    """``device`` as given, or (``"auto"``) the task's GPU, else cuda:0, else the CPU."""
    if device != AUTO:
        return device
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    found = gpu_device(task_gpu_addresses(), os.environ.get("CUDA_VISIBLE_DEVICES"), count)
    return found or "cpu"


def resolve_dtype(dtype, device: str):
    """A torch dtype: ``dtype`` (a torch dtype or its name), or the one chosen for ``device``."""
    import torch

    if dtype is None or dtype == AUTO:
        cap = torch.cuda.get_device_capability(device) if device.startswith("cuda") else None
        dtype = choose_dtype(device, cap)
    if isinstance(dtype, str):
        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ValueError(f"dtype {dtype!r} is not a torch dtype")
        return getattr(torch, dtype)
    return dtype
