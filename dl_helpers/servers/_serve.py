"""The detached server process: ``python -m dl_helpers.servers._serve RUN_DIR [--detach]``.

Started by the launcher with the Spark worker's interpreter, in a session of its own, it reads
``spec.pkl`` from its run folder (a server kind, address, port, token, owner), starts the kind's
server, writes its state to ``status.json`` and then watches two things: the server (if it dies,
the process exits and the status says why) and its owner (the driver in local mode, the executor
JVM on a cluster): once the owner is gone it stops within ``OWNER_POLL_S + STOP_GRACE_S``, and
removes its own run folder, since nobody else will.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dl_helpers.servers._base import STOP_GRACE_S, ServeContext, ServerKind, alive
from dl_helpers.servers._run_folder import (
    remove_manager_folder,
    remove_run,
    run_lock,
    unlink_lock,
    write_json,
)

log = logging.getLogger("dl_helpers.servers._serve")

OWNER_POLL_S = 1.0  # how often a server checks that its owner is alive
# Names that mark a server's process tree (inherited by every child) for process scans.
SERVER_ENV = "DL_HELPERS_SERVER"


class _Stop(BaseException):
    """Raised in the server's main thread by SIGTERM/SIGINT while it is still starting."""


def remove_orphan(run_dir: Path, status: dict) -> None:
    """The owner is gone and nobody else will clean up: remove the run folder, its lock and an
    empty manager folder. A stop holding the lock removes them itself."""
    with run_lock(run_dir.parent, run_dir.name, create=False, wait=False) as held:
        if held:
            remove_run(run_dir, status)
            unlink_lock(run_dir.parent, run_dir.name)
    remove_manager_folder(run_dir.parent)


def serve(run_dir: Path) -> int:
    """Body of the server process. Exit codes: 0 stopped cleanly, 1 failed, 5 orphaned hard exit."""
    import pickle

    import psutil

    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stdout,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
    )
    status_path = run_dir / "status.json"
    me = psutil.Process()
    status: dict[str, Any] = {"pid": me.pid, "pid_start": round(me.create_time(), 2)}

    def set_status(state: str, **extra):
        status.update(extra, state=state)
        write_json(status_path, status)

    set_status("starting")
    try:  # the kind may name modules this interpreter cannot import (a notebook's bind_model)
        with open(run_dir / "spec.pkl", "rb") as f:
            spec = pickle.load(f)
    except BaseException as e:
        traceback.print_exc(file=sys.stdout)
        set_status("failed", error=f"cannot load the server spec: {type(e).__name__}: {e}")
        return 1
    kind: ServerKind = spec["kind"]
    owner_pid, owner_start = spec["owner_pid"], spec["owner_start"]
    set_status("starting", owner_pid=owner_pid, owner_start=owner_start, kind=kind.display)

    stop = threading.Event()
    ready = threading.Event()
    orphaned = threading.Event()

    def on_signal(signum, _frame):
        log.info("signal %d received: stopping", signum)
        stop.set()
        if not ready.is_set():
            raise _Stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def watch_owner():
        while not stop.wait(OWNER_POLL_S):
            if not alive(owner_pid, owner_start):
                log.warning("owner process %d is gone: stopping", owner_pid)
                orphaned.set()
                os.kill(os.getpid(), signal.SIGTERM)
                # The main thread may be stuck in native code (a model loading): the stop
                # must not depend on it. Children follow by their parent-death signal.
                time.sleep(STOP_GRACE_S)
                log.error("no clean stop in %.0f s: exiting hard", STOP_GRACE_S)
                sys.stdout.flush()
                remove_orphan(run_dir, status)
                os._exit(5)

    threading.Thread(target=watch_owner, name="owner-watch", daemon=True).start()

    ctx = ServeContext(
        address=spec["address"],
        port=spec["port"],
        token=spec["token"],
        gpus=list(spec.get("gpus") or []),
        run_dir=run_dir,
        stop=stop,
        set_status=set_status,
    )
    started = False
    try:
        t0 = time.monotonic()
        started = True
        models = kind.start(ctx)
        ready.set()
        url = kind.url(ctx.address, ctx.port)
        set_status(
            "ready", port=ctx.port, models=models, url=url, run_s=round(time.monotonic() - t0, 3)
        )
        log.info("%s ready at %s with models %s", kind.display, url, models)
        while not stop.wait(0.5):
            if not kind.alive():
                raise RuntimeError(f"the {kind.display} server exited")
        code = 0
    except _Stop:
        code = 0
    except BaseException as e:  # report it in the status file, then exit non-zero
        set_status("failed", error=f"{type(e).__name__}: {e}")
        traceback.print_exc(file=sys.stdout)
        code = 1
    finally:
        stop.set()
        ready.set()
        if started:
            if status["state"] != "failed":
                set_status("stopping")
            # A hung stop must not keep the process alive: hard exit after the grace period
            # (children then get SIGTERM from their parent-death signal).
            timer = threading.Timer(STOP_GRACE_S - 2, lambda: os._exit(4))
            timer.daemon = True
            timer.start()
            t0 = time.monotonic()
            try:
                kind.stop()
            except Exception:
                traceback.print_exc(file=sys.stdout)
            timer.cancel()
            log.info("%s stopped in %.1f s", kind.display, time.monotonic() - t0)
    if status["state"] != "failed":
        set_status("stopped")
    sys.stdout.flush()
    if orphaned.is_set():
        remove_orphan(run_dir, status)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dl_helpers.servers._serve RUN_DIR [--detach]``: run one server."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(main.__doc__, file=sys.stderr)
        return 2
    run_dir = Path(argv[0])
    if "--detach" in argv[1:]:
        # Leave the launcher (a Spark Python worker) at once, so that it never has to wait for us
        # and we never become its zombie; init adopts the server. Nothing has run yet but the
        # interpreter's start, so this fork copies no threads or state.
        if os.fork() > 0:
            os._exit(0)
        os.setsid()
    code = serve(run_dir)
    # The server is stopped and the status written: skip the interpreter's slow teardown (PyTriton
    # and gRPC threads), which only delays the exit that stop() waits for.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
