"""dl_helpers: distributed deep-learning batch inference on Apache Spark.

Subpackages, one idea each (their ``__init__`` is the public surface):

- ``session``: the platform, the SparkSession, shared storage, executors, managed GPU clusters
- ``models``: models by name (torch, TensorFlow) with stand-ins; compiling torch models
- ``udfs``: inference UDFs: checked ``predict_batch_udf``, tensor columns, images
- ``servers``: Triton and OpenAI-compatible servers beside each executor
- ``llm``: chat models, batched generation, structured answers
- ``jobs``: progress, resumable chunked runs
- ``offline``: the offline policy (real data or model, else an announced stand-in)
- ``notebook``: what notebooks share: sample data sets (each with an offline stand-in), results,
  output folders, comparisons with the model, timing, reader views

Heavy libraries (pyspark, torch, tensorflow, pytriton) are imported inside functions, so
importing dl_helpers is cheap in either environment.
"""

from __future__ import annotations

from dataclasses import dataclass

__version__ = "0.1.0"


@dataclass(frozen=True)
class Status:
    """Whether something can run here (a backend, a server, the model hub), and why not.

    True or false in a condition; ``reason`` says why not (or what will be used)."""

    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


__all__ = ["Status", "__version__"]
