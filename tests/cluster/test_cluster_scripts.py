"""The Databricks and Dataproc set-up scripts, run here as far as a machine without the clouds
allows: every shell script is linted and checked for safety, each init script installs into a
throwaway virtual environment, the cluster-creation scripts' dry runs are compared with the
Spark settings the notebooks assume, and the dl_helpers wheel builds and imports in a clean
environment.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from dl_helpers.session import INFERENCE_CONF
from dl_helpers.session import _clusters as clusters

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".envs", "output", "dist", "build", "node_modules", ".venv"}
DATABRICKS_NODES = {"g5.4xlarge": (16, 1), "Standard_NV36ads_A10_v5": (36, 1)}


def shell_scripts() -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        found += [Path(dirpath, f) for f in filenames if f.endswith(".sh")]
    return sorted(found)


def run(cmd, env: dict | None = None, cwd: Path | None = None, timeout: int = 600):
    full_env = {k: v for k, v in os.environ.items() if k not in ("DRY_RUN",)}
    # Throwaway environments: skip pip's byte-compiling of pandas & co (most of an install).
    full_env["PIP_NO_COMPILE"] = "1"
    full_env.update(env or {})
    return subprocess.run(
        [str(c) for c in cmd],
        env=full_env,
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ok(proc) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, (
        f"rc={proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    )
    return proc


# --------------------------------------------------------------------------------------------
# Every shell script: strict mode, shellcheck, safety
# --------------------------------------------------------------------------------------------


def test_our_scripts_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in shell_scripts()}
    for s in (
        "databricks/init_dl_helpers.sh",
        "databricks/create_cluster.sh",
        "databricks/upload.sh",
        "dataproc/init_dl_helpers.sh",
        "dataproc/create_cluster.sh",
        "dataproc/upload.sh",
    ):
        assert s in names


@pytest.mark.parametrize("script", shell_scripts(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_script_strict_mode_and_safety(script: Path):
    text = script.read_text()
    lines = text.splitlines()
    assert lines[0] == "#!/usr/bin/env bash", "shebang must be #!/usr/bin/env bash"
    first = next(ln.strip() for ln in lines[1:] if ln.strip() and not ln.lstrip().startswith("#"))
    assert first == "set -euo pipefail", f"first command is {first!r}, not set -euo pipefail"
    assert not (script.stat().st_mode & 0o002), "world-writable script"
    code = "\n".join(ln for ln in lines if not ln.lstrip().startswith("#"))
    # Never open permissions wide.
    assert not re.search(r"chmod\s+(-\w+\s+)*(0?777|a\+w|o\+w|a\+rw|ugo\+rw)\b", code)
    # Never pipe a download into a shell.
    assert not re.search(r"\b(curl|wget)\b[^\n|]*\|\s*(sudo\s+)?(ba|z|da)?sh\b", code)
    # pip installs name pinned or bounded versions (or requirement files / wheels).
    joined = code.replace("\\\n", " ")
    for m in re.finditer(r"pip3?\s+install\s+([^\n;&|]*)", joined):
        try:
            tokens = shlex.split(m.group(1), posix=True)
        except ValueError:  # a quote that closes on a later line
            tokens = m.group(1).split()
        skip_next = False
        for tok in tokens:
            if skip_next:
                skip_next = False
                continue
            if tok in ("-r", "-c", "--requirement", "--constraint", "--index-url", "-i"):
                skip_next = True
                continue
            if tok.startswith(("-", "$")) or "/" in tok or tok.endswith((".whl", ".txt")):
                continue
            if tok in (".", ")", "}") or tok.startswith("}"):
                continue
            assert "==" in tok or "<" in tok, f"unpinned pip install of {tok!r}"


def test_shellcheck_passes_on_every_script():
    exe = shutil.which("shellcheck")
    if exe is None:
        pytest.skip(
            "shellcheck is not installed (apt-get install -y shellcheck); .ci/run installs it, "
            "so CI never skips this"
        )
    scripts = shell_scripts()
    assert scripts
    proc = run([exe, "--shell=bash", "--external-sources", *scripts])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_scripts_are_executable():
    for p in (ROOT / "databricks").glob("*.sh"):
        assert os.access(p, os.X_OK), p
    for p in (ROOT / "dataproc").glob("*.sh"):
        assert os.access(p, os.X_OK), p


# --------------------------------------------------------------------------------------------
# The wheel, and the init scripts against throwaway virtual environments
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """dl_helpers built into a wheel, as `make wheel` does, from a copy of the sources."""
    src = tmp_path_factory.mktemp("wheel_src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "dl_helpers", src / "dl_helpers", ignore=shutil.ignore_patterns("__pycache__")
    )
    out = tmp_path_factory.mktemp("dist")
    ok(run([sys.executable, "-m", "build", "--wheel", "--outdir", out, src], timeout=600))
    (built,) = out.glob("dl_helpers-*.whl")
    return built


def make_venv(path: Path) -> Path:
    """A fresh virtual environment (no system site-packages); returns its python."""
    ok(run([sys.executable, "-m", "venv", path]))
    return path / "bin" / "python"


IMPORT_ALL = """
import importlib, json, pkgutil, sys
import dl_helpers
mods = sorted(m.name for m in pkgutil.iter_modules(dl_helpers.__path__))
for m in mods:
    importlib.import_module("dl_helpers." + m)
