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
# The executed copy for readers (make docs): the CI parameters, local Spark, offline.
DOCS_PARAMS = CI_PARAMS | {"offline": True}


def check(r, on_cluster):
    assert r["offline_model"] is True and r["model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"

    # Spark's answers equal the model's own greedy answers, in-process and via the servers
    assert r["spark_rows"] == ROWS and r["spark_answers_equal"] == ROWS
    assert "Paris" in r["capital_answer"]
    assert r["server_rows"] == ROWS and r["server_answers_equal"] == ROWS

    # Constrained: every review answer follows the schema at the CI budget (24 tokens) and
    # equals the model's own answer under the same schema; without it, the rows not followed
    # are reported by id.
    assert r["structured_rows"] == ROWS // 2
    assert r["structured_followed"] == ROWS // 2 and r["not_followed_count"] == 0
    assert r["constrained_answers_equal"] == ROWS // 2
    assert r["structured_schema"].startswith("struct<sentiment:string,product:string,followed")
    assert len(r["unconstrained_not_followed_ids"]) == r["unconstrained_not_followed_count"]
    assert all(i % 2 == 1 for i in r["unconstrained_not_followed_ids"])  # review rows: odd ids
    # transformers serve ignores response_format: its answers are only parsed and reported
    assert 0 <= r["server_schema_not_followed_count"] <= ROWS // 2

    # Bad rows: quarantined with the reason (the good row answered), or the error names the row
    errors = r["quarantine_errors"]
    assert errors["0"] is None and "Paris" in r["quarantine_good_answer"]
    assert errors["7"] == "prompt: is null" and errors["8"] == "prompt: is empty"
    assert "exceeds the model's context of 8192" in errors["9"]
    assert "prompt (row 7): is null" in r["error_null_prompt"]
    assert "prompt (row 8): is empty" in r["error_empty_prompt"]
    assert "prompt (row 9):" in r["error_too_long_prompt"]
    assert "exceeds the model's context of 8192" in r["error_too_long_prompt"]

    # No GPU in CI: vLLM skipped with a reason
    assert "vllm_answers_equal" in r or "GPU" in r["vllm_skipped"]
    for key in ("direct_prompts_per_s", "spark_prompts_per_s_warm", "server_prompts_per_s_warm"):
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
