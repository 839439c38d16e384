"""The package's shape: a few subpackages, each with one public surface that the README lists;
notebooks import only that surface; importing it stays cheap (no torch, TensorFlow or Spark)."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import dl_helpers

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = sorted(
    m.name for m in pkgutil.iter_modules(dl_helpers.__path__) if not m.name.startswith("_")
)


def readme_surface() -> dict[str, set[str]]:
    """``{module: names}`` from the README's table of the package."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## `dl_helpers`", 1)[1].split("\n## ", 1)[0]
    out = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`dl_helpers"):
            out[cells[0].strip("`")] = set(re.findall(r"`([A-Za-z_]\w*)`", cells[2]))
    return out


def notebook_imports() -> list[tuple[str, str, list[str]]]:
    """``(notebook, module, names)`` of every ``from dl_helpers... import`` in a code cell."""
    found = []
    for nb in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        for cell in cells:
            if cell["cell_type"] != "code":
                continue
            src = "".join(cell["source"])
            src = "\n".join(
                line for line in src.splitlines() if not line.lstrip().startswith(("%", "!"))
            )
            for node in ast.walk(ast.parse(src)):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "dl_helpers"
                ):
                    found.append((nb.name, node.module, [a.name for a in node.names]))
    return found


def test_few_top_level_entries_each_in_the_docstring():
    entries = [m.name for m in pkgutil.iter_modules(dl_helpers.__path__)]
    assert len(entries) + 1 <= 10, entries  # + __init__.py
    missing = [n for n in PUBLIC if f"``{n}``" not in dl_helpers.__doc__]
    assert missing == [], missing


def test_the_readme_lists_every_public_name():
    surface = readme_surface()
    assert set(surface) == {f"dl_helpers.{n}" for n in PUBLIC} | {"dl_helpers"}
    for module, names in surface.items():
        exported = set(importlib.import_module(module).__all__)
        assert names == exported, (module, names ^ exported)


@pytest.mark.parametrize("module", PUBLIC)
def test_every_exported_name_exists(module):
    mod = importlib.import_module(f"dl_helpers.{module}")
    assert [n for n in mod.__all__ if not hasattr(mod, n)] == []


def test_notebooks_import_only_the_public_surface():
    bad = []
    for nb, module, names in notebook_imports():
        if any(part.startswith("_") for part in module.split(".")):
            bad.append((nb, module))
            continue
        exported = set(getattr(importlib.import_module(module), "__all__", ()))
        bad += [(nb, f"{module}.{n}") for n in names if n not in exported]
    assert bad == []


def test_importing_the_public_surface_is_cheap():
    code = (
        "import json, sys\n"
        + "".join(f"import dl_helpers.{m}\n" for m in PUBLIC)
        + "print(json.dumps(sorted(m for m in ('torch', 'tensorflow', 'pyspark', 'transformers',"
        " 'keras', 'pytriton') if m in sys.modules)))"
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


MAX_MODULES = 5


def test_each_notebook_imports_from_few_modules():
    modules: dict[str, set[str]] = {}
    for nb, module, _ in notebook_imports():
        modules.setdefault(nb, set()).add(module)
    counts = {nb: len(m) for nb, m in modules.items()}
    assert len(counts) == len(list((ROOT / "notebooks").rglob("*.ipynb")))
    wide = {nb: sorted(modules[nb]) for nb, n in counts.items() if n > MAX_MODULES}
    assert wide == {}, wide
