#!/usr/bin/env python3
"""Executed copies of the notebooks for readers: docs/notebooks/<folder>/<name>.ipynb.

Each notebook runs headless (``ci/run_notebook.py``) on local Spark with the small, offline
parameters its test names ``DOCS_PARAMS`` (tests/notebooks/test_<name>.py), and its executed
copy, outputs and figures included, is written under docs/notebooks/ with a banner cell on top
saying how it was run. Paths of this checkout in the outputs are shortened. The images the
notebooks show (notebooks/images/) are copied beside them.

``tests/project/test_docs_notebooks.py`` checks that every copy's cells equal its source's, so
a copy cannot drift from the notebook; after editing a notebook, regenerate its copy:

  make docs NOTEBOOKS=notebooks/pytorch/housing_regression_torch.ipynb   # one
  make docs                                                              # all
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "notebooks"
BANNER_TAG = "executed-copy-banner"
TESTS = ROOT / "tests" / "notebooks"
sys.path[:0] = [str(ROOT / "ci"), str(ROOT / "tests"), str(ROOT / "tests" / "support"), str(TESTS)]

from run_notebook import run_notebook  # noqa: E402


def docs_params(notebook: Path) -> dict:
    """The parameters the notebook's test names for its executed copy."""
    test = TESTS / f"test_{notebook.stem}.py"
    if not test.exists():
        raise SystemExit(f"{test.relative_to(ROOT)} missing: every notebook has a test")
    module = importlib.import_module(test.stem)
    params = getattr(module, "DOCS_PARAMS", None)
    if not isinstance(params, dict):
        raise SystemExit(f"{test.relative_to(ROOT)} defines no DOCS_PARAMS dict")
    return dict(params)


def banner(source: Path, params: dict) -> dict:
    rel = source.relative_to(ROOT)
    shown = ", ".join(f"`{k}={v!r}`" for k, v in sorted(params.items()))
    up = "../" * len(rel.parts)  # from docs/notebooks/<folder>/ back to the checkout
    text = (
        f"> **Executed copy** of [`{rel}`]({up}{rel}) for reading: run on a CPU machine on "
        f"local Spark, offline (stand-in models and data where the notebook has them), with the "
        f"small parameters of its test: {shown}. Rates are this small machine's, not a GPU "
        f"cluster's. Regenerate with `make docs NOTEBOOKS={rel}`."
    )
    return {"cell_type": "markdown", "metadata": {"tags": [BANNER_TAG]}, "source": text}


def scrub(text: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        text = text.replace(old, new)
    return text


def copy_of(executed: Path, source: Path, params: dict, replacements: dict[str, str]) -> dict:
    nb = json.loads(executed.read_text())
    for cell in nb["cells"]:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            source_text = "".join(cell["source"])
            cell["source"] = scrub(source_text, replacements)
        cell.get("metadata", {}).pop("papermill", None)
        cell.get("metadata", {}).pop("execution", None)
        for output in cell.get("outputs", []):
            for key in ("text", "data"):
                if key in output:
                    output[key] = json.loads(scrub(json.dumps(output[key]), replacements))
    nb["metadata"].pop("papermill", None)
    nb["cells"].insert(0, banner(source, params))
    return nb


def build(notebook: Path, work: Path) -> Path:
    source = notebook.resolve()
    params = docs_params(source)
    res = run_notebook(source, work, params)
    out_dir = Path(res["executed"]).parent
    replacements = {str(out_dir): "<output>", str(work): "<output>", str(ROOT): "<checkout>"}
    target = DOCS / source.relative_to(ROOT / "notebooks")
    target.parent.mkdir(parents=True, exist_ok=True)
    nb = copy_of(Path(res["executed"]), source, params, replacements)
    target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    print(
        f"[docs] {target.relative_to(ROOT)} ({target.stat().st_size // 1024} KiB, "
        f"{res['seconds']:.0f} s)",
        flush=True,
    )
    return target


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("notebooks", nargs="*", help="notebooks to run (default: all)")
    args = ap.parse_args(argv)
    notebooks = [Path(n) for n in args.notebooks] or sorted(
        p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
    )
    images = ROOT / "notebooks" / "images"
    if images.is_dir():
        shutil.copytree(images, DOCS / "images", dirs_exist_ok=True)
    failed = []
    (ROOT / "output").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="docs-", dir=ROOT / "output") as work:
        for nb in notebooks:
            try:
                build(nb, Path(work))
            except Exception as e:  # one failing notebook does not stop the others
                print(f"[docs] {nb} FAILED: {str(e)[:2000]}", file=sys.stderr, flush=True)
                failed.append(str(nb))
    if failed:
        print(f"[docs] failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
