#!/usr/bin/env python3
"""Execute one notebook headless with papermill, in the environment its name asks for.

Used by ``make run``, by the tests (tests/conftest.py) and so by CI. The notebook's suffix
(``_torch`` / ``_tf``) picks ``.envs/torch`` or ``.envs/tf``; that environment's own papermill
runs it with the kernel registered there (``dl-torch`` / ``dl-tf``).

Outputs, all under ``--output-dir``/<notebook name>/:
  <name>.ipynb   the executed notebook (kept for inspection, also when a cell fails)
  results.json   what the notebook recorded with dl_helpers.notebook.record()
  data/          the notebook's own outputs (the ``output_dir`` parameter points here; what
                 the executors open goes under ``shared_dir``, by default this folder too)

Example:
  .envs/torch/bin/python ci/run_notebook.py notebooks/pytorch/image_classification_torch.ipynb \
      --output-dir output/run -p num_test_rows 2000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CELL_TIMEOUT = 600


class NotebookFailed(RuntimeError):
    """papermill exited non-zero; the message carries the tail of its output, ``executed`` the
    path of the executed notebook (outputs up to the failing cell)."""

    def __init__(self, message: str, executed: Path | None = None):
        super().__init__(message)
        self.executed = executed


def env_for(notebook: Path) -> str:
    stem = notebook.stem
    for env in ("torch", "tf"):
        if stem.endswith(f"_{env}"):
            return env
    raise ValueError(f"{notebook.name}: name must end in _torch or _tf to pick an environment")


def python_for(env: str) -> Path:
    py = ROOT / ".envs" / env / "bin" / "python"
    if not py.exists():
        raise FileNotFoundError(f"{py} missing: run `make env-{env}` first")
    return py


def run_notebook(
    notebook: str | os.PathLike,
    output_dir: str | os.PathLike,
    parameters: dict | None = None,
    cell_timeout: int = DEFAULT_CELL_TIMEOUT,
    extra_env: dict[str, str] | None = None,
) -> dict:
    """Run a notebook; return ``{"results": {...}, "executed": path, "seconds": float}``.

    Raises NotebookFailed (with papermill's output tail) if a cell fails.
    """
    nb = Path(notebook).resolve()
    env = env_for(nb)
    out = Path(output_dir).resolve() / nb.stem
    out.mkdir(parents=True, exist_ok=True)
    data_dir = out / "data"
    executed = out / nb.name
    results = out / "results.json"
    if results.exists():
        results.unlink()  # results of an earlier run must not pass for this one's

    params = {"output_dir": str(data_dir)}
    params.update(parameters or {})
    run_env = dict(os.environ)
    run_env.update(extra_env or {})
    run_env["DL_HELPERS_RESULTS"] = str(results)
    run_env.setdefault("PYTHONUNBUFFERED", "1")
    cmd = [
        str(python_for(env)),
        "-m",
        "papermill",
        str(nb),
        str(executed),
        "--kernel",
        f"dl-{env}",
        "--cwd",
        str(nb.parent),
        "--execution-timeout",
        str(cell_timeout),
        "--log-output",
        "--no-progress-bar",
        "--parameters_yaml",
        json.dumps(params),  # JSON is YAML
    ]
    print(f"[run_notebook] {nb.relative_to(ROOT)} in .envs/{env} -> {out}", flush=True)
    t0 = time.monotonic()
    proc = subprocess.run(
        cmd, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    seconds = time.monotonic() - t0
    log_path = out / "papermill.log"
    log_path.write_text(proc.stdout)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-60:])
        raise NotebookFailed(
            f"{nb.name} failed after {seconds:.0f} s (exit {proc.returncode}); "
            f"executed notebook: {executed}; full log: {log_path}\n{tail}",
            executed,
        )
    recorded = json.loads(results.read_text()) if results.exists() else {}
    print(f"[run_notebook] done in {seconds:.1f} s; executed notebook: {executed}", flush=True)
    return {"results": recorded, "executed": executed, "seconds": seconds, "data_dir": data_dir}


def _parse_value(raw: str):
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("notebook")
    ap.add_argument("--output-dir", default="output/run")
    ap.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="notebook parameter (VALUE parsed as JSON)",
    )
    ap.add_argument("--cell-timeout", type=int, default=DEFAULT_CELL_TIMEOUT)
    args = ap.parse_args(argv)
    params = {k: _parse_value(v) for k, v in args.parameter}
    try:
        res = run_notebook(args.notebook, args.output_dir, params, args.cell_timeout)
    except NotebookFailed as e:
        print(e, file=sys.stderr)
        return 1
    print(f"Executed notebook: {res['executed']}")
    print(f"Notebook outputs:  {res['data_dir']}")
    for k, v in sorted(res["results"].items()):
        print(f"  {k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
