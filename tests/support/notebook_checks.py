"""Checks every notebook test makes on where a notebook put its files and ran its work."""

from __future__ import annotations

import re

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
