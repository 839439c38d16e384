"""The ResNet-50 benchmark (benchmark/): data-set preparation, the model, and a smoke run of
every variant at a tiny size (a correctness check: one prediction per image, the same scores
from every design; not a timing test)."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from benchmark import prepare_dataset
from benchmark.lib import dataset
from benchmark.lib import resnet50 as R

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmark"


def _tree_digest(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        h.update(str(p.relative_to(path)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


# --- data set preparation ------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "data"
    prepare_dataset.main(
        ["--synthetic", "20", "--output", str(out), "--files", "3", "--row-group", "4", "--quiet"]
    )
    return out


def test_synthetic_dataset_is_imagenet_like(small_dataset):
    import pyarrow.parquet as pq
    from PIL import Image

    files = sorted(small_dataset.glob("part-*.parquet"))
    assert len(files) == 3
    table = pq.read_table(small_dataset)
    assert table.schema.names == ["id", "image"]
    ids = table.column("id").to_pylist()
    assert len(ids) == 20 and len(set(ids)) == 20
    for data in table.column("image").to_pylist()[:5]:
        with Image.open(io.BytesIO(data)) as img:
            assert img.format == "JPEG"
            assert min(img.size) >= 300 and max(img.size) <= 800
    manifest = json.loads((small_dataset / dataset.MANIFEST).read_text())
    assert manifest["images"] == 20 and manifest["source"] == "synthetic"


def test_synthetic_images_are_reproducible():
    photos = dataset._sample_photos()
    assert dataset.synthetic_image(7, 0, photos) == dataset.synthetic_image(7, 0, photos)
    assert dataset.synthetic_image(7, 0, photos) != dataset.synthetic_image(8, 0, photos)


def test_refuses_existing_output(small_dataset):
    before = _tree_digest(small_dataset)
    with pytest.raises(SystemExit, match="exists"):
        prepare_dataset.main(["--synthetic", "4", "--output", str(small_dataset), "--quiet"])
    assert _tree_digest(small_dataset) == before


def test_overwrite_only_replaces_its_own_folder(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(SystemExit, match="did not make it"):
        prepare_dataset.main(
            ["--synthetic", "4", "--output", str(foreign), "--overwrite", "--quiet"]
        )
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_tar_input_is_read_only_and_never_written_into(tmp_path, small_dataset):
    import pyarrow.parquet as pq

    table = pq.read_table(small_dataset)
    src = tmp_path / "src"
    src.mkdir()
    tar_path = src / "val.tar"
    with tarfile.open(tar_path, "w") as tar:
        for ident, data in zip(
            table.column("id").to_pylist()[:6], table.column("image").to_pylist()[:6], strict=True
        ):
            info = tarfile.TarInfo(ident)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    before = _tree_digest(src)
    # Output inside the input folder, or the input folder itself: refused, nothing written.
    for bad in (src / "out", src):
        with pytest.raises(SystemExit, match="overlap"):
            prepare_dataset.main(["--images-dir", str(src), "--output", str(bad), "--quiet"])
    out = tmp_path / "out"
    prepare_dataset.main(
        ["--imagenet-tar", str(tar_path), "--output", str(out), "--limit", "5", "--quiet"]
    )
    assert _tree_digest(src) == before
    got = pq.read_table(out)
    assert got.num_rows == 5
    # JPEG bytes are kept as they were in the tar (no re-encoding of real data).
    assert got.column("image").to_pylist()[0] == table.column("image").to_pylist()[0]


# --- the model -----------------------------------------------------------------------------
def test_resnet50_matches_torchvision_architecture():
    model = R.build_model(pretrained=False)
    state = model.state_dict()
    # torchvision.models.resnet50(): 25,557,032 parameters, these names (its checkpoint loads).
    assert sum(p.numel() for p in model.parameters()) == 25_557_032
    assert len(state) == 320
    for key, shape in {
        "conv1.weight": (64, 3, 7, 7),
        "layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "layer2.0.conv2.weight": (128, 128, 3, 3),
        "layer4.2.bn3.running_var": (2048,),
        "fc.weight": (1000, 2048),
    }.items():
        assert tuple(state[key].shape) == shape
    # v1.5: the stride sits in the 3x3 convolution of the first block of a stage.
    assert model.layer2[0].conv2.stride == (2, 2) and model.layer2[0].conv1.stride == (1, 1)


def test_random_model_is_identical_in_every_process():
    a = R.build_model(pretrained=False).state_dict()
    b = R.build_model(pretrained=False).state_dict()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def test_preprocess_and_predict_one_image(small_dataset):
    import pyarrow.parquet as pq

    images = pq.read_table(small_dataset).column("image").to_pylist()[:3]
    x = R.preprocess_batch(images)
    assert x.shape == (3, 3, 224, 224) and x.dtype == np.float32
    assert abs(float(x.mean())) < 3 and 0.1 < float(x.std()) < 3  # normalized
    p = R.Predictor(pretrained=False, threads=1)
    cls, score = p.predict(x[:1])  # a batch of one keeps its batch dimension
    assert cls.shape == (1,) and score.shape == (1,)
    cls3, score3 = p.predict_jpeg(images, batch_size=2)
    assert cls3.shape == (3,) and np.all((score3 > 0) & (score3 <= 1))
    assert abs(float(score3[0]) - float(score[0])) < 1e-5
    # Scores differ between images (random weights are scaled so softmax is not saturated).
    assert float(score3.std()) > 0


def test_predictor_on_onnxruntime_matches_eager(small_dataset):
    """run.py --backend onnxruntime: the same predictions as eager, and it really runs ONNX."""
    import pyarrow.parquet as pq

    images = pq.read_table(small_dataset).column("image").to_pylist()[:5]
    eager = R.Predictor(pretrained=False, threads=1)
    ort = R.Predictor(pretrained=False, threads=1, backend="onnxruntime")
    assert ort.model.backend == "onnxruntime" and not ort.model.fallbacks
    c1, s1 = eager.predict_jpeg(images, batch_size=2)
    c2, s2 = ort.predict_jpeg(images, batch_size=2)  # batches of 2 and 1
    assert c1.tolist() == c2.tolist()
    np.testing.assert_allclose(s2, s1, atol=1e-5)


def test_top1():
    logits = np.array([[0.0, 2.0, 1.0], [5.0, 0.0, 0.0]], dtype=np.float32)
    cls, score = R.top1(logits)
    assert cls.tolist() == [1, 0]
    e = np.exp([0.0, 2.0, 1.0])
    assert score[0] == pytest.approx(e[1] / e.sum(), rel=1e-6)


# --- smoke run of every variant ------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.spark
@pytest.mark.triton
def test_every_variant_writes_one_prediction_per_image(tmp_path, no_server_left):
    """run.py --smoke at 24 images: every variant (Spark in-process, fused, Triton, naive, Ray
    Data, the limit) writes exactly one prediction per image, and all agree on the scores."""
    images = 24
    cmd = [
        sys.executable,
        str(BENCH / "run.py"),
        "--images",
        str(images),
        "--variants",
        "all",
        "--smoke",
        "--out",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    result = json.loads((tmp_path / "results.json").read_text())
    runs = {r["variant"]: r for r in result["runs"]}
    assert sorted(runs) == sorted(["inprocess", "fused", "triton", "naive", "ray", "limit"])
    for name, r in runs.items():
        assert r["ok"], (name, r)
        assert r["rows"] == images and r["duplicates"] == 0 and r["missing"] == 0, (name, r)
        diffs = {k: v for k, v in r.items() if k.startswith("max_score_diff_vs_")}
        agree = {k: v for k, v in r.items() if k.startswith("class_agreement_vs_")}
        assert diffs and agree, (name, r)
        # Same seeded model everywhere; batch composition may move the last float bits only.
        assert max(diffs.values()) < 1e-4, (name, diffs)
        assert min(agree.values()) == 1.0, (name, agree)
    # The table, the figures and the chart were written.
    assert (tmp_path / "results.csv").read_text().startswith("variant,")
    assert (tmp_path / "results.png").stat().st_size > 1000
    assert "img/s" in proc.stdout


# --- model throughput per backend ----------------------------------------------------------
def test_model_throughput_measures_each_backend_and_skips_tensorrt_on_cpu(tmp_path):
    """model_throughput.py on the CPU: eager and ONNX Runtime are measured (ONNX checked
    against eager), TensorRT is listed as unavailable with the reason, never replaced."""
    out = tmp_path / "mt.json"
    cmd = [
        sys.executable,
        str(BENCH / "model_throughput.py"),
        "--device",
        "cpu",
        "--backends",
        "eager",
        "onnxruntime",
        "tensorrt",
        "--batch-sizes",
        "1",
        "2",
        "--rounds",
        "2",
        "--seconds",
        "0.01",
        "--warmup",
        "1",
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    result = json.loads(out.read_text())
    rows = {r["backend"]: r for r in result["backends"]}
    assert result["device"] == "cpu" and result["threads"] == 1
    for name in ("eager", "onnxruntime"):
        r = rows[name]
        assert r["available"], r
        assert sorted(r["runs"]) == ["1", "2"] and all(len(v) == 2 for v in r["runs"].values())
        assert all(v > 0 for v in r["img_per_s"].values()), r
        assert r["max_abs_diff"] < 1e-3, r
    assert rows["tensorrt"]["available"] is False
    assert "CUDA GPU" in rows["tensorrt"]["why"]
    assert "tensorrt | | not available" in proc.stdout


def test_model_throughput_refuses_gpu_only_options_on_cpu():
    cases = [["--device", "cpu", "--precision", "fp16"], ["--device", "cpu", "--from-host"]]
    import torch

    if not torch.cuda.is_available():
        cases.append(["--device", "cuda"])
    for args in cases:
        proc = subprocess.run(
            [sys.executable, str(BENCH / "model_throughput.py"), "--backends", "eager", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode != 0, args
        assert "CUDA" in proc.stderr, (args, proc.stderr[-2000:])


# --- predict_batch_udf overhead for a small model ------------------------------------------
@pytest.mark.spark
@pytest.mark.slow
def test_udf_overhead_measures_every_stage_and_outputs_match_the_model(tmp_path):
    cmd = [
        sys.executable,
        str(BENCH / "udf_overhead.py"),
        "--rows",
        "3000",
        "--rounds",
        "1",
        "--arrow-batch",
        "512",
        "--batch-size",
        "256",
        "--cores",
        "2",
        "--out",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    result = json.loads((tmp_path / "udf_overhead.json").read_text())
    stages = {s["stage"] for s in result["stages"]}
    assert stages == {
        "scan (JVM only)",
        "to pandas and back",
        "predict_batch_udf, no model (batch 256)",
        "predict_batch_udf + MLP (batch 256)",
        "binary column + MLP (pandas_udf)",
    }
    assert all(s["rows_per_s"] > 0 and s["arrow_batch"] == 512 for s in result["stages"])
    assert result["model_alone_rows_per_s"] > 0
    # Both MLP paths (array column through predict_batch_udf, raw bytes) compute the model.
    assert result["max_abs_diff_vs_model"] < 1e-5


# --- the scripts' structure and the process timer --------------------------------------------
def _benchmark_modules() -> dict[str, Path]:
    """``run``, ``prepare_dataset``, ... (the scripts) and ``lib.variants``, ... (what they
    share)."""
    mods = {p.stem: p for p in BENCH.glob("*.py") if p.stem != "__init__"}
    mods |= {f"lib.{p.stem}": p for p in (BENCH / "lib").glob("*.py") if p.stem != "__init__"}
    return mods


def _local_imports() -> dict[str, tuple[set, set]]:
    """module -> (benchmark modules it imports, private names it reads from them)."""
    import ast

    mods = _benchmark_modules()

    def local(dotted: str) -> str | None:
        name = dotted.removeprefix("benchmark.")
        return name if dotted.startswith("benchmark.") and name in mods else None

    out = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text())
        deps, aliases, private = set(), {}, set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if (mod := local(a.name)) and a.asname:
                        deps.add(mod)
                        aliases[a.asname] = mod
                    elif mod:
                        deps.add(mod)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if mod := local(node.module):  # from benchmark.lib.x import name
                    deps.add(mod)
                    private |= {f"{mod}.{a.name}" for a in node.names if a.name.startswith("_")}
                for a in node.names:  # from benchmark.lib import x (as y)
                    if mod := local(f"{node.module}.{a.name}"):
                        deps.add(mod)
                        aliases[a.asname or a.name] = mod
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                private.add(f"{aliases[node.value.id]}.{node.attr}")
        out[name] = (deps, private)
    return out


def test_benchmark_scripts_have_no_import_circle_and_no_private_reach():
    graph = _local_imports()
    assert {"run", "lib.profile_pipeline", "lib.process_cpu", "lib.variants"} <= set(graph)
    assert "lib.process_cpu" in graph["run"][0]
    assert "lib.process_cpu" in graph["lib.profile_pipeline"][0]

    def reaches(a, b, seen=()):
        return any(d == b or (d not in seen and reaches(d, b, (*seen, d))) for d in graph[a][0])

    circles = [m for m in graph if reaches(m, m)]
    assert circles == [], circles
    private = {m: p for m, (_, p) in graph.items() if p}
    assert private == {}, private


def test_benchmark_scripts_are_at_the_top_and_what_they_share_is_in_lib():
    """Every top-level module is a script (a ``main`` run under ``__main__``) that no other
    module imports; every module of ``benchmark/lib`` is imported by a script or by another
    module of ``lib``, and runs nothing when imported."""
    graph = _local_imports()
    mods = _benchmark_modules()
    imported = {d for deps, _ in graph.values() for d in deps}
    for name, path in mods.items():
        text = path.read_text()
        if name.startswith("lib."):
            assert name in imported, f"{name} is imported by no benchmark module"
            assert '__name__ == "__main__"' not in text, f"{name} is a script: move it up"
        else:
            assert name not in imported, f"the script {name} is imported by {graph}"
            assert "def main(" in text and '__name__ == "__main__"' in text, name


def test_tree_cpu_counts_the_processes_it_starts():
    """A child that burns ~0.6 s of CPU and exits during the measurement is counted."""
    from benchmark.lib.process_cpu import TreeCPU

    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass"
    with TreeCPU(interval=0.05) as meter:
        subprocess.run([sys.executable, "-c", burn], check=True, timeout=60)
    assert 0.5 <= meter.seconds < 5, meter.seconds
    with TreeCPU(interval=0.05) as idle:
        subprocess.run([sys.executable, "-c", "import time; time.sleep(0.3)"], timeout=60)
    assert idle.seconds < meter.seconds / 2, (idle.seconds, meter.seconds)


# --- the MLP fast path against predict_batch_udf and the ceiling ---------------------------
@pytest.mark.spark
@pytest.mark.slow
def test_mlp_fast_path_measures_every_pipeline_and_outputs_match_the_model(tmp_path):
    cmd = [
        sys.executable,
        str(BENCH / "mlp_fast_path.py"),
        "--rows",
        "2000",
        "--rounds",
        "1",
        "--partitions",
        "2",
        "--cores",
        "2",
        "--out",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    result = json.loads((tmp_path / "mlp_fast_path.json").read_text())
    assert sorted(result["runs"]) == sorted(
        ["fast path", "predict_batch_udf", "no-op Arrow UDF", "model alone"]
    )
    assert all(len(v) == 1 and v[0] > 0 for v in result["runs"].values())
    r = result["per_round"][0]
    noop, alone = result["runs"]["no-op Arrow UDF"][0], result["runs"]["model alone"][0]
    assert r["ceiling"] == pytest.approx(1 / (1 / noop + 1 / alone))
    assert r["fast_vs_standard"] == pytest.approx(
        result["runs"]["fast path"][0] / result["runs"]["predict_batch_udf"][0]
    )
    # Both paths compute the model; on the same batches they agree bit for bit.
    assert result["max_abs_diff_fast_vs_model"] < 1e-5
    assert result["max_abs_diff_standard_vs_model"] < 1e-5
    assert result["max_abs_diff_fast_vs_standard"] == 0.0
    assert "fast path / predict_batch_udf" in proc.stdout and "fast path / ceiling" in proc.stdout
