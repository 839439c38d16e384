"""Every committed notebook is reviewable and runnable the same way: one `parameters` cell
holding output_dir, shared_dir, offline and spark_remote, no outputs or execution counts, a name
that picks its environment, no SparkContext-only API (so it runs on Spark Connect), lint-clean,
and a test that runs it."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))
NOTEBOOKS = [p for p in NOTEBOOKS if ".ipynb_checkpoints" not in p.parts]


def ids(p):
    return str(p.relative_to(ROOT))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_notebook_is_clean_and_parameterized(path):
    nb = json.loads(path.read_text())
    assert path.stem.endswith(("_torch", "_tf")), "name must end in _torch or _tf"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{len(tagged)} cells tagged 'parameters' (want exactly one)"
    assert code.index(tagged[0]) <= 1, "the parameters cell must be near the top"
    params = "".join(tagged[0]["source"])
    for name in ("output_dir", "shared_dir", "offline", "spark_remote"):
        assert f"{name} =" in params, f"parameters cell lacks {name}"
    for c in code:
        assert not c.get("outputs"), "committed with outputs"
        assert c.get("execution_count") is None, "committed with execution counts"


# What a Spark Connect session lacks: the SparkContext and everything reached through it.
CONTEXT_ONLY = re.compile(
    r"\bsparkContext\b|\.rdd\b|\bSparkFiles\b|\badd(Py)?File\(|\b_jsc\b|\b_jvm\b"
)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_notebook_runs_on_spark_connect(path):
    nb = json.loads(path.read_text())
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] != "code":
            continue
        source = "".join(c["source"])
        for line in source.splitlines():
            assert not CONTEXT_ONLY.search(line), f"cell {i} needs a SparkContext: {line.strip()}"
        if "build_session(" in source:
            assert "remote=spark_remote" in source, f"cell {i}: build_session without remote="


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_notebook_has_a_test(path):
    test = ROOT / "tests" / "notebooks" / f"test_{path.stem}.py"
    assert test.exists(), f"{test.relative_to(ROOT)} missing"
    assert ids(path) in test.read_text(), f"{test.name} does not run {ids(path)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_notebook_recipe_first_checks_apart(path):
    """The recipe, ending with its summary, then the checks in one section of their own."""
    nb = json.loads(path.read_text())
    sources = ["".join(c["source"]) for c in nb["cells"]]
    headings = [
        i
        for i, (c, s) in enumerate(zip(nb["cells"], sources, strict=True))
        if c["cell_type"] == "markdown" and s.lstrip().startswith("## Checks")
    ]
    assert len(headings) == 1, f"{len(headings)} '## Checks' sections (want one, at the end)"
    summary = [i for i, s in enumerate(sources) if "show_summary(" in s]
    assert summary and summary[0] < headings[0], "show_summary must end the recipe, before Checks"
    for i, s in enumerate(sources[: headings[0]]):
        if nb["cells"][i]["cell_type"] == "markdown":
            for words in ("the CI run", "the test run", "CI asks", "the tests "):
                assert words not in s, f"cell {i}: test-only wording {words!r} in the recipe"


def test_ruff_clean():
    ruff = Path(sys.executable).parent / "ruff"
    targets = ["dl_helpers", "tests", "ci", "notebooks", "benchmark"]
    proc = subprocess.run([str(ruff), "check", *targets], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
