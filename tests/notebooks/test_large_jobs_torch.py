"""notebooks/pytorch/large_jobs_torch.ipynb with small parameters, in local mode and on the
multi-node cluster fixture: progress lines, three bad rows quarantined with their reasons, every
row written once (also by the chunk markers), predictions equal to the model's own, the default
mode failing on a bad row and naming it, and a resumed chunked write that wrote only the chunks
the first run had not committed."""

import os
import re

import pytest
from conftest import notebook_modes
from notebook_checks import check_placement

NOTEBOOK = "notebooks/pytorch/large_jobs_torch.ipynb"
ROWS = 8000
PARAMS = {
    "num_train": 2000,
    "epochs": 1,
    "num_rows": ROWS,
    "num_files": 4,
    "num_chunks": 4,
    "batch_size": 256,
    "offline": True,
}
DOCS_PARAMS = PARAMS | {"spark_master": "local[2]"}


def check(r, on_cluster):
    n = ROWS
    assert r["offline_standin"] is True  # tests never download
    assert r["large_job_rows"] == n
    assert r["large_job_output_rows"] == n and r["large_job_unique_ids"] == n
    assert r["large_job_marker_rows"] == n
    assert r["large_job_good_rows"] == n - 3 and r["large_job_quarantined_rows"] == 3
    assert r["large_job_reasons"] == {
        "1": "input column 'data': is null",
        str(n // 2): "input column 'data': contains a null or NaN element",
        str(n - 2): "input column 'data': has 783 values, expected 784 (shape [784])",
    }
    assert r["large_job_max_abs_diff"] < 1e-4 and r["large_job_checked_rows"] == n - 3
    assert r["large_job_rows_per_s"] > 0
    assert set(r["rows_per_s"]) == {
        "model alone",
        "one write (progress bar)",
        "chunked write (run_chunked)",
    }

    # The default mode fails on the first bad row it meets, naming it; the bar says so.
    first_bad = rf"input column 'data' \(row (1|{n // 2}|{n - 2})\): "
    assert re.search(first_bad, r["large_job_fail_mode_error"])
    assert r["large_job_fail_mode_bar"].startswith("[progress] fail mode: failed (")

    # A run stopped halfway, then resumed: the second wrote only what was left, every row once.
    first, second = r["large_job_first_run_chunks"], r["large_job_second_run_chunks"]
    assert first == [0, 1] and second == [2, 3]
    assert r["large_job_second_run_skipped"] == first
    assert r["large_job_resumed_rows"] == n
    line = r["large_job_progress_line"]
    assert line.startswith("[progress] second run: done,") and re.search(r"[\d,]+ rows/s", line)
    check_placement(r, on_cluster, triton=False)


LOCAL_ENV = "DL_TEST_LARGE_JOBS_LOCAL"


# The cluster run below asserts the same in CI; local mode (what `make run` and the executed copy
# do) runs when asked, to keep CI within its time.
@pytest.mark.notebook
@pytest.mark.spark
@pytest.mark.skipif(
    os.environ.get(LOCAL_ENV) != "1",
    reason=f"the cluster run covers this notebook in CI; {LOCAL_ENV}=1 runs it in local mode too",
)
@pytest.mark.parametrize("mode", notebook_modes(NOTEBOOK))
def test_large_jobs_torch(run_nb, mode):
    check(run_nb(NOTEBOOK, PARAMS | {"spark_master": "local[2]"}, mode=mode)["results"], False)


@pytest.mark.notebook
@pytest.mark.spark
@pytest.mark.cluster
@pytest.mark.parametrize("mode", notebook_modes(NOTEBOOK))
def test_large_jobs_torch_cluster(run_nb, cluster, mode):
    check(run_nb(NOTEBOOK, PARAMS, cluster=cluster, mode=mode)["results"], on_cluster=True)
