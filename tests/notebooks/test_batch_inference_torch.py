"""The template notebook on a table and a model the test makes: every input row gets exactly one
output row, the predictions equal the model's own (computed here, not by the notebook), and bad
rows are quarantined with their reason (on the multi-node cluster) or the job is written in
resumable chunks from a CSV table through the fast path (over Spark Connect)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import CONNECT

NOTEBOOK = "notebooks/template/batch_inference_torch.ipynb"
FEATURES = [f"f{i}" for i in range(8)]
ROWS = 3000
BAD = {5: ("f3", None), 7: ("f0", float("nan"))}  # id -> the input column spoilt, and how
TOL = 1e-5
DOCS_PARAMS = {"spark_master": "local[2]", "demo_rows": 20_000}  # the demo table and model


def make_inputs(folder, bad: bool):
    """A table with an id, 8 float columns and a label that is not an input; the model's
    weights (the template's architecture, other random weights than the demo's); the model's
    own predictions for every row."""
    import torch
    from safetensors.torch import save_file

    rng = np.random.default_rng(1)
    x = rng.normal(size=(ROWS, 8)).astype(np.float32)
    columns = {"id": np.arange(ROWS, dtype=np.int64)}
    columns |= {c: x[:, i].astype(object) for i, c in enumerate(FEATURES)}
    columns["label"] = np.array(["a"] * ROWS, dtype=object)  # a string column: not an input
    if bad:
        for row, (col, value) in BAD.items():
            columns[col][row] = value
    table = pa.table({k: pa.array(list(v)) if v.dtype == object else v for k, v in columns.items()})
    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Linear(8, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1), torch.nn.Flatten(0)
    )
    folder.mkdir(parents=True, exist_ok=True)
    model_path = folder.parent / f"{folder.name}_model.safetensors"  # not inside the table
    save_file(net.state_dict(), str(model_path))
    with torch.inference_mode():
        expected = net(torch.from_numpy(x)).numpy()
    return table, str(model_path), expected


def written(output) -> dict:
    """The predictions the notebook wrote, by id."""
    t = pq.read_table(output).to_pandas()
    assert t["id"].is_unique
    return t.set_index("id")


@pytest.mark.notebook
@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.cluster
def test_template_on_the_cluster_quarantines_bad_rows(run_nb, cluster):
    folder = cluster.shared / "template_inputs"
    table, model_path, expected = make_inputs(folder, bad=True)
    pq.write_table(table.slice(0, ROWS // 2), folder / "part-0.parquet")
    pq.write_table(table.slice(ROWS // 2), folder / "part-1.parquet")
    output = cluster.shared / "template_predictions"
    params = {
        "input_path": str(folder),
        "input_columns": FEATURES,
        "model_path": model_path,
        "output_path": f"file://{output}",
        "batch_size": 256,
        "on_bad_row": "quarantine",
    }
    r = run_nb(NOTEBOOK, params, cluster=cluster)["results"]

    assert (r["rows_in"], r["rows_out"], r["unique_ids"]) == (ROWS, ROWS, ROWS)
    assert r["quarantined"] == len(BAD)
    assert set(r["reasons"]) == {str(i) for i in BAD}
    assert "null" in r["reasons"]["5"] and "NaN" in r["reasons"]["7"], r["reasons"]
    assert r["checked_rows"] > 1000 and r["max_abs_diff"] < TOL

    out = written(output)
    assert len(out) == ROWS
    good = np.array([i for i in range(ROWS) if i not in BAD])
    assert np.abs(out.loc[good, "prediction"].to_numpy() - expected[good]).max() < TOL
    assert out.loc[list(BAD), "prediction"].isna().all()
    assert out.loc[good, "error"].isna().all()


@pytest.mark.notebook
@pytest.mark.spark
@pytest.mark.slow
def test_template_over_connect_writes_chunks_from_csv(run_nb, tmp_path):
    table, model_path, expected = make_inputs(tmp_path / "in", bad=False)
    csv = tmp_path / "in" / "table.csv"
    table.to_pandas().to_csv(csv, index=False)
    output = tmp_path / "predictions"
    params = {
        "input_path": str(csv),
        "input_format": "csv",
        "model_path": model_path,  # input_columns left out: every numeric column but the id
        "output_path": str(output),
        "chunked": True,
        "num_chunks": 3,
        "spark_master": "local[2]",
    }
    r = run_nb(NOTEBOOK, params, mode=CONNECT)["results"]

    assert (r["rows_in"], r["rows_out"], r["unique_ids"]) == (ROWS, ROWS, ROWS)
    assert r["quarantined"] == 0 and r["reasons"] == {}
    assert r["checked_rows"] == 2000 and r["max_abs_diff"] < TOL
    out = written(output)
    assert np.abs(out.loc[np.arange(ROWS), "prediction"].to_numpy() - expected).max() < TOL
    assert "error" not in out.columns  # the fast path (fail mode) has no reason column
    assert sorted(out["chunk"].unique()) == [0, 1, 2]  # run_chunked's committed chunks
