"""``python -m dl_helpers.session``: the GPU cluster settings (Databricks, Dataproc, spark-conf)."""

from dl_helpers.session._clusters import main

if __name__ == "__main__":
    raise SystemExit(main())