from dl_helpers.session import detect_platform
from dl_helpers.session import gpu_spark_conf
print(json.dumps({"file": dl_helpers.__file__, "modules": mods,
                  "platform": detect_platform({}, "local[2]").name,
                  "conf": gpu_spark_conf(8)}))
"""


def check_installed(python: Path, tmp_path: Path) -> dict:
    """Import every dl_helpers module with the venv's python, isolated from this checkout."""
    proc = ok(run([python, "-I", "-c", IMPORT_ALL], cwd=tmp_path))
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(out["file"]).is_relative_to(python.parent.parent), out["file"]
    expected = {p.stem for p in (ROOT / "dl_helpers").glob("*.py") if p.stem != "__init__"}
    assert expected <= set(out["modules"])
    assert out["platform"] == "local"
    assert out["conf"] == clusters.gpu_spark_conf(8)
    return out


def freeze(python: Path) -> list[str]:
    """Installed distributions and versions (dl-helpers by name: its line names the wheel path)."""
    lines = ok(run([python, "-m", "pip", "freeze", "--all"])).stdout.splitlines()
    return [ln.split(" @ ")[0] for ln in lines]


def has_module(python: Path, name: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({name!r}) is None)"
    return run([python, "-I", "-c", code]).returncode == 0


# A small stand-in for requirements-{torch,tf}.txt: a pinned pure-Python package, comments, and
# pyspark lines that must be dropped (unresolvable versions: a broken filter fails fast here).
SMALL_REQUIREMENTS = """\
# stand-in for the framework requirements
six==1.17.0
pyspark==99.0.0
PySpark[connect] == 99.0.0 ; python_version >= "3"
"""


def test_wheel_builds_and_imports_in_a_clean_environment(wheel, tmp_path):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = zf.read(meta_name).decode()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"dl_helpers"}, top
    assert "dl_helpers/session/_clusters.py" in names and "dl_helpers/session/_spark.py" in names
    requires = re.findall(r"^Requires-Dist: ([A-Za-z0-9_.-]+)", meta, flags=re.M)
    assert {"numpy", "pandas", "pyarrow"} <= set(requires)
    assert not {"torch", "tensorflow", "pyspark"} & set(requires)

    python = make_venv(tmp_path / "venv")
    ok(run([python, "-m", "pip", "install", "--quiet", "--no-deps", wheel]))
    code = (
        "import dl_helpers, dl_helpers.session, dl_helpers.session, dl_helpers.session;"
        "print(dl_helpers.__file__)"
    )
    proc = ok(run([python, "-I", "-c", code], cwd=tmp_path))
    assert Path(proc.stdout.strip()).is_relative_to(tmp_path / "venv")
    # The module the cluster scripts call works from the installed wheel too.
    proc = ok(run([python, "-I", "-m", "dl_helpers.session", "spark-conf", "--cores", "8"]))
    assert json.loads(proc.stdout) == clusters.gpu_spark_conf(8)


