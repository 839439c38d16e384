"""docs/notebooks/ holds an executed copy of every notebook (made by `make docs`), and each copy's
cells are exactly its source's: a copy cannot drift silently from the notebook it shows."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "notebooks"
SOURCES = sorted(
    p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
)
sys.path.insert(0, str(ROOT / "ci"))

from build_docs import BANNER_TAG  # noqa: E402

SKIPPED_TAGS = {BANNER_TAG, "injected-parameters"}  # added by the copy's run, not in the source


def ids(p):
    return str(p.relative_to(ROOT))


def cells(nb: dict) -> list[tuple[str, str]]:
    """(type, source) of each cell the source notebook has, in order."""
    out = []
    for c in nb["cells"]:
        if SKIPPED_TAGS & set(c.get("metadata", {}).get("tags", [])):
            continue
        source = c["source"] if isinstance(c["source"], str) else "".join(c["source"])
        out.append((c["cell_type"], source))
    return out


def drift(source: Path, copy: Path) -> list[str]:
    """What differs between a notebook and its executed copy (empty: nothing)."""
    want, got = cells(json.loads(source.read_text())), cells(json.loads(copy.read_text()))
    problems = [
        f"cell {i} ({w[0]}) differs: source starts {w[1][:60]!r}, copy {g[1][:60]!r}"
        for i, (w, g) in enumerate(zip(want, got, strict=False))
        if w != g
    ]
    if len(want) != len(got):
        problems.append(f"{len(want)} cells in the source, {len(got)} in the copy")
    return problems


def test_every_notebook_has_an_executed_copy():
    missing = [ids(p) for p in SOURCES if not (DOCS / p.relative_to(ROOT / "notebooks")).exists()]
    assert not missing, f"no executed copy under docs/notebooks/ (run `make docs`): {missing}"
    copies = {p.relative_to(DOCS) for p in DOCS.rglob("*.ipynb")}
    extra = copies - {p.relative_to(ROOT / "notebooks") for p in SOURCES}
    assert not extra, f"copies of notebooks that no longer exist: {sorted(map(str, extra))}"


@pytest.mark.parametrize("source", SOURCES, ids=ids)
def test_executed_copy_equals_its_notebook(source):
    copy = DOCS / source.relative_to(ROOT / "notebooks")
    if not copy.exists():
        pytest.fail(f"{copy.relative_to(ROOT)} missing: run `make docs NOTEBOOKS={ids(source)}`")
    problems = drift(source, copy)
    assert not problems, (
        f"{copy.relative_to(ROOT)} is not a copy of {ids(source)} any more: {problems[:5]}; "
        f"regenerate it with `make docs NOTEBOOKS={ids(source)}`"
    )
    nb = json.loads(copy.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c.get("execution_count") for c in code), "a code cell of the copy did not run"
    kinds = {k for c in code for o in c.get("outputs", []) for k in o.get("data", {})}
    assert "image/png" in kinds, "the executed copy shows no figure"
    assert not any(o.get("output_type") == "error" for c in code for o in c.get("outputs", []))


def test_drift_is_seen(tmp_path):
    """The comparison itself: a changed code cell or a missing cell is reported."""
    nb = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": "# T"},
            {"cell_type": "code", "metadata": {}, "source": ["x = 1\n", "print(x)"]},
        ]
    }
    source, copy = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    source.write_text(json.dumps(nb))
    executed = json.loads(json.dumps(nb))
    executed["cells"].insert(
        0, {"cell_type": "markdown", "metadata": {"tags": [BANNER_TAG]}, "source": "> copy"}
    )
    executed["cells"][2]["source"] = "x = 1\nprint(x)"  # the same text, joined
    copy.write_text(json.dumps(executed))
    assert drift(source, copy) == []
    executed["cells"][2]["source"] = "x = 2\nprint(x)"
    copy.write_text(json.dumps(executed))
    assert drift(source, copy) == [
        "cell 1 (code) differs: source starts 'x = 1\\nprint(x)', copy 'x = 2\\nprint(x)'"
    ]
    del executed["cells"][2]
    copy.write_text(json.dumps(executed))
    assert drift(source, copy) == ["2 cells in the source, 1 in the copy"]


def test_images_the_copies_show_are_beside_them():
    for image in (ROOT / "notebooks" / "images").glob("*"):
        copy = DOCS / "images" / image.name
        assert copy.exists() and copy.read_bytes() == image.read_bytes(), (
            f"{copy.relative_to(ROOT)} differs from {image.relative_to(ROOT)}: run `make docs`"
        )
