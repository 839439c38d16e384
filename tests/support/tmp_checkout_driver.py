"""A driver for the checkout-under-/tmp test: run from a copy of the repository's cluster fixture
and environment under /tmp, it starts the fixture cluster and prints, as one JSON line, what an
executor there sees.

usage: tmp_checkout_driver.py DRIVER_ONLY_FILE
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import StandaloneCluster  # noqa: E402 (the copy next to this file)


def main() -> int:
    driver_only = sys.argv[1]
    from dl_helpers.session import build_session

    with StandaloneCluster(workers=1, cores=1, memory="1g") as c:
        spark = build_session("tmp-checkout", master=c.master)

        def seen(batches, path=driver_only):
            import os
            import socket
            import sys

            import pandas as pd
            import pyspark

            for _ in batches:
                yield pd.DataFrame(
                    {
                        "host": [socket.gethostname()],
                        "python": [sys.executable],
                        "pyspark": [pyspark.__file__],
                        "driver_file": [os.path.exists(path)],
                    }
                )

        schema = "host string, python string, pyspark string, driver_file boolean"
        row = spark.range(0, 1, 1, 1).mapInPandas(seen, schema).first().asDict()
        spark.stop()
    print("RESULT " + json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
