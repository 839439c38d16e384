"""Run folders: where a server's spec, status and logs live on its machine.

Layout: ``<root>/<manager id>/<executor tag>/`` holding ``spec.pkl`` (what to serve),
``status.json`` (written by the server process: pid, state, port, models) and
``server-<attempt>.log``, with a ``<executor tag>.lock`` beside it. A server may also keep a
scratch folder elsewhere (PyTriton's workspace: a short ``/tmp/dlt-*`` path, since Unix socket
paths may not exceed 107 characters), named under ``workspace`` in its status.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

# Where servers keep their run folders (default: a per-user folder in the temp dir). Every
# server process inherits it, so a test run can tell its own servers from another's.
ROOT_ENV = "DL_HELPERS_SERVERS_DIR"
WORKSPACE_PREFIX = "dlt-"


def root_dir() -> Path:
    root = os.environ.get(ROOT_ENV)
    if root:
        return Path(root)
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"dl_helpers_servers-{uid}"


def tag(key: str) -> str:
    """A file name for an executor key."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", key)


def short_tmp() -> str:
    return "/tmp" if os.access("/tmp", os.W_OK) else tempfile.gettempdir()


def new_workspace() -> Path:
    """A fresh, short scratch path (not created: PyTriton creates it and removes it on stop)."""
    ws = Path(tempfile.mkdtemp(prefix=WORKSPACE_PREFIX, dir=short_tmp()))
    ws.rmdir()
    return ws


def remove_workspace(status: dict | None) -> None:
    """Delete a server's scratch folder (its own stop does; a hard kill leaves it)."""
    ws = (status or {}).get("workspace")
    if ws and Path(ws).name.startswith(WORKSPACE_PREFIX):
        shutil.rmtree(ws, ignore_errors=True)


def remove_run(run_dir: Path, status: dict | None) -> None:
    """Delete a server's run folder and its scratch folder."""
    remove_workspace(status)
    shutil.rmtree(run_dir, ignore_errors=True)


def write_json(path: Path, data: dict) -> None:
    """Write atomically: a reader never sees half a status."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def run_lock(base: Path, name: str, create: bool, wait: bool = True):
    """Hold ``<base>/<name>.lock``; yields False where it is held and ``wait`` is False.

    Several executors of one host share ``base``; any of them may remove a lock file (holding
    it) and the folder (once empty) at any moment. So the lock taken must still be the file at
    that path (else it is taken again), and a vanished folder is made again (``create``: a
    start) or means nothing is left to lock (a stop: yields False). While a holder's lock file
    is in the folder, the folder is not empty and cannot be removed.
    """
    import fcntl

    path = base / f"{name}.lock"
    while True:
        if create:
            base.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            f = open(path, "a")
        except FileNotFoundError:
            if create:
                continue  # the folder was removed meanwhile: make it again
            yield False
            return
        with f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                same = os.fstat(f.fileno()).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                yield True
                return
        # The holder before us removed this lock file: lock the one at the path now.


def unlink_lock(base: Path, name: str) -> None:
    """Remove a lock file (only while holding it)."""
    (base / f"{name}.lock").unlink(missing_ok=True)


def remove_manager_folder(base: Path) -> None:
    """Remove a manager's folder if nothing is left in it (another may still be using it)."""
    with contextlib.suppress(OSError):
        base.rmdir()
