"""notebooks/llm/llm_batch_inference_torch.ipynb with CI parameters on the multi-node cluster
fixture: the real SmolLM2-135M-Instruct (offline), in-process and through one transformers serve
per executor, its files under shared storage."""

import re

import pytest
from conftest import notebook_modes
from notebook_checks import CLUSTER_HOSTS, check_placement

NOTEBOOK = "notebooks/llm/llm_batch_inference_torch.ipynb"
ROWS = 8
CI_PARAMS = {"num_rows": ROWS, "max_new_tokens": 24, "batch_size": 4, "num_files": 2}


def check(r, on_cluster):
    assert r["offline_model"] is True and r["model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"

    # Spark's answers equal the model's own greedy answers, in-process and via the servers
    assert r["spark_rows"] == ROWS and r["spark_answers_equal"] == ROWS
    assert "Paris" in r["capital_answer"]
    assert r["server_rows"] == ROWS and r["server_answers_equal"] == ROWS

    # Structured output: every review row parsed into the struct, the others reported by id
    assert r["structured_rows"] == ROWS // 2
    assert r["structured_followed"] + r["not_followed_count"] == r["structured_rows"]
    assert len(r["not_followed_ids"]) == r["not_followed_count"]
    assert all(i % 2 == 1 for i in r["not_followed_ids"])  # review rows have odd ids
    assert r["structured_schema"].startswith("struct<sentiment:string,product:string,followed")

    # Bad input: errors name the row
    assert "prompt (row 7): is null" in r["error_null_prompt"]
    assert "prompt (row 8): is empty" in r["error_empty_prompt"]
    for key in ("error_too_long_prompt", "error_too_long_prompt_server"):
        assert "prompt (row 9):" in r[key] and "exceeds the model's context of 8192" in r[key]

    # No GPU in CI: vLLM skipped with a reason
    assert "vllm_answers_equal" in r or "GPU" in r["vllm_skipped"]
    for key in ("direct_tokens_per_s", "spark_tokens_per_s_warm", "server_tokens_per_s_warm"):
        assert r[key] > 0, key

    check_placement(r, on_cluster, triton=False)
    assert "model" in r["shared_files"]  # the model folder the executors and servers loaded
    servers = r["llm_servers"]  # {"executor 0 on node-1 (JVM pid ...)": url}: one each, loopback
    assert all(url.startswith("http://127.0.0.1:") for url in servers.values()), servers
    assert len(set(servers.values())) == len(servers), servers
    hosts = sorted(re.search(r" on (\S+) ", name).group(1) for name in servers)
    assert hosts == (CLUSTER_HOSTS if on_cluster else hosts[:1]), servers


@pytest.mark.notebook
@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.parametrize("mode", notebook_modes(NOTEBOOK))
def test_llm_batch_inference_cluster(run_nb, cluster, no_server_left, mode):
    check(run_nb(NOTEBOOK, CI_PARAMS, cluster=cluster, mode=mode)["results"], on_cluster=True)