def test_databricks_init_script_installs_into_a_throwaway_venv(wheel, tmp_path):
    home = tmp_path / "Workspace" / "spark-dl"
    home.mkdir(parents=True)
    (home / "requirements-tf.txt").write_text(SMALL_REQUIREMENTS)
    shutil.copy2(wheel, home / wheel.name)
    # An older upload beside it; not a real wheel, so picking it would fail the install.
    (home / "dl_helpers-0.0.9-py3-none-any.whl").write_text("old")
    python = make_venv(tmp_path / "venv")
    env = {"PYTHON": str(python), "SPARK_DL_HOME": str(home), "FRAMEWORK": "tf"}
    script = ROOT / "databricks" / "init_dl_helpers.sh"

    proc = ok(run(["bash", script], env=env))
    assert "pyspark left to the runtime" in proc.stderr
    check_installed(python, tmp_path)
    assert has_module(python, "six") and not has_module(python, "pyspark")

    # Idempotent: a second run succeeds and changes nothing.
    before = freeze(python)
    ok(run(["bash", script], env=env))
    assert freeze(python) == before


def test_dataproc_init_action_installs_into_a_throwaway_venv(wheel, tmp_path):
    home = tmp_path / "bucket" / "spark-dl"
    home.mkdir(parents=True)
    (home / "requirements-torch.txt").write_text(SMALL_REQUIREMENTS)
    shutil.copy2(wheel, home / wheel.name)
    python = make_venv(tmp_path / "venv")
    discovery = tmp_path / "share" / "get_gpus_resources.sh"
    env = {
        "PYTHON": str(python),
        "SPARK_DL_HOME": str(home),
        "FRAMEWORK": "torch",
        "GPU_DISCOVERY_SCRIPT": str(discovery),
    }
    script = ROOT / "dataproc" / "init_dl_helpers.sh"

    ok(run(["bash", script], env=env))
    check_installed(python, tmp_path)
    assert has_module(python, "six") and not has_module(python, "pyspark")
    assert discovery.stat().st_mode & 0o777 == 0o755

    # Idempotent, and the helpers-only mode (REQUIREMENTS=none) with an explicit wheel.
    before = freeze(python)
    ok(run(["bash", script], env=env))
    ok(run(["bash", script], env={**env, "REQUIREMENTS": "none", "DL_HELPERS_WHEEL": str(wheel)}))
    assert freeze(python) == before

    # The discovery script prints the node's GPUs the way Spark reads them.
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake = fake_bin / "nvidia-smi"
    for listing, want in (("0 1", ["0", "1"]), ("0", ["0"]), ("", [])):
        lines = "".join(f"echo {i}\n" for i in listing.split())
        fake.write_text(f"#!/bin/sh\n{lines}")
        fake.chmod(0o755)
        proc = ok(run([discovery], env={"PATH": f"{fake_bin}:{os.environ['PATH']}"}))
        assert json.loads(proc.stdout) == {"name": "gpu", "addresses": want}

    # The path create_cluster.sh gives Spark is the one the init action writes by default.
    assert f"GPU_DISCOVERY_SCRIPT:-{clusters.DATAPROC_GPU_DISCOVERY_SCRIPT}}}" in script.read_text()


@pytest.mark.parametrize("platform", ["databricks", "dataproc"])
def test_init_scripts_fail_clearly(platform, tmp_path):
    script = ROOT / platform / "init_dl_helpers.sh"
    proc = run(["bash", script], env={"PYTHON": str(tmp_path / "nope")})
    assert proc.returncode != 0 and "no Python" in proc.stderr
    env = {"PYTHON": sys.executable, "SPARK_DL_HOME": str(tmp_path), "FRAMEWORK": "jax"}
    proc = run(["bash", script], env=env)
    assert proc.returncode != 0 and "must be 'torch' or 'tf'" in proc.stderr
    proc = run(["bash", script], env={**env, "FRAMEWORK": "torch"})
    assert proc.returncode != 0 and "requirements file not found" in proc.stderr
    (tmp_path / "requirements-torch.txt").write_text("six==1.17.0\n")
    proc = run(["bash", script], env={**env, "FRAMEWORK": "torch"})
    assert proc.returncode != 0 and "make wheel" in proc.stderr


