"""dl_helpers: the shared code of the Spark deep-learning inference notebooks.

Modules, one idea each:

- ``environment``: which platform this is (local, standalone, YARN, K8s, Databricks, Dataproc)
- ``spark``: building a SparkSession for inference
- ``storage``: the shared folder every node reads (data, models, Spark outputs), proven
  visible to the executors
- ``clusters``: managed GPU clusters (Databricks, Dataproc): their Spark settings, shipping
  dl_helpers
- ``offline``: the offline policy (real data or model, else a stand-in, announced)
- ``datasets``: data sets with an offline stand-in, by kind (``images``, ``tables``, ``text``),
  and their downloads (``download``: cache, mirror, atomic checked files)
- ``text_models``: Hugging Face text models by name (torch), with stand-ins made here
- ``tf_models``: TensorFlow models by name (HF T5, sentiment pipeline, Keras ResNet50), with
  stand-ins made here
- ``inference``: input checks for predict_batch_udf functions; bad rows failed or quarantined
- ``tensors``: tensor columns (raw bytes + dtype/shape) and the fast predict UDF that reads them
- ``images``: encoded images in, decode + preprocessing + model in one UDF (the fused design)
- ``servers``: one per-executor server lifecycle shared by every kind of model server (Triton,
  OpenAI-compatible: ``transformers serve``, vLLM), one idea per module
- ``triton``: Triton Inference Server (PyTriton) on a Spark cluster: the notebooks' short import
- ``llm_serving``: OpenAI-compatible servers per executor: the notebooks' short import
- ``llm_models``: a chat model by name, or SmolLM2 offline, and the plain folder servers load
- ``llm_generation``: batched greedy generation with the chat template, prompts checked per row
- ``llm_structured``: JSON answers parsed into a struct, the rows the model did not follow reported
- ``acceleration``: compiling torch models (TensorRT on GPU; on CPU, "auto" measures ONNX Runtime
  and torch.compile against eager)
- ``progress``: a live progress bar of a running Spark job (tasks, rows/s, time left)
- ``resume``: inference into committed chunks, resumed after a failure without redoing them
- ``timing``: timed runs of a DataFrame (Parquet or the noop sink), cold and warm
- ``frames``: small DataFrame helpers the result checks share (argmax, collect by id)
- ``notebook``: recording results for tests, output folders

Heavy libraries (pyspark, torch, tensorflow, pytriton) are imported inside functions, so
importing dl_helpers is cheap in either environment.
"""

__version__ = "0.1.0"
