"""Recorded results and output folders: what a notebook leaves for its tests and its reader."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_ENV = "DL_HELPERS_RESULTS"
SHOW_RECORDS_ENV = "DL_HELPERS_SHOW_RECORDS"


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def record(name: str, value: Any) -> None:
    """Record a named result (JSON-serialisable after numpy conversion); printed only when
    ``DL_HELPERS_SHOW_RECORDS=1``. Returns None, so that a cell ending in it shows nothing."""
    value = _jsonable(value)
    json.dumps(value)  # fail here, in the notebook, if the value cannot be stored
    if os.environ.get(SHOW_RECORDS_ENV) == "1":
        print(f"[record] {name} = {value!r}")
    path = os.environ.get(RESULTS_ENV)
    if path:
        p = Path(path)
        data = json.loads(p.read_text()) if p.exists() else {}
        data[name] = value
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        tmp.replace(p)


def recorded(path: str | os.PathLike) -> dict[str, Any]:
    """Read a results file written by :func:`record`."""
    return json.loads(Path(path).read_text())


def make_output_dir(path: str | os.PathLike) -> Path:
    """Create (if needed) and return a notebook's output folder as an absolute path."""
    p = Path(path).expanduser().resolve()
    p.mkdir(parents=True, exist_ok=True)
    return p