# --------------------------------------------------------------------------------------------
# Cluster creation: dry runs against the Spark settings the notebooks assume
# --------------------------------------------------------------------------------------------


def databricks_dry_run(cloud: str, **env) -> tuple[dict, list[str]]:
    env = {"DRY_RUN": "1", "DATABRICKS_USER": "me@example.com", **env}
    proc = ok(run(["bash", ROOT / "databricks" / "create_cluster.sh", cloud], env=env))
    return json.loads(proc.stdout), shlex.split(proc.stderr)


def assert_inference_settings(conf: dict, cores: int, gpus: int = 1):
    """The settings the notebooks assume (dl_helpers.session.INFERENCE_CONF) and GPU scheduling:
    one executor with all the node's cores and its GPU, one task slot per core."""
    assert conf["spark.sql.execution.arrow.pyspark.enabled"] == "true"
    assert conf["spark.python.worker.reuse"] == "true"
    for key in clusters.CLUSTER_INFERENCE_KEYS:
        assert conf[key] == INFERENCE_CONF[key], key
    assert conf["spark.executor.cores"] == str(cores)
    assert conf["spark.executor.resource.gpu.amount"] == str(gpus)
    amount = float(conf["spark.task.resource.gpu.amount"])
    assert int(1 / amount) * gpus == cores, conf["spark.task.resource.gpu.amount"]
    assert clusters.check_cluster_conf(conf) == []


@pytest.mark.parametrize("cloud", ["aws", "azure"])
@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_databricks_dry_run_json(cloud, framework):
    cfg, cmd = databricks_dry_run(cloud, FRAMEWORK=framework)
    template = json.loads((ROOT / "databricks" / f"cluster-{cloud}.json").read_text())
    cores, gpus = DATABRICKS_NODES[cfg["node_type_id"]]
    assert template["_spark_dl"]["cores_per_node"] == cores
    assert "_spark_dl" not in cfg

    # The exact command, and the JSON it sends is the JSON printed.
    assert cmd[:4] == ["databricks", "clusters", "create", "--json"] and len(cmd) == 5
    assert json.loads(cmd[4]) == cfg

    assert cfg["spark_conf"] == clusters.gpu_spark_conf(cores, gpus)
    assert_inference_settings(cfg["spark_conf"], cores, gpus)
    assert "-gpu-ml-" in cfg["spark_version"]
    assert cfg["cluster_name"] == f"spark-dl-inference-{framework}"
    assert cfg["data_security_mode"] == "SINGLE_USER"
    assert cfg["single_user_name"] == "me@example.com"
    env = cfg["spark_env_vars"]
    assert env["FRAMEWORK"] == framework
    assert env["SPARK_DL_HOME"] == "/Workspace/Users/me@example.com/spark-dl"
    assert ("TF_GPU_ALLOCATOR" in env) == (framework == "tf")
    assert cfg["init_scripts"] == [
        {"workspace": {"destination": "/Users/me@example.com/spark-dl/init_dl_helpers.sh"}}
    ]
    assert f"{cloud}_attributes" in cfg


def test_databricks_dry_run_options():
    cfg, _ = databricks_dry_run(
        "aws",
        FRAMEWORK="torch",
        SPARK_DL_HOME="/Volumes/main/default/files/spark-dl",
        NUM_WORKERS="4",
        CLUSTER_NAME="my cluster",
        SPARK_VERSION="18.0.x-gpu-ml-scala2.13",
    )
    assert cfg["num_workers"] == 4 and cfg["cluster_name"] == "my cluster"
    assert cfg["spark_version"] == "18.0.x-gpu-ml-scala2.13"
    assert cfg["init_scripts"] == [
        {"volumes": {"destination": "/Volumes/main/default/files/spark-dl/init_dl_helpers.sh"}}
    ]
    assert cfg["spark_env_vars"]["SPARK_DL_HOME"] == "/Volumes/main/default/files/spark-dl"

    script = ROOT / "databricks" / "create_cluster.sh"
    for args, env in (
        (["gcp"], {"FRAMEWORK": "torch", "DATABRICKS_USER": "u"}),
        (["aws"], {"DATABRICKS_USER": "u"}),
        (["aws"], {"FRAMEWORK": "torch"}),
        (["aws"], {"FRAMEWORK": "jax", "DATABRICKS_USER": "u"}),
    ):
        proc = run(["bash", script, *args], env={"DRY_RUN": "1", **env})
        assert proc.returncode != 0 and not proc.stdout, (args, env)


