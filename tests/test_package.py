"""The package's shape: every module is in the module list of dl_helpers/__init__.py, and
importing the data and model modules stays cheap (no torch, TensorFlow or Spark)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import dl_helpers

ROOT = Path(__file__).resolve().parent.parent


def test_every_module_is_in_the_module_list():
    names = {m.name for m in pkgutil.iter_modules(dl_helpers.__path__)}
    assert {"offline", "datasets", "text_models", "tf_models"} <= names
    missing = [n for n in sorted(names) if f"``{n}``" not in dl_helpers.__doc__]
    assert missing == [], missing


def test_importing_the_loaders_is_cheap():
    code = (
        "import json, sys\n"
        "import dl_helpers.offline, dl_helpers.datasets, dl_helpers.models, "
        "dl_helpers.models\n"
        "print(json.dumps(sorted(m for m in ('torch', 'tensorflow', 'pyspark', 'transformers',"
        " 'keras') if m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
