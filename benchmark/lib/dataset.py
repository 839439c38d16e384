"""The benchmark's data set: JPEG bytes in Parquet, split into files for the cluster.

Output: DIR/part-00000.parquet ... with columns ``id`` (string) and ``image`` (binary JPEG),
small row groups so Spark can split files into as many tasks as it wants, and DIR/_dataset.json
describing how it was made (Spark and pyarrow skip ``_`` files). The input is only read; the
output is built beside it and renamed at the end (see :func:`check_paths` for what is refused).
``benchmark/prepare_dataset.py`` is the command line; :func:`make_dataset` does the work::

    make_dataset(Path("output/benchmark/data_200"), synthetic=200)
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import sys
import tarfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

MANIFEST = "_dataset.json"
JPEG_SUFFIXES = (".jpg", ".jpeg")

# (width, height, weight): the sizes that dominate ImageNet's validation set.
IMAGENET_SIZES = [
    (500, 375, 0.55),
    (375, 500, 0.12),
    (500, 333, 0.10),
    (333, 500, 0.04),
    (500, 400, 0.05),
    (500, 500, 0.05),
    (640, 480, 0.04),
    (400, 300, 0.03),
    (800, 600, 0.02),
]


# ---------------------------------------------------------------------------------------------
# Sources: each yields (id, jpeg bytes)
# ---------------------------------------------------------------------------------------------
def iter_tar(path: Path, limit: int | None) -> Iterator[tuple[str, bytes]]:
    """JPEG members of a tar in name order (the ImageNet val tar is flat and sorted)."""
    n = 0
    with tarfile.open(path, mode="r|*") as tar:
        for member in tar:
            if limit is not None and n >= limit:
                break
            if not member.isfile() or not member.name.lower().endswith(JPEG_SUFFIXES):
                continue
            f = tar.extractfile(member)
            if f is None:
                continue
            yield Path(member.name).name, f.read()
            n += 1


def iter_dir(path: Path, limit: int | None) -> Iterator[tuple[str, bytes]]:
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in JPEG_SUFFIXES)
    for p in files[:limit]:
        yield str(p.relative_to(path)), p.read_bytes()


def _sample_photos() -> list[np.ndarray]:
    from sklearn.datasets import load_sample_images

    return list(load_sample_images().images)  # china.jpg, flower.jpg: 427x640 RGB


def synthetic_image(index: int, seed: int, photos: list[np.ndarray]) -> bytes:
    """One ImageNet-like JPEG, a pure function of (index, seed)."""
    from PIL import Image, ImageEnhance

    rng = np.random.default_rng([seed, index])
    photo = photos[index % len(photos)]
    h, w, _ = photo.shape
    sizes = [(sw, sh) for sw, sh, _ in IMAGENET_SIZES]
    weights = np.array([p for *_, p in IMAGENET_SIZES])
    tw, th = sizes[rng.choice(len(sizes), p=weights / weights.sum())]
    # A crop with the target's aspect ratio, 35-100% of the photo's height or width.
    aspect = tw / th
    frac = rng.uniform(0.35, 1.0)
    ch = int(min(h, w / aspect) * frac)
    cw = int(ch * aspect)
    y = int(rng.integers(0, h - ch + 1))
    x = int(rng.integers(0, w - cw + 1))
    img = Image.fromarray(photo[y : y + ch, x : x + cw]).resize((tw, th), Image.BICUBIC)
    if rng.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.8, 1.2))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=int(rng.integers(75, 96)))
    return buf.getvalue()


_PHOTOS: list[np.ndarray] | None = None


def _synthetic_worker(args: tuple[int, int]) -> tuple[str, bytes]:
    global _PHOTOS
    index, seed = args
    if _PHOTOS is None:
        _PHOTOS = _sample_photos()
    return f"synthetic_{index:08d}.JPEG", synthetic_image(index, seed, _PHOTOS)


def iter_synthetic(count: int, seed: int, workers: int) -> Iterator[tuple[str, bytes]]:
    args = ((i, seed) for i in range(count))
    if workers <= 1 or count < 64:
        yield from map(_synthetic_worker, args)
        return
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap(_synthetic_worker, args, chunksize=32)


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------
def _inside(a: Path, b: Path) -> bool:
    """True when a is b or lies under b (both resolved)."""
    return a == b or b in a.parents


def check_paths(output: Path, source: Path | None, overwrite: bool) -> None:
    """Refuse outputs that would write over or into the input, or over someone's folder."""
    out = output.resolve()
    if source is not None:
        src = source.resolve()
        if _inside(out, src) or _inside(src, out):
            raise SystemExit(
                f"refusing: output {out} and input {src} overlap (the input is never written to)"
            )
    if out.exists():
        if not overwrite:
            raise SystemExit(
                f"refusing: {out} exists (pass --overwrite to replace a data set "
                "made by this script)"
            )
        if not (out / MANIFEST).is_file():
            raise SystemExit(
                f"refusing to overwrite {out}: it has no {MANIFEST}, so this script did not make it"
            )


