#!/usr/bin/env python3
"""Run every notebook with its DEFAULT parameters on the multi-node fixture cluster and print a
table: notebook, exit status, seconds, first error line.

The cluster is tests/support/cluster.py's: a standalone master and (by default) two one-core
workers whose executors see none of the driver's disk but the installed software and one shared
folder.
Executors get Spark's default settings (1 GB of memory, no extra JVM options); each notebook is
given only where the cluster is (``spark_master``) and its folders (``shared_dir``,
``output_dir``), and the application waits for every worker's executor
(``spark.executor.instances``). ``--workers 1`` is a master and one worker: all cached data on
one executor.
Everything else is the notebook's default. Data sets and models take their offline paths
(``DL_HELPERS_OFFLINE=1``, as in the tests) unless the environment says otherwise.

Heavy (the defaults are the sizes a user runs): ``make defaults-on-cluster``; not part of CI.

Example::

    .envs/torch/bin/python ci/defaults_on_cluster.py --only keras_resnet50 --only housing
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "support"))

from ci.run_notebook import NotebookFailed, env_for, run_notebook  # noqa: E402

_ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Failure|Interrupt|Exit)\b.*")


def notebooks(only: list[str]) -> list[Path]:
    found = sorted((ROOT / "notebooks").rglob("*.ipynb"))
    found = [p for p in found if ".ipynb_checkpoints" not in p.parts]
    return [p for p in found if not only or any(o in p.stem for o in only)]


def first_error(failure: NotebookFailed) -> str:
    """The first error a cell showed (``Name: message``), else the first error-like line of
    papermill's output, else its last line."""
    executed = failure.executed
    if executed and executed.exists():
        nb = json.loads(executed.read_text())
        for cell in nb.get("cells", []):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    value = (out.get("evalue") or "").strip().splitlines()
                    return f"{out.get('ename')}: {value[0] if value else ''}"
    lines = [x.strip() for x in str(failure).splitlines() if x.strip()]
    errors = [x for x in lines if _ERROR_LINE.match(x)]
    return (errors or lines or ["?"])[0]


def run_all(paths: list[Path], out: Path, cell_timeout: int, workers: int = 2) -> list[dict]:
    from cluster import StandaloneCluster, isolation_error

    why = isolation_error()
    if why:
        raise SystemExit(f"the fixture cluster cannot run here: {why}")
    data_cache = os.environ.get("DL_HELPERS_DATA_DIR", Path.home() / ".cache" / "dl_helpers")
    rows = []
    submit = f"--conf spark.executor.instances={workers} pyspark-shell"
    with StandaloneCluster(workers=workers, cores=1, hide=(out, data_cache)) as cluster:
        print(f"cluster {cluster.master}, shared folder {cluster.shared}", flush=True)
        for nb in paths:
            row = {"notebook": nb.stem, "rc": 0, "seconds": 0.0, "error": ""}
            params = {"spark_master": cluster.master, "shared_dir": str(cluster.shared / nb.stem)}
            t0 = time.monotonic()
            try:
                env_py = ROOT / ".envs" / env_for(nb) / "bin" / "python"
                if not env_py.exists():
                    raise FileNotFoundError(f"{env_py} missing: run `make env-{env_for(nb)}`")
                run_notebook(
                    nb,
                    out,
                    params,
                    cell_timeout,
                    extra_env={"PYSPARK_SUBMIT_ARGS": submit},
                )
            except NotebookFailed as e:
                row.update(rc=1, error=first_error(e))
            except Exception as e:
                row.update(rc=2, error=f"{type(e).__name__}: {e}")
            row["seconds"] = round(time.monotonic() - t0, 1)
            shutil.rmtree(cluster.shared / nb.stem, ignore_errors=True)  # keep the disk free
            rows.append(row)
            print(
                f"{row['notebook']}: rc {row['rc']} in {row['seconds']} s {row['error']}",
                flush=True,
            )
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| notebook | rc | seconds | first error line |", "|---|---|---|---|"]
    for r in rows:
        error = r["error"][:160].replace("|", "\\|")
        lines.append(f"| {r['notebook']} | {r['rc']} | {r['seconds']:.0f} | {error} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", action="append", default=[], help="run notebooks whose name has this")
    ap.add_argument("--output-dir", default=str(ROOT / "output" / "defaults"))
    ap.add_argument("--cell-timeout", type=int, default=1800)
    ap.add_argument(
        "--workers", type=int, default=2, help="worker nodes (one 1-core executor each)"
    )
    args = ap.parse_args(argv)
    for k, v in {
        "DL_HELPERS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }.items():
        os.environ.setdefault(k, v)
    paths = notebooks(args.only)
    if not paths:
        raise SystemExit(f"no notebook matches {args.only}")
    out = Path(args.output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    rows = run_all(paths, out, args.cell_timeout, args.workers)
    print("\n" + table(rows))
    (out / "defaults_on_cluster.json").write_text(json.dumps(rows, indent=1))
    return 0 if all(r["rc"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
