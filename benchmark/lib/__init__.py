"""What the benchmark scripts share: the workloads, the designs they compare, the data set and
the CPU meter. Imported as ``benchmark.lib.<module>`` with the repository on ``sys.path`` (each
script puts it there, and on ``PYTHONPATH`` for the Spark and Ray workers it starts).

=================== ===========================================================================
resnet50            ResNet-50 and its preprocessing, the ``Predictor`` every design runs
variants            the six designs of ``run.py``
profile_pipeline    ``run.py --profile``: where the time of the fused Spark pipeline goes
dataset             JPEG bytes to Parquet (``prepare_dataset.py`` is its command line)
mlp_workload        the small-row MLP workload of ``udf_overhead``, ``mlp_fast_path``,
                    ``job_features``
process_cpu         ``TreeCPU``: CPU seconds of a process tree
=================== ===========================================================================
"""
