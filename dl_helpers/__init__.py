"""dl_helpers: the shared code of the Spark deep-learning inference notebooks.

Modules, one idea each:

- ``environment``: which platform this is (local, standalone, YARN, K8s, Databricks, Dataproc)
- ``spark``: building a SparkSession for inference
- ``datasets``: data sets with an offline stand-in
- ``inference``: input checks for predict_batch_udf functions; bad rows failed or quarantined
- ``progress``: a live progress bar for Spark jobs (tasks, rows/s, time left)
- ``resume``: resumable inference, written to Parquet in committed chunks
- ``triton``: Triton Inference Server (PyTriton) lifecycle on a Spark cluster
- ``acceleration``: compiling torch models (TensorRT on GPU, ONNX Runtime / torch.compile on CPU)
- ``notebook``: recording results for tests, output folders

Heavy libraries (pyspark, torch, tensorflow, pytriton) are imported inside functions, so
importing dl_helpers is cheap in either environment.
"""

__version__ = "0.1.0"