def dataproc_dry_run(**env) -> list[str]:
    env = {
        "DRY_RUN": "1",
        "REGION": "us-central1",
        "BUCKET": "my-bucket",
        "GPU_DRIVER_ACTION": "gs://my-bucket/init-actions/2026-11/install_gpu_driver.sh",
        "USER": "me",
        **env,
    }
    proc = ok(run(["bash", ROOT / "dataproc" / "create_cluster.sh"], env=env))
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    return shlex.split(lines[0])


def flags(cmd: list[str]) -> dict[str, str]:
    out, i = {}, 0
    while i < len(cmd):
        if cmd[i].startswith("--"):
            if i + 1 < len(cmd) and not cmd[i + 1].startswith("--"):
                out[cmd[i]] = cmd[i + 1]
                i += 2
                continue
            out[cmd[i]] = ""
        i += 1
    return out


def parse_properties(arg: str) -> dict[str, str]:
    sep = ","
    if arg.startswith("^"):
        sep, arg = arg[1], arg[3:]
    return dict(item.split("=", 1) for item in arg.split(sep))


@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_dataproc_dry_run_command(framework):
    cmd = dataproc_dry_run(FRAMEWORK=framework)
    assert cmd[:5] == ["gcloud", "dataproc", "clusters", "create", f"me-spark-dl-{framework}"]
    f = flags(cmd)
    assert f["--region"] == "us-central1"
    assert f["--optional-components"] == "JUPYTER"
    assert "--enable-component-gateway" in f
    assert f["--worker-accelerator"] == "type=nvidia-tesla-t4,count=1"
    assert f["--num-workers"] == "2"
    assert f["--initialization-actions"].split(",") == [
        "gs://my-bucket/init-actions/2026-11/install_gpu_driver.sh",  # drivers first
        "gs://my-bucket/spark-dl/init_dl_helpers.sh",
    ]
    meta = dict(kv.split("=", 1) for kv in f["--metadata"].split(","))
    assert meta["spark-dl-home"] == "gs://my-bucket/spark-dl"
    assert meta["spark-dl-framework"] == framework

    props = parse_properties(f["--properties"])
    assert all(k.startswith("spark:") for k in props)
    conf = {k.removeprefix("spark:"): v for k, v in props.items()}
    cores = clusters.cores_of_machine_type(f["--worker-machine-type"])
    assert cores == 16
    assert_inference_settings(conf, cores)
    assert {k: conf[k] for k in clusters.gpu_spark_conf(cores)} == clusters.gpu_spark_conf(cores)
    # One executor per GPU worker.
    assert conf["spark.executor.instances"] == f["--num-workers"]
    assert conf["spark.dynamicAllocation.enabled"] == "false"
    assert conf["spark.executor.resource.gpu.discoveryScript"] == (
        clusters.DATAPROC_GPU_DISCOVERY_SCRIPT
    )
    assert ("spark.executorEnv.TF_GPU_ALLOCATOR" in conf) == (framework == "tf")


