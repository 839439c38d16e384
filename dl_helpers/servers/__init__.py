"""Model servers beside Spark executors: one lifecycle, two kinds of server.

Each file is one idea, named by where its code runs:

- ``managers`` (driver): ``ServerManager`` and its kinds ``TritonServerManager``,
  ``OpenAIServerManager``; ``stop_all_servers``.
- ``spark_jobs`` (driver): the per-executor barrier jobs that start and stop servers.
- ``launcher`` (the server's machine: driver or a start task): run folder, ports, retries.
- ``serve`` (the detached server process): status, owner watchdog, clean stop.
- ``triton_server``, ``openai_server`` (the server process): what each kind runs.
- ``triton_client``, ``openai_client`` (Spark tasks): predict functions for predict_batch_udf.
- ``info``, ``processes``, ``run_folder``, ``kind``, ``errors``: what the others share.

Notebooks import from ``dl_helpers.triton`` and ``dl_helpers.llm_serving``.
"""
