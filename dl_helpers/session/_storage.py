"""Shared storage: where a notebook puts the files that Spark's executors open.

On a cluster the executors cannot open the driver's local disk, so tables, model files and
output folders go to a folder every node mounts at the same path. ``shared_storage`` chooses it
once per notebook and, beyond local mode, proves the executors can read it (README, "Where data
and models live", lists the platform defaults).

Usage::

    shared = shared_storage(spark, shared_dir, output_dir=out)
    data_path = shared.write_parquet(table, "test.parquet", num_files)
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from dl_helpers.session._environment import (
    DATABRICKS,
    DATAPROC,
    LOCAL,
    LOCAL_CLUSTER,
    detect_platform,
)
from dl_helpers.session._executors import expected_executors, spread_job, wait_for_executors
from dl_helpers.session._spark import is_connect

log = logging.getLogger(__name__)

SHARED_DIR_ENV = "DL_HELPERS_SHARED_DIR"
DATABRICKS_DEFAULT = "/dbfs/FileStore/dl_inference"
DATAPROC_DEFAULT = "/mnt/gcs/dl_inference"  # the gcsfuse mount of dataproc/init_dl_helpers.sh
# Platforms whose processes all share the driver's disk: the output folder is shared storage.
_ONE_HOST = (LOCAL, LOCAL_CLUSTER)
_URI_SCHEMES = ("gs://", "s3://", "s3a://", "hdfs://", "abfss://", "wasbs://", "dbfs:/")
_MARKER_PREFIX = ".dl_helpers_visible_"


class SharedStorageError(RuntimeError):
    """The shared folder is missing, unusable, or not visible to the executors."""


@dataclass(frozen=True)
class SharedStorage:
    """A folder every Spark process reads and writes at the same path.

    ``path(...)`` gives file paths for Python code (the driver's writers, ``make_predict_fn``,
    ``bind_model``); ``uri(...)`` gives the same location for ``spark.read`` / ``df.write``,
    with the scheme Spark needs on the platform (``file:`` where the default file system may be
    HDFS, as on Dataproc; ``dbfs:`` for ``/dbfs/...`` on Databricks).
    """

    root: Path
    platform: str
    source: str  # how the folder was chosen, for the notebook's output
    executor_hosts: tuple[str, ...] = field(default=())

    def path(self, *parts: str) -> str:
        """A path under the shared folder, as a string (its parent folder is created)."""
        p = self.root.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return str(p)

    def uri(self, *parts: str) -> str:
        """The same location as :meth:`path`, spelled for Spark's readers and writers."""
        p = str(self.root.joinpath(*parts))
        if self.platform == DATABRICKS:
            if p.startswith("/dbfs/"):
                return "dbfs:" + p[len("/dbfs") :]
            return p  # /Volumes/... and workspace files are read by Spark as they are
        return Path(p).as_uri()

    def write_parquet(self, table, name: str, files: int = 1) -> str:
        """Write a pyarrow Table as ``files`` Parquet files (the read parallelism) under ``name``.

        Earlier ``part-*.parquet`` files of that folder are removed first (they are this
        notebook's own output; nothing else is touched). Returns :meth:`uri` of the folder.
        """
        import pyarrow.parquet as pq

        if files < 1:
            raise ValueError(f"files must be >= 1, not {files}")
        folder = Path(self.path(name, "part-00000.parquet")).parent
        for old in folder.glob("part-*.parquet"):
            old.unlink()
        step = max(1, -(-table.num_rows // files))
        for i, start in enumerate(range(0, max(table.num_rows, 1), step)):
            pq.write_table(table.slice(start, step), folder / f"part-{i:05d}.parquet")
        return self.uri(name)

    def contents(self) -> list[str]:
        """Names of the files and folders directly under the shared folder, sorted."""
        return sorted(p.name for p in self.root.iterdir() if not p.name.startswith(_MARKER_PREFIX))

    def describe(self) -> dict:
        """What a notebook records: the folder, how it was chosen, the executors' hosts."""
        return {
            "shared_dir": str(self.root),
            "platform": self.platform,
            "source": self.source,
            "executor_hosts": list(self.executor_hosts),
        }


def _platform_of(spark) -> str:
    from dl_helpers.session._spark import session_master

    return detect_platform(master=session_master(spark)).name


def _choose(shared_dir, output_dir, name: str, platform: str, env) -> tuple[str | None, str]:
    if shared_dir:
        return str(shared_dir), "the shared_dir parameter"
    if env.get(SHARED_DIR_ENV):
        return str(Path(env[SHARED_DIR_ENV]) / name), f"${SHARED_DIR_ENV}"
    if platform in _ONE_HOST:
        if output_dir is None:
            raise SharedStorageError("local mode needs output_dir (or shared_dir)")
        return str(output_dir), f"the output folder ({platform}: one host, one disk)"
    if platform == DATABRICKS:
        return f"{DATABRICKS_DEFAULT}/{name}", "the Databricks default (DBFS)"
    if platform == DATAPROC:
        return f"{DATAPROC_DEFAULT}/{name}", "the Dataproc default (gcsfuse mount)"
    return None, ""


def _missing_message(platform: str, master: str, output_dir) -> str:
    where = f" such as the driver-local folder {output_dir}" if output_dir else ""
    return (
        f"Spark master {master} is a {platform} cluster: its executors run on other machines "
        f"and cannot open files on the driver's disk{where}. Set the notebook parameter "
        f"shared_dir (or the environment variable {SHARED_DIR_ENV}) to a folder that every "
        "node mounts at the same path (NFS, a Databricks volume, a gcsfuse mount on Dataproc)."
    )


def _read_marker(marker: str, token: str) -> dict:
    import socket

    try:
        with open(marker) as f:
            ok, error = f.read() == token, ""
        if not ok:
            error = "the marker file has other content (another folder at that path?)"
    except OSError as e:
        ok, error = False, f"{type(e).__name__}: {e}"
    return {"host": socket.gethostname(), "ok": ok, "error": error}


def check_visible(spark, root: Path, tasks: int | None = None) -> tuple[str, ...]:
    """Prove that the executors read ``root``: return their hostnames, or raise."""
    expected = expected_executors(spark)
    if expected and not is_connect(spark):
        try:
            wait_for_executors(spark, expected)
        except TimeoutError as e:
            log.warning("checking shared_dir with the executors there are: %s", e)
    if tasks is None:
        tasks = max(4, 2 * (expected or 2))
    token = uuid.uuid4().hex
    marker = root / f"{_MARKER_PREFIX}{token}"
    marker.write_text(token)
    try:
        path = str(marker)
        found = spread_job(
            spark, lambda: _read_marker(path, token), "host string, ok boolean, error string", tasks
        )
        rows = [r.asDict() for r in found]
    finally:
        marker.unlink(missing_ok=True)
    bad = [r for r in rows if not r["ok"]]
    if bad:
        hosts = sorted({r["host"] for r in bad})
        raise SharedStorageError(
            f"shared_dir {root} is not visible to the executors: on {', '.join(hosts)} "
            f"{bad[0]['error']}. It is a folder on the driver's disk (host "
            f"{socket.gethostname()}) only. Set the notebook parameter shared_dir (or "
            f"${SHARED_DIR_ENV}) to a folder that every node mounts at the same path."
        )
    return tuple(sorted({r["host"] for r in rows}))


def shared_storage(
    spark,
    shared_dir: str | os.PathLike | None = None,
    *,
    output_dir: str | os.PathLike | None = None,
    name: str | None = None,
    check: bool = True,
    env=None,
) -> SharedStorage:
    """Choose and check the folder for files the executors open.

    The folder: ``shared_dir``, else ``$DL_HELPERS_SHARED_DIR``/<name>, else the platform's
    default (the output folder in local mode and on ``local-cluster``, one host and one disk;
    ``/dbfs/FileStore/dl_inference/<name>`` on Databricks; ``/mnt/gcs/dl_inference/<name>`` on
    Dataproc, mounted by ``dataproc/init_dl_helpers.sh``). Standalone, YARN and Kubernetes have
    no default: :class:`SharedStorageError` names the driver-local folder and what to set.
    Beyond local mode the driver writes a marker file and a small job reads it on the executors,
    so a folder they cannot see fails here within seconds, naming the folder and the host; the
    hosts that answered are kept in ``SharedStorage.executor_hosts``. Only mounted folders are
    managed (URIs are refused): the model libraries load from local paths.

    ``output_dir`` is the notebook's own (driver) output folder, the default in local mode;
    ``name`` the notebook's subfolder under ``$DL_HELPERS_SHARED_DIR`` or a platform default
    (default: the output folder's name). ``check=False`` skips the executor check.
    """
    from dl_helpers.session._spark import session_master

    env = os.environ if env is None else env
    platform = _platform_of(spark)
    name = name or (Path(output_dir).name if output_dir else "notebook")
    chosen, source = _choose(shared_dir, output_dir, name, platform, env)
    if chosen is None:
        raise SharedStorageError(_missing_message(platform, session_master(spark), output_dir))
    if chosen.startswith(_URI_SCHEMES):
        raise SharedStorageError(
            f"shared_dir {chosen!r} is a URI; it must be a folder mounted on every node (the "
            "model libraries open local files): mount the bucket (gcsfuse on Dataproc, a "
            "volume on Databricks) and pass the mount's path"
        )
    root = Path(chosen).expanduser()
    if not root.is_absolute():
        root = root.resolve()  # executors start elsewhere: a relative path would be theirs
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SharedStorageError(f"cannot create shared_dir {root}: {e}") from e
    hosts: tuple[str, ...] = ()
    if platform == LOCAL:
        hosts = (socket.gethostname(),)
    elif check:
        t0 = time.monotonic()
        hosts = check_visible(spark, root)
        log.info("shared_dir %s visible on %s (%.1f s)", root, hosts, time.monotonic() - t0)
    storage = SharedStorage(root, platform, source, hosts)
    print(f"shared storage: {root} ({source}); executors on {', '.join(hosts) or '?'}")
    return storage