def test_dataproc_dry_run_options():
    cmd = dataproc_dry_run(
        FRAMEWORK="torch",
        NUM_WORKERS="4",
        WORKER_MACHINE_TYPE="g2-standard-24",
        WORKER_GPU="nvidia-l4",
        MASTER_GPUS="0",
        GPU_DRIVER_ACTION="none",
        IMAGE_VERSION="2.3-ml-ubuntu22",
        CLUSTER_NAME="x",
    )
    f = flags(cmd)
    assert cmd[4] == "x" and f["--image-version"] == "2.3-ml-ubuntu22"
    assert "--master-accelerator" not in f
    assert f["--worker-accelerator"] == "type=nvidia-l4,count=1"
    assert f["--initialization-actions"] == "gs://my-bucket/spark-dl/init_dl_helpers.sh"
    conf = {k.removeprefix("spark:"): v for k, v in parse_properties(f["--properties"]).items()}
    assert_inference_settings(conf, 24)
    assert conf["spark.executor.instances"] == "4"

    conf = parse_properties(
        flags(dataproc_dry_run(FRAMEWORK="tf", WORKER_CORES="8"))["--properties"]
    )
    assert conf["spark:spark.executor.cores"] == "8"
    assert conf["spark:spark.task.resource.gpu.amount"] == "0.125"

    script = ROOT / "dataproc" / "create_cluster.sh"
    for missing in ("FRAMEWORK", "REGION", "BUCKET", "GPU_DRIVER_ACTION"):
        env = {
            "DRY_RUN": "1",
            "FRAMEWORK": "torch",
            "REGION": "r",
            "BUCKET": "b",
            "GPU_DRIVER_ACTION": "none",
        }
        del env[missing]
        proc = run(["bash", script], env={k: v for k, v in env.items()})
        assert proc.returncode == 2 and not proc.stdout and "FRAMEWORK" in proc.stderr, missing


# --------------------------------------------------------------------------------------------
# Uploads
# --------------------------------------------------------------------------------------------


def test_databricks_upload_dry_run(tmp_path):
    fake_wheel = tmp_path / "dl_helpers-0.1.0-py3-none-any.whl"
    fake_wheel.write_text("")
    env = {"DRY_RUN": "1", "DATABRICKS_USER": "me@example.com", "WHEEL": str(fake_wheel)}
    proc = ok(run(["bash", ROOT / "databricks" / "upload.sh"], env=env))
    cmds = [shlex.split(line) for line in proc.stdout.strip().splitlines()]
    home = "/Users/me@example.com/spark-dl"
    assert cmds[0] == ["databricks", "workspace", "mkdirs", home]
    targets = {c[3] for c in cmds if c[:3] == ["databricks", "workspace", "import"]}
    assert targets == {
        f"{home}/init_dl_helpers.sh",
        f"{home}/requirements-torch.txt",
        f"{home}/requirements-tf.txt",
        f"{home}/{fake_wheel.name}",
    }
    assert cmds[-1][:3] == ["databricks", "workspace", "import-dir"]
    assert cmds[-1][4] == f"{home}/notebooks"

    env["SPARK_DL_HOME"] = "/Volumes/main/default/files/spark-dl"
    proc = ok(run(["bash", ROOT / "databricks" / "upload.sh"], env=env))
    cmds = [shlex.split(line) for line in proc.stdout.strip().splitlines()]
    cps = [c for c in cmds if c[:3] == ["databricks", "fs", "cp"]]
    assert len(cps) == 4
    assert all(c[-1].startswith("dbfs:/Volumes/main/default/files/spark-dl/") for c in cps)


def test_dataproc_upload_dry_run(tmp_path):
    fake_wheel = tmp_path / "dl_helpers-0.1.0-py3-none-any.whl"
    fake_wheel.write_text("")
    env = {"DRY_RUN": "1", "BUCKET": "gs://my-bucket", "WHEEL": str(fake_wheel)}
    proc = ok(run(["bash", ROOT / "dataproc" / "upload.sh"], env=env))
    cp, rsync = (shlex.split(line) for line in proc.stdout.strip().splitlines())
    assert cp[:3] == ["gcloud", "storage", "cp"] and cp[-1] == "gs://my-bucket/spark-dl/"
    assert {Path(p).name for p in cp[3:-1]} == {
        "init_dl_helpers.sh",
        "requirements-torch.txt",
        "requirements-tf.txt",
        fake_wheel.name,
    }
    assert rsync[:3] == ["gcloud", "storage", "rsync"]
    assert rsync[-1] == "gs://my-bucket/notebooks/jupyter/spark-dl"


def test_upload_without_wheel_says_make_wheel(tmp_path):
    env = {"DRY_RUN": "1", "BUCKET": "b", "WHEEL": str(tmp_path / "missing.whl")}
    proc = run(["bash", ROOT / "dataproc" / "upload.sh"], env=env)
    assert proc.returncode != 0 and "make wheel" in proc.stderr
