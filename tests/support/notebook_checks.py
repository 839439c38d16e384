"""Checks every notebook test makes on where a notebook put its files and ran its work."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

CLUSTER_HOSTS = ["node-1", "node-2"]  # the fixture's workers (tests/support/cluster.py)


def check_placement(r: dict, on_cluster: bool, triton: bool = True) -> None:
    """Files under shared storage; on the cluster both workers ran executors and each had its
    own Triton server on loopback; in local mode one server, the driver's."""
    storage = r["storage"]
    assert storage["shared_dir"], storage
    if on_cluster:
        assert storage["platform"] == "standalone", storage
        assert "/dlh-cluster-" in storage["shared_dir"], storage  # the fixture's shared folder
        assert sorted(storage["executor_hosts"]) == CLUSTER_HOSTS, storage
    else:
        assert storage["platform"] == "local", storage
    # The notebook's data and models are there (every notebook writes Parquet for Spark).
    assert any(name.endswith(".parquet") for name in r["shared_files"]), r["shared_files"]
    if triton:
        servers = r["triton_servers"]  # {"executor 0 on node-1 (JVM pid ...)": url}
        assert all(url.split("://")[1].startswith("127.0.0.1:") for url in servers.values())
        assert len(set(servers.values())) == len(servers), servers  # each its own server
        if on_cluster:
            hosts = sorted(re.search(r" on (\S+) ", name).group(1) for name in servers)
            assert hosts == CLUSTER_HOSTS, servers
        else:
            assert len(servers) == 1, servers


def check_rates(r: dict, approaches: set[str]) -> None:
    """The summary's rates: exactly ``approaches``, each measured (values are not asserted)."""
    assert set(r["rows_per_s"]) == approaches, r["rows_per_s"]
    assert min(r["rows_per_s"].values()) > 0, r["rows_per_s"]


def check_for_readers(executed) -> None:
    """What a reader of the executed notebook sees: no ``[record]`` line (results go silently to
    results.json unless DL_HELPERS_SHOW_RECORDS=1), no ``Out[]`` echo of a cell ending in
    ``record`` or a view (shown once, not twice), at least one figure, the summary table, and
    the checks apart: a ``## Checks`` section after the summary."""
    nb = json.loads(Path(executed).read_text())
    texts, kinds, summary_at, checks_at, echoed = [], set(), None, None, []
    for i, cell in enumerate(nb["cells"]):
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "markdown" and source.lstrip().startswith("## Checks"):
            checks_at = i if checks_at is None else checks_at
        last = source.strip().splitlines()[-1] if source.strip() else ""
        for out in cell.get("outputs", []):
            if out.get("output_type") == "execute_result" and last.startswith(("record(", "show_")):
                echoed.append(f"cell {i}: {last[:60]}")
            text = out.get("text", "")
            texts.append(text if isinstance(text, str) else "".join(text))
            for kind, value in out.get("data", {}).items():
                kinds.add(kind)
                value = value if isinstance(value, str) else "".join(value)
                if kind == "text/html" and "dlh-summary" in value and summary_at is None:
                    summary_at = i
                if kind.startswith("text/"):
                    texts.append(value)
    if os.environ.get("DL_HELPERS_SHOW_RECORDS") != "1":
        shown = [line for t in texts for line in t.splitlines() if "[record]" in line]
        assert not shown, f"[record] lines in the reader's output: {shown[:3]}"
    assert not echoed, f"cells whose value is echoed under their output: {echoed}"
    assert "image/png" in kinds, "no figure (image/png output) in the executed notebook"
    assert summary_at is not None, "no summary table (show_summary) in the executed notebook"
    assert checks_at is not None, "no '## Checks' section: the checks belong apart, at the end"
    assert summary_at < checks_at, "the summary must end the recipe, before the checks"
