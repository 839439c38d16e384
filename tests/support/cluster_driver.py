"""A driver program for tests/cluster/test_cluster.py: a SparkSession on the fixture cluster, run
as its
own process (one SparkSession per process), printing what it saw as one JSON line.

usage: cluster_driver.py MASTER SHARED_DIR DRIVER_LOCAL_DIR
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> int:
    master, shared, driver_local = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    from dl_helpers.session import SharedStorageError, build_session, shared_storage

    out: dict = {}
    spark = build_session(
        "cluster-fixture-test", master=master, conf={"spark.executor.instances": "2"}
    )

    # 1. An executor opening a driver-local file fails.
    driver_local.mkdir(parents=True, exist_ok=True)
    local_file = driver_local / "driver_only.txt"
    local_file.write_text("only on the driver")

    def read(batches, path=str(local_file)):
        import pandas as pd

        for _ in batches:
            with open(path) as f:
                yield pd.DataFrame({"text": [f.read()]})

    try:
        spark.range(0, 2, 1, 2).mapInPandas(read, "text string").collect()
        out["driver_local_read"] = "succeeded"
    except Exception as e:
        missing = "FileNotFoundError" in str(e)
        out["driver_local_read"] = "FileNotFoundError" if missing else str(e)[-500:]

    # 2. The shared folder is visible on both workers; they are two hosts.
    t0 = time.monotonic()
    storage = shared_storage(spark, shared / "fixture", output_dir=driver_local)
    out["shared_check_s"] = round(time.monotonic() - t0, 2)
    out["shared_hosts"] = list(storage.executor_hosts)
    table_uri = storage.write_parquet(
        __import__("pyarrow").table({"id": list(range(100))}), "ids.parquet", files=4
    )
    out["shared_parquet_rows"] = spark.read.parquet(table_uri).count()

    # 3. A driver-local shared_dir fails at once, naming the folder and what to set.
    t0 = time.monotonic()
    try:
        shared_storage(spark, driver_local / "not_shared", output_dir=driver_local)
        out["driver_local_shared_dir"] = "accepted"
    except SharedStorageError as e:
        out["driver_local_shared_dir"] = str(e)
    out["driver_local_shared_dir_s"] = round(time.monotonic() - t0, 2)

    # 4. No shared_dir at all on a standalone cluster: the error names the output folder.
    try:
        shared_storage(spark, None, output_dir=driver_local, env={})
        out["no_shared_dir"] = "accepted"
    except SharedStorageError as e:
        out["no_shared_dir"] = str(e)

    spark.stop()
    print("RESULT " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
