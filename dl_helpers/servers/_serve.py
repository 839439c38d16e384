"""The detached server process: ``python -m dl_helpers.servers._serve RUN_DIR [--detach]``.

Started by the launcher with the Spark worker's interpreter, in a session of its own: it serves
what ``RUN_DIR/spec.pkl`` names, reports in ``RUN_DIR/status.json`` and stops when asked, when
its server dies or when its owner is gone."""

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


class _Process:
    """The server process's state: its status file, and the stop, ready and orphaned events."""

    def __init__(self, run_dir: Path):
        import psutil

        me = psutil.Process()
        self.run_dir = run_dir
        self.status: dict[str, Any] = {"pid": me.pid, "pid_start": round(me.create_time(), 2)}
        self.stop = threading.Event()  # set when the server is asked to stop
        self.ready = threading.Event()  # set once the kind started (SIGTERM no longer raises)
        self.orphaned = threading.Event()  # set when the owner is gone

    def set_status(self, state: str, **extra) -> None:
        self.status.update(extra, state=state)
        write_json(self.run_dir / "status.json", self.status)

    def load_spec(self) -> dict | None:
        """The spec the launcher wrote; None (and a failed status) if it cannot be loaded, e.g.
        when the kind names modules this interpreter cannot import (a notebook's bind_model)."""
        import pickle

        try:
            with open(self.run_dir / "spec.pkl", "rb") as f:
                return pickle.load(f)
        except BaseException as e:
            traceback.print_exc(file=sys.stdout)
            self.set_status("failed", error=f"cannot load the server spec: {type(e).__name__}: {e}")
            return None

    def handle_signals(self) -> None:
        """SIGTERM/SIGINT stop the server; while the kind is still starting they interrupt it."""

        def on_signal(signum, _frame):
            log.info("signal %d received: stopping", signum)
            self.stop.set()
            if not self.ready.is_set():
                raise _Stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def watch_owner(self, owner_pid: int, owner_start: float) -> None:
        """A thread that stops the server within ``OWNER_POLL_S + STOP_GRACE_S`` of its owner's
        death (the driver in local mode, the executor JVM on a cluster)."""

        def watch():
            while not self.stop.wait(OWNER_POLL_S):
                if not alive(owner_pid, owner_start):
                    log.warning("owner process %d is gone: stopping", owner_pid)
                    self.orphaned.set()
                    os.kill(os.getpid(), signal.SIGTERM)
                    # The main thread may be stuck in native code (a model loading): the stop
                    # must not depend on it. Children follow by their parent-death signal.
                    time.sleep(STOP_GRACE_S)
                    log.error("no clean stop in %.0f s: exiting hard", STOP_GRACE_S)
                    sys.stdout.flush()
                    remove_orphan(self.run_dir, self.status)
                    os._exit(5)

        threading.Thread(target=watch, name="owner-watch", daemon=True).start()

    def run(self, kind: ServerKind, ctx: ServeContext) -> int:
        """Start the kind, report it ready, serve until asked to stop or the server dies."""
        try:
            t0 = time.monotonic()
            models = kind.start(ctx)
            self.ready.set()
            url = kind.url(ctx.address, ctx.port)
            run_s = round(time.monotonic() - t0, 3)
            self.set_status("ready", port=ctx.port, models=models, url=url, run_s=run_s)
            log.info("%s ready at %s with models %s", kind.display, url, models)
            while not self.stop.wait(0.5):
                if not kind.alive():
                    raise RuntimeError(f"the {kind.display} server exited")
            return 0
        except _Stop:
            return 0
        except BaseException as e:  # report it in the status file, then exit non-zero
            self.set_status("failed", error=f"{type(e).__name__}: {e}")
            traceback.print_exc(file=sys.stdout)
            return 1
        finally:
            self.stop.set()
            self.ready.set()
            self.stop_kind(kind)

    def stop_kind(self, kind: ServerKind) -> None:
        """The kind's own stop; a hung one must not keep the process alive: hard exit after the
        grace period (children then get SIGTERM from their parent-death signal)."""
        if self.status["state"] != "failed":
            self.set_status("stopping")
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


def serve(run_dir: Path) -> int:
    """Body of the server process. Exit codes: 0 stopped cleanly, 1 failed, 4 hung stop,
    5 orphaned hard exit."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stdout,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
    )
    proc = _Process(run_dir)
    proc.set_status("starting")
    spec = proc.load_spec()
    if spec is None:
        return 1
    kind: ServerKind = spec["kind"]
    owner = (spec["owner_pid"], spec["owner_start"])
    proc.set_status("starting", owner_pid=owner[0], owner_start=owner[1], kind=kind.display)
    proc.handle_signals()
    proc.watch_owner(*owner)
    ctx = ServeContext(
        address=spec["address"],
        port=spec["port"],
        token=spec["token"],
        gpus=list(spec.get("gpus") or []),
        run_dir=run_dir,
        stop=proc.stop,
        set_status=proc.set_status,
    )
    code = proc.run(kind, ctx)
    if proc.status["state"] != "failed":
        proc.set_status("stopped")
    sys.stdout.flush()
    if proc.orphaned.is_set():
        remove_orphan(run_dir, proc.status)  # nobody else will
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