def write_dataset(
    items: Iterable[tuple[str, bytes]],
    output: Path,
    count_hint: int | None,
    files: int | None,
    row_group: int,
    overwrite: bool,
    manifest: dict,
    progress: bool = True,
) -> dict:
    """Write (id, jpeg) items as ``files`` Parquet files; return the manifest written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    output = output.resolve()
    tmp = output.parent / f".{output.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    schema = pa.schema([("id", pa.string()), ("image", pa.binary())])

    # Row groups are dealt to the files in turn, so the files stay balanced without knowing the
    # count in advance (a tar is read as a stream).
    nfiles = files or max(2, math.ceil((count_hint or 2000) / 1000))
    writers = [
        pq.ParquetWriter(tmp / f"part-{i:05d}.parquet", schema, compression="none")
        for i in range(nfiles)
    ]
    pending: list[list[tuple[str, bytes]]] = [[] for _ in range(nfiles)]
    n = 0
    nbytes = 0
    t0 = time.monotonic()
    try:
        for ident, data in items:
            f = (n // row_group) % nfiles
            pending[f].append((ident, data))
            if len(pending[f]) == row_group:
                _flush(writers[f], pending[f], schema)
            n += 1
            nbytes += len(data)
            if progress and n % 1000 == 0:
                rate = n / (time.monotonic() - t0)
                total = f"/{count_hint}" if count_hint else ""
                print(f"  {n}{total} images ({rate:.0f}/s)", file=sys.stderr, flush=True)
        for f in range(nfiles):
            _flush(writers[f], pending[f], schema)
    finally:
        for w in writers:
            w.close()
    if n == 0:
        shutil.rmtree(tmp)
        raise SystemExit("no JPEG images found in the input")
    manifest = dict(
        manifest,
        images=n,
        files=nfiles,
        row_group=row_group,
        mean_jpeg_bytes=round(nbytes / n),
        created=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    if output.exists():  # check_paths allowed it: --overwrite of a folder this script made
        shutil.rmtree(output)
    tmp.rename(output)
    return manifest


def _flush(writer, rows: list[tuple[str, bytes]], schema) -> None:
    import pyarrow as pa

    if rows:
        ids, data = zip(*rows, strict=True)
        writer.write_table(pa.table([list(ids), list(data)], schema=schema))
        rows.clear()


def make_dataset(
    output: Path,
    *,
    imagenet_tar: Path | None = None,
    images_dir: Path | None = None,
    synthetic: int | None = None,
    limit: int | None = None,
    files: int | None = None,
    row_group: int = 64,
    seed: int = 0,
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Write one data set from one source (a JPEG tar, a folder of JPEGs, or ``synthetic``
    offline images); ``limit`` keeps the first images of a tar or folder, ``files`` defaults to
    one per 1000 images (at least 2). Returns the manifest written."""
    sources = [x for x in (imagenet_tar, images_dir, synthetic) if x is not None]
    if len(sources) != 1:
        raise SystemExit("give exactly one source: imagenet_tar, images_dir or synthetic")
    source = imagenet_tar or images_dir
    if source is not None and not source.exists():
        raise SystemExit(f"input not found: {source}")
    check_paths(output, source, overwrite)
    if imagenet_tar is not None:
        items = iter_tar(imagenet_tar, limit)
        manifest = {"source": "tar", "input": str(imagenet_tar.resolve())}
        hint = limit
    elif images_dir is not None:
        items = iter_dir(images_dir, limit)
        manifest = {"source": "dir", "input": str(images_dir.resolve())}
        hint = limit
    else:
        if synthetic <= 0:
            raise SystemExit("--synthetic needs a positive count")
        items = iter_synthetic(synthetic, seed, workers)
        manifest = {
            "source": "synthetic",
            "photos": "sklearn load_sample_images (china, flower)",
            "seed": seed,
        }
        hint = synthetic
    return write_dataset(
        items, output, hint, files, row_group, overwrite, manifest, progress=progress
    )
