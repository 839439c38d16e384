"""Resumable batch inference: a DataFrame transform written to Parquet in committed chunks
(ranges of an integer id column); a rerun after a failure skips the committed chunks, removes
what a crash left half-written and writes the rest.

Usage::

    from dl_helpers.jobs import read_committed, run_chunked

    run = run_chunked(df, lambda part: part.withColumn("pred", udf("x")), "out/preds",
                      id_column="id", num_chunks=16)
    spark.read.parquet("out/preds")      # after a complete run; read_committed(spark, path) before

Layout of the output folder::

    _lock.json               the run writing now: host, pid, start time (removed at the end)
    _plan.json               the chunks: id column, id bounds, row count (first run; checked later)
    chunk=00003/             a committed chunk's Parquet files (Spark's own _SUCCESS inside)
    _chunks/00003.json       its commit marker: id range, rows, seconds, the run that wrote it
    _tmp/<run>/chunk=00004/  a chunk being written
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from dl_helpers.jobs import _lock

# NOTE: pyspark is imported inside the functions so that importing dl_helpers stays cheap.

PLAN_FILE = "_plan.json"
MARKERS_DIR = "_chunks"
TEMP_DIR = "_tmp"
CHUNK_PREFIX = "chunk="
PLAN_VERSION = 1


@dataclass
class ChunkedRun:
    """What one call of :func:`run_chunked` did."""

    output: str
    chunks: int  # chunks in the plan
    ran: list[int] = field(default_factory=list)  # chunks this call wrote and committed
    skipped: list[int] = field(default_factory=list)  # chunks committed before this call
    cleaned: list[str] = field(default_factory=list)  # half-written paths this call removed
    rows_written: int = 0
    seconds: float = 0.0
    run_id: str = ""
    progress_lines: list[str] = field(default_factory=list)  # the bar's lines, with progress=
    progress_summary: dict = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return len(self.ran) + len(self.skipped) == self.chunks


class _HadoopFileSystem:
    """The few Hadoop FileSystem calls the commit protocol needs (any scheme Spark can write)."""

    def __init__(self, spark, root: str):
        jvm = spark.sparkContext._jvm
        self._Path = jvm.org.apache.hadoop.fs.Path
        self._io = jvm.org.apache.commons.io.IOUtils
        conf = spark.sparkContext._jsc.hadoopConfiguration()
        self.root = self._Path(root)
        self.fs = self.root.getFileSystem(conf)
        self.fs.setWriteChecksum(False)  # no .crc files beside our small JSON files

    def path(self, *parts: str):
        p = self.root
        for part in parts:
            p = self._Path(p, part)
        return p

    def uri(self, *parts: str) -> str:
        return self.fs.makeQualified(self.path(*parts)).toString()

    def exists(self, *parts: str) -> bool:
        return bool(self.fs.exists(self.path(*parts)))

    def names(self, *parts: str) -> list[str]:
        if not self.exists(*parts):
            return []
        return sorted(s.getPath().getName() for s in self.fs.listStatus(self.path(*parts)))

    def delete(self, *parts: str) -> bool:
        return bool(self.fs.delete(self.path(*parts), True))

    def mkdirs(self, *parts: str) -> None:
        self.fs.mkdirs(self.path(*parts))

    def rename(self, src: tuple[str, ...], dst: tuple[str, ...]) -> None:
        if not self.fs.rename(self.path(*src), self.path(*dst)):
            raise OSError(f"could not rename {self.uri(*src)} to {self.uri(*dst)}")

    def read_json(self, *parts: str):
        stream = self.fs.open(self.path(*parts))
        try:
            return json.loads(self._io.toString(stream, "UTF-8"))
        finally:
            stream.close()

    def write_json(self, value, *parts: str) -> None:
        """Write to a temporary name next to the target, then rename: readers see all or nothing."""
        *folder, name = parts
        tmp = (*folder, f".{name}.{uuid.uuid4().hex}.tmp")
        stream = self.fs.create(self.path(*tmp), True)
        try:
            stream.write(bytearray(json.dumps(value, indent=1, sort_keys=True).encode()))
        finally:
            stream.close()
        self.delete(*parts)
        self.rename(tmp, tuple(parts))

    def create_json_exclusive(self, value, *parts: str) -> bool:
        """Create the file only if it is absent; False if it exists (atomic on HDFS, a check then
        a write on object stores)."""
        try:
            stream = self.fs.create(self.path(*parts), False)
        except Exception as e:
            if "already exists" in str(e).lower() or "FileAlreadyExists" in str(e):
                return False
            raise
        try:
            stream.write(bytearray(json.dumps(value, sort_keys=True).encode()))
        finally:
            stream.close()
        return True


class _LocalFileSystem:
    """The same calls on a local (or mounted) folder with ``os``, for Spark Connect sessions."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def uri(self, *parts: str) -> str:
        return "file:" + self.path(*parts)  # the form Hadoop gives a local path

    def exists(self, *parts: str) -> bool:
        return os.path.lexists(self.path(*parts))

    def names(self, *parts: str) -> list[str]:
        if not os.path.isdir(self.path(*parts)):
            return []
        # Hadoop's local file system hides its checksum files (.name.crc): so does this.
        return sorted(
            n
            for n in os.listdir(self.path(*parts))
            if not (n.startswith(".") and n.endswith(".crc"))
        )

    def delete(self, *parts: str) -> bool:
        p = self.path(*parts)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        elif os.path.lexists(p):
            os.remove(p)
        else:
            return False
        return True

    def mkdirs(self, *parts: str) -> None:
        os.makedirs(self.path(*parts), exist_ok=True)

    def rename(self, src: tuple[str, ...], dst: tuple[str, ...]) -> None:
        if os.path.lexists(self.path(*dst)):  # Hadoop would move src inside an existing folder
            raise OSError(f"could not rename {self.uri(*src)} to {self.uri(*dst)}: it exists")
        try:
            os.rename(self.path(*src), self.path(*dst))
        except OSError as e:
            raise OSError(f"could not rename {self.uri(*src)} to {self.uri(*dst)}: {e}") from e

    def read_json(self, *parts: str):
        with open(self.path(*parts), encoding="utf-8") as f:
            return json.load(f)

    def write_json(self, value, *parts: str) -> None:
        """Write to a temporary name next to the target, then rename: readers see all or nothing."""
        *folder, name = parts
        tmp = self.path(*folder, f".{name}.{uuid.uuid4().hex}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(value, indent=1, sort_keys=True))
        os.replace(tmp, self.path(*parts))

    def create_json_exclusive(self, value, *parts: str) -> bool:
        """Create the file, complete, only if it is absent (a hard link fails if the name exists:
        atomic, and readers never see it half-written); False if it exists."""
        *folder, name = parts
        tmp = self.path(*folder, f".{name}.{uuid.uuid4().hex}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(value, sort_keys=True))
        try:
            os.link(tmp, self.path(*parts))
            return True
        except FileExistsError:
            return False
        finally:
            os.remove(tmp)


def _local_path(root: str) -> str | None:
    """``root`` as a local path, or None for another scheme (``s3a:``, ``hdfs:``, ``dbfs:``...)."""
    from urllib.parse import unquote, urlparse

    url = urlparse(root)
    if url.scheme == "":
        return root
    if url.scheme == "file" and url.netloc in ("", "localhost"):
        return unquote(url.path)
    return None


def _file_system(spark, root: str):
    """Hadoop's FileSystem in the driver's JVM on a classic session (any scheme Spark writes);
    ``os`` on a Spark Connect session, which has no JVM on this side, so there ``root`` must be a
    local path or ``file:`` URI seen at the same path by this process and the cluster.

    The commit protocol lists, renames and deletes folders, which the DataFrame API cannot do:
    markers written as DataFrames would leave half-written chunk folders nothing could remove.
    """
    from dl_helpers.session._spark import SparkConnectUnsupported, context_or_none

    if context_or_none(spark) is not None:
        return _HadoopFileSystem(spark, root)
    local = _local_path(root)
    if local is None:
        raise SparkConnectUnsupported(
            f"run_chunked output {root!r}: on a Spark Connect session the chunks are committed "
            "(listed, renamed, deleted) from this process, which has no JVM to reach other file "
            "systems, so the output must be a local path or file: URI of a folder that this "
            "process and the cluster mount at the same path (a shared folder, a mounted bucket). "
            "Give such a path, or use a classic session (build_session without remote / "
            "SPARK_REMOTE)."
        )
    return _LocalFileSystem(local)


def chunk_name(index: int) -> str:
    return f"{CHUNK_PREFIX}{index:05d}"


def marker_name(index: int) -> str:
    return f"{index:05d}.json"


def make_plan(df, id_column: str, num_chunks: int) -> dict:
    """Id bounds and row count of ``df`` (one pass over the id column) and the chunk ranges.

    Chunks are id ranges, not Spark partitions: a filter on the id selects a chunk's rows and, on
    a Parquet input, skips the row groups outside the range, where a partition number would make
    every chunk scan the whole input. The ranges split ``[min id, max id]`` evenly, so gaps or
    skew in the ids make chunks of uneven size.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import IntegralType

    if id_column not in df.columns:
        raise ValueError(f"id column {id_column!r} is not in the DataFrame ({df.columns})")
    kind = df.schema[id_column].dataType
    if not isinstance(kind, IntegralType):
        raise TypeError(
            f"id column {id_column!r} has type {kind.simpleString()}, expected integers"
        )
    if num_chunks < 1:
        raise ValueError(f"num_chunks must be at least 1, got {num_chunks}")
    c = F.col(id_column)
    row = df.agg(
        F.min(c).alias("lo"),
        F.max(c).alias("hi"),
        F.count(F.lit(1)).alias("n"),
        F.count(c).alias("ids"),
    ).first()
    if row["ids"] != row["n"]:
        raise ValueError(f"id column {id_column!r} has {row['n'] - row['ids']} null values")
    lo, hi, n = row["lo"], row["hi"], int(row["n"])
    if n == 0:
        bounds = []
    else:
        span = hi - lo + 1
        k = min(num_chunks, span)
        bounds = [lo + span * i // k for i in range(k)] + [hi + 1]
    return {
        "version": PLAN_VERSION,
        "id_column": id_column,
        "min": lo,
        "max": hi,
        "rows": n,
        "num_chunks": num_chunks,
        "bounds": bounds,
    }


def _same_plan(a: dict, b: dict) -> bool:
    keys = ("version", "id_column", "min", "max", "rows", "num_chunks", "bounds")
    return all(a.get(k) == b.get(k) for k in keys)


def committed_chunks(fs) -> set[int]:
    """Chunks with both their folder ``chunk=N`` and their marker ``_chunks/N.json``: a marker is
    written only after its folder is complete (see :func:`_commit_chunk`)."""
    folders = {n for n in fs.names() if n.startswith(CHUNK_PREFIX)}
    marked = {
        int(n.split(".")[0])
        for n in fs.names(MARKERS_DIR)
        if n.endswith(".json") and not n.startswith(".")
    }
    return {i for i in marked if chunk_name(i) in folders}


def _clean(fs) -> list[str]:
    """Remove what a crash can leave: temporary folders (``_tmp/``), unmarked chunk folders (a
    crash between the rename and the marker, or a partial copy on an object store, where a
    rename is a copy) and stray markers. Returns the paths removed."""
    removed = []
    if fs.exists(TEMP_DIR):
        removed.append(fs.uri(TEMP_DIR))
        fs.delete(TEMP_DIR)
    done = committed_chunks(fs)
    for name in fs.names():
        if name.startswith(CHUNK_PREFIX) and int(name[len(CHUNK_PREFIX) :]) not in done:
            removed.append(fs.uri(name))
            fs.delete(name)
    for name in fs.names(MARKERS_DIR):
        if name.startswith("."):  # a marker's temporary file
            removed.append(fs.uri(MARKERS_DIR, name))
            fs.delete(MARKERS_DIR, name)
        elif name.endswith(".json") and int(name.split(".")[0]) not in done:
            removed.append(fs.uri(MARKERS_DIR, name))  # a marker whose folder is gone
            fs.delete(MARKERS_DIR, name)
    return removed


def run_chunked(
    df,
    transform: Callable,
    output: str,
    *,
    id_column: str = "id",
    num_chunks: int = 16,
    progress: bool | dict = False,
    stop_after: int | None = None,
) -> ChunkedRun:
    """Write ``transform(df)`` to ``output`` in committed chunks; a rerun with the same arguments
    resumes, so every input row ends up in exactly one committed chunk and no committed chunk is
    computed twice.

    ``transform`` takes a DataFrame (a chunk of ``df``'s rows) and returns the DataFrame to write;
    it must keep one output row per input row for the counts to mean anything, and should keep
    the id column. ``progress`` shows a :class:`dl_helpers.jobs.SparkProgress` bar over the
    chunks still to write (a dict passes its options). ``stop_after`` writes at most that many
    chunks in this call (for trying the resume path). The plan is fixed by the first run: a rerun
    whose input has other id bounds or another row count is refused. Two runs must not write to
    the same output at the same time: the first takes a lock (``_lock.json``, naming its host, pid
    and start time), a second one started meanwhile raises :class:`OutputLockedError` naming it,
    and a lock left by a dead run of this host is taken over (see ``_lock`` for object stores).
    Returns a :class:`ChunkedRun`.
    """
    spark = df.sparkSession
    fs = _file_system(spark, output)
    run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    owner = _lock.acquire(fs, run_id)
    try:
        return _run_locked(fs, df, transform, id_column, num_chunks, progress, stop_after, run_id)
    finally:
        _lock.release(fs, run_id, owner["created_folder"])


def _run_locked(fs, df, transform, id_column, num_chunks, progress, stop_after, run_id):
    from pyspark.sql import functions as F

    spark = df.sparkSession
    t0 = time.perf_counter()
    plan = _fixed_plan(fs, make_plan(df, id_column, num_chunks))
    bounds = plan["bounds"]
    n_chunks = max(len(bounds) - 1, 0)
    result = ChunkedRun(output=fs.uri(), chunks=n_chunks, run_id=run_id)
    result.cleaned = _clean(fs)
    done = committed_chunks(fs)
    result.skipped = sorted(done)
    todo = [i for i in range(n_chunks) if i not in done][:stop_after]

    span = max(plan["max"] - plan["min"] + 1, 1) if n_chunks else 1

    def estimated_rows(i: int) -> int:  # for the progress bar only
        return round(plan["rows"] * (bounds[i + 1] - bounds[i]) / span)

    bar = _progress_bar(spark, progress, sum(estimated_rows(i) for i in todo), len(todo))
    c = F.col(id_column)
    with bar:
        for i in todo:
            bar.step(estimated_rows(i))
            part = transform(df.where((c >= bounds[i]) & (c < bounds[i + 1])))
            result.rows_written += _commit_chunk(fs, part, i, bounds[i], bounds[i + 1], run_id)
            result.ran.append(i)
    result.progress_lines = list(getattr(bar, "lines", []))
    result.progress_summary = dict(getattr(bar, "summary", {}))
    fs.delete(TEMP_DIR, run_id)
    if not fs.names(TEMP_DIR):
        fs.delete(TEMP_DIR)
    result.seconds = time.perf_counter() - t0
    return result


def _fixed_plan(fs, plan: dict) -> dict:
    """The plan of the first run: written now, or read back and checked against ``plan``."""
    if not fs.exists(PLAN_FILE):
        fs.mkdirs()
        fs.write_json(plan, PLAN_FILE)
        return plan
    old = fs.read_json(PLAN_FILE)
    if not _same_plan(old, plan):
        raise ValueError(
            f"{fs.uri()} holds chunks of another input or plan (first run: ids "
            f"{old.get('min')}..{old.get('max')}, {old.get('rows')} rows, "
            f"{old.get('num_chunks')} chunks of {old.get('id_column')!r}; now: ids "
            f"{plan['min']}..{plan['max']}, {plan['rows']} rows, {plan['num_chunks']} chunks of "
            f"{plan['id_column']!r}); remove it or write elsewhere"
        )
    return plan


def _commit_chunk(fs, part, i: int, lo: int, hi: int, run_id: str) -> int:
    """Write chunk ``i`` (the DataFrame ``part``) and commit it; returns its row count.

    Spark writes into ``_tmp/<run>/chunk=N`` (its commit protocol puts ``_SUCCESS`` there last),
    the folder is renamed to ``chunk=N`` (one atomic rename on a local or HDFS file system), then
    the marker is written (to a temporary name, renamed into place). A crash at any moment leaves
    either files under ``_tmp/`` or a folder without a marker, both removed by :func:`_clean`.
    """
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    t0 = time.perf_counter()
    tmp = (TEMP_DIR, run_id, chunk_name(i))
    # The rows written are counted by the write job itself (no second pass).
    seen = Observation(f"{run_id}-{i}")
    part.observe(seen, F.count(F.lit(1)).alias("rows")).write.parquet(fs.uri(*tmp))
    rows = int(seen.get["rows"])
    fs.rename(tmp, (chunk_name(i),))
    fs.mkdirs(MARKERS_DIR)
    marker = {
        "chunk": i,
        "id_min": lo,
        "id_max_excl": hi,
        "rows": rows,
        "seconds": round(time.perf_counter() - t0, 3),
        "run": run_id,
        "committed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    fs.write_json(marker, MARKERS_DIR, marker_name(i))
    return rows


class _NoProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def step(self, rows: int) -> None:
        pass


def _progress_bar(spark, progress, rows: int, chunks: int):
    if not progress:
        return _NoProgress()
    from dl_helpers.jobs._progress import SparkProgress

    options = dict(progress) if isinstance(progress, dict) else {}
    options.setdefault("label", f"{chunks} chunks")
    return SparkProgress(spark, total=rows, **options)


def chunk_markers(spark, output: str) -> dict[int, dict]:
    """The commit markers of ``output``'s committed chunks, by chunk number."""
    fs = _file_system(spark, output)
    return {i: fs.read_json(MARKERS_DIR, marker_name(i)) for i in sorted(committed_chunks(fs))}


def read_committed(spark, output: str):
    """The rows of ``output``'s committed chunks (with their ``chunk`` column)."""
    fs = _file_system(spark, output)
    done = sorted(committed_chunks(fs))
    if not done:
        raise FileNotFoundError(f"no committed chunk in {fs.uri()}")
    paths = [fs.uri(chunk_name(i)) for i in done]
    return spark.read.option("basePath", fs.uri()).parquet(*paths)
