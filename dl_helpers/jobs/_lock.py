"""One writer per chunked output: a lock file ``_lock.json`` naming its owner (host, pid, the
process's start time, since when), created with an exclusive create and removed at the end.

On a local or mounted POSIX folder and on HDFS the exclusive create is atomic, so two runs started
at the same instant cannot both hold the lock. On object stores (``s3a:``, ``gs:``, ``abfs:``...)
Hadoop's create-if-absent is a check followed by a write: two runs started within that window
could both take it, so there the lock is read back after writing (which catches most such
races, not all); start one run per output there.
"""

from __future__ import annotations

import os
import socket
import time
import uuid

LOCK_FILE = "_lock.json"


class OutputLockedError(RuntimeError):
    """Another run holds the output's lock (its owner is named in the message)."""


def _start_time(pid: int) -> float | None:
    """When process ``pid`` of this host started (seconds since the epoch), None if it is gone."""
    try:
        import psutil

        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return None
        return round(p.create_time(), 2)
    except ImportError:  # without psutil: Linux's /proc, where the folder's time is the start
        try:
            return round(os.stat(f"/proc/{pid}").st_mtime, 2)
        except OSError:
            return None
    except Exception:  # psutil.NoSuchProcess, AccessDenied
        return None


def _owner(run_id: str) -> dict:
    pid = os.getpid()
    return {
        "host": socket.gethostname(),
        "pid": pid,
        "started": _start_time(pid),
        "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "run": run_id,
    }


def _describe(owner: dict) -> str:
    if not owner:
        return f"a run that cannot be named (its {LOCK_FILE} stays empty or unreadable)"
    return (
        f"run {owner.get('run')} (host {owner.get('host')}, pid {owner.get('pid')}, "
        f"since {owner.get('since')})"
    )


def _is_dead(owner: dict) -> bool:
    """True only where it can be known: the owner ran on this host and its pid is gone or now
    belongs to a process started at another time (a reused pid)."""
    if owner.get("host") != socket.gethostname() or not isinstance(owner.get("pid"), int):
        return False
    started = _start_time(owner["pid"])
    return started is None or started != owner.get("started")


def acquire(fs, run_id: str) -> dict:
    """Take the lock of ``fs``'s output folder for ``run_id``, or raise OutputLockedError naming
    the run that holds it; a lock left by a dead run of this host is taken over."""
    me = _owner(run_id)
    me["created_folder"] = not fs.exists()
    fs.mkdirs()
    for _ in range(3):
        if fs.create_json_exclusive(me, LOCK_FILE):
            held = _read(fs)
            if held is not None and held.get("run") == run_id:
                return me
            raise OutputLockedError(_locked_message(fs, held or {}))
        held = _read(fs)
        if held is None:  # released between our create and our read: try again
            continue
        if not _is_dead(held):
            raise OutputLockedError(_locked_message(fs, held))
        # Move the stale lock aside (one of several racing runs wins the rename), check that the
        # file moved is still the dead owner's, then create ours.
        aside = f".{LOCK_FILE}.{uuid.uuid4().hex}.stale"
        try:
            fs.rename((LOCK_FILE,), (aside,))
        except OSError:
            continue
        moved = fs.read_json(aside)
        if moved.get("run") != held.get("run"):  # a live run's fresh lock: put it back
            fs.rename((aside,), (LOCK_FILE,))
            raise OutputLockedError(_locked_message(fs, moved))
        fs.delete(aside)
        me["took_over"] = held
    raise OutputLockedError(f"could not take the lock {fs.uri(LOCK_FILE)}: it keeps changing")


def release(fs, run_id: str, remove_empty_folder: bool = False) -> None:
    """Remove the lock if ``run_id`` still holds it (and the output folder if it made it and left
    it empty, after an early error)."""
    held = _read(fs)
    if held is not None and held.get("run") == run_id:
        fs.delete(LOCK_FILE)
        if remove_empty_folder and not fs.names():
            fs.delete()


# How long a lock file that exists but does not parse is re-read: Hadoop's file systems (the local
# one included) create the file, then write it, so a reader can see it empty for a moment.
WRITING_WAIT_S = 2.0


def _read(fs) -> dict | None:
    """The lock's owner, None if there is no lock, ``{}`` if the file stays unreadable (its
    owner cannot be named) for ``WRITING_WAIT_S``."""
    deadline = time.monotonic() + WRITING_WAIT_S
    while True:
        try:
            return fs.read_json(LOCK_FILE)
        except Exception:  # gone (released), or being written
            if not fs.exists(LOCK_FILE):
                return None
            if time.monotonic() >= deadline:
                return {}
            time.sleep(0.05)


def _locked_message(fs, held: dict) -> str:
    return (
        f"{fs.uri()} is being written by {_describe(held)}: two runs must not write one output "
        f"at once. Wait for it to finish, or, if that run is dead on another host, remove "
        f"{fs.uri(LOCK_FILE)} (a dead run of this host is detected and its lock taken over). On "
        "object stores the lock cannot be taken atomically: start one run per output there."
    )
