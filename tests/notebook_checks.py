"""Checks every notebook test makes on where a notebook put its files and ran its work."""

from __future__ import annotations

CLUSTER_HOSTS = ["node-1", "node-2"]  # the fixture's workers (tests/cluster.py)


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
    if triton:
        servers = r["triton_servers"]
        if on_cluster:
            assert servers == [f"{h} 127.0.0.1" for h in CLUSTER_HOSTS], servers
        else:
            assert len(servers) == 1 and servers[0].endswith(" 127.0.0.1"), servers
