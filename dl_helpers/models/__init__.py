"""Models by name, with stand-ins made here when offline, and compiling torch models.

Usage::

    from dl_helpers.models import compile_model, sentiment_model

    source = sentiment_model()                 # the hub's model, or a stand-in offline
    fast = compile_model(model, example_batch, backend="auto")
"""

from dl_helpers.models._backends import (
    BackendStatus,
    BackendUnavailable,
    available_backends,
    backend_status,
)
from dl_helpers.models._compile import compile_model
from dl_helpers.models._text import (
    ModelSource,
    sentence_embedding_model,
    sentiment_model,
    split_sentences,
    translation_model,
)
from dl_helpers.models._tf import TFModel, resnet50_keras, sentiment_pipeline_tf, t5_model_tf

__all__ = [
    "BackendStatus",
    "BackendUnavailable",
    "ModelSource",
    "TFModel",
    "available_backends",
    "backend_status",
    "compile_model",
    "resnet50_keras",
    "sentence_embedding_model",
    "sentiment_model",
    "sentiment_pipeline_tf",
    "split_sentences",
    "t5_model_tf",
    "translation_model",
]
