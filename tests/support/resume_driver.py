"""A driver for the resume test: writes a slow transform of a Parquet input with run_chunked.

Run as ``python resume_driver.py INPUT OUTPUT NUM_CHUNKS``; the test kills it mid-run. The test
imports ``transform`` from here for the rerun, so both runs compute the same thing.
"""

# No "from __future__ import annotations": pandas_udf reads the type hints.

import sys
import time

SECONDS_PER_BATCH = 0.4  # makes each chunk take long enough to be caught mid-write


def transform(df):
    """id, x -> id, y = 2x, slowly (one pandas_udf call per Arrow batch)."""
    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("double")
    def slow_double(x: pd.Series) -> pd.Series:
        time.sleep(SECONDS_PER_BATCH)
        return x * 2

    return df.select("id", slow_double("x").alias("y"))


def main(argv: list[str]) -> None:
    from dl_helpers.jobs import run_chunked
    from dl_helpers.session import build_session

    src, out, chunks = argv[0], argv[1], int(argv[2])
    spark = build_session("resume-driver", master="local[2]")
    result = run_chunked(spark.read.parquet(src), transform, out, num_chunks=chunks)
    print("finished", result, flush=True)  # the test kills the run before this
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
