"""A real multi-node Spark standalone cluster on one machine, whose workers share no disk.

A master and ``workers`` worker daemons from the pip package's Spark (``spark-class ...Master`` /
``...Worker``). Each worker runs in its own mount and UTS namespace (``unshare``): it has its own
hostname (``node-1``, ``node-2``, ...), its own loopback address (127.0.0.2, 127.0.0.3, ...: Spark
tells hosts apart by address, and would otherwise read another "host's" shuffle files from its
own disk) and private, empty tmpfs folders over ``/tmp``, ``/dev/shm`` and every folder in
``hide`` (the driver's output folders and data cache), so its executors see the
driver's disk only where a real cluster node would: the installed software (the repository and
its environments, as if installed on every node) and the one folder that plays shared storage
(``shared``). A file the driver writes anywhere else is not there for them.

The software stays visible wherever it lives: a folder of ``keep`` (by default the repository,
the Python environment, its base interpreter and Spark) that lies under a hidden folder (a
checkout under ``/tmp``) is bound back at its own path after the hiding, and a hidden folder
inside it (the repository's ``output/``) is hidden again after that.

Namespaces need root (CI runs as root) or unprivileged user namespaces; :func:`isolation_error`
says why a machine cannot, and the fixture skips with that reason.

Run by hand (Ctrl-C stops it)::

    .envs/torch/bin/python tests/support/cluster.py --hide output
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

# DLH_MOUNTS: "hide PATH" / "keep PATH SAVED" lines, outer folders first. A kept folder is bound to
# SAVED (outside every hidden folder) before anything is hidden, and back to PATH in its turn.
WORKER_SCRIPT = r"""
set -eu
hostname "$DLH_NODE"
printf '%s\n' "$DLH_MOUNTS" | while read -r what path saved; do
  if [ "$what" = keep ]; then mkdir -p "$saved" && mount --bind "$path" "$saved"; fi
done
printf '%s\n' "$DLH_MOUNTS" | while read -r what path saved; do
  mkdir -p "$path"
  if [ "$what" = hide ]; then
    mount -t tmpfs -o size=16g,mode=1777 tmpfs "$path"
  else
    mount --bind "$saved" "$path"
  fi
done
exec "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker "$@"
"""


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started the cluster dies, so a
    killed test run leaves no cluster behind (Linux; the setting survives exec)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


REPOSITORY = Path(__file__).resolve().parents[2]


def software_folders() -> list[Path]:
    """What a real node would have installed: the repository, this Python environment, its base
    interpreter and Spark."""
    return [
        REPOSITORY,
        Path(sys.prefix).resolve(),
        Path(sys.base_prefix).resolve(),
        spark_home(),
    ]


def _is_under(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def mount_plan(hide: list[str], keep: list[Path], saved: Path) -> list[str]:
    """The worker's mounts, outer folders first: ``hide PATH`` for each hidden folder and
    ``keep PATH SAVED`` for each kept folder that lies under one (the others stay visible as
    they are). A folder that is both hidden and kept is an error."""
    hidden = [Path(h) for h in hide]
    for k in keep:
        if k in hidden:
            raise ValueError(f"{k} is both hidden from the workers and needed by them")
    kept = sorted(
        {k for k in keep if any(_is_under(k, h) for h in hidden)}, key=lambda p: len(p.parts)
    )
    # Kept folders inside another kept one come back with it.
    kept = [k for k in kept if not any(o != k and _is_under(k, o) for o in kept)]
    for p in [*hidden, *kept]:
        if any(c.isspace() for c in str(p)):
            raise ValueError(f"a path with white space cannot be hidden or kept: {p!r}")
    steps = [(len(h.parts), 0, f"hide {h}") for h in hidden]
    steps += [(len(k.parts), 1, f"keep {k} {saved / str(i)}") for i, k in enumerate(kept)]
    return [line for *_, line in sorted(steps)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# A shell in a private mount and hostname namespace: what each worker runs in, and what the
# start-up probe tries first.
NAMESPACED_SH = ["unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c"]


def isolation_error() -> str | None:
    """None if worker namespaces work here, else why not."""
    if shutil.which("unshare") is None:
        return "no 'unshare' command (util-linux)"
    probe = subprocess.run(
        [
            *NAMESPACED_SH,
            "hostname probe-node && mount -t tmpfs tmpfs /mnt && mkdir /mnt/a /mnt/b"
            ' && mount --bind /mnt/a /mnt/b && test "$(hostname)" = probe-node',
        ],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return "mount/UTS namespaces are not permitted here (needs root or user namespaces): " + (
            probe.stderr.strip() or f"exit {probe.returncode}"
        )
    return None


class StandaloneCluster:
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager)."""

    def __init__(
        self,
        workers: int = 2,
        cores: int = 1,
        memory: str = "3g",
        hide: tuple[str | os.PathLike, ...] = (),
        root: str | os.PathLike | None = None,
        env: dict[str, str] | None = None,
        keep: tuple[str | os.PathLike, ...] | None = None,
    ):
        self.workers = workers
        self.cores = cores
        self.memory = memory
        self.root = Path(root or tempfile.mkdtemp(prefix="dlh-cluster-", dir="/var/tmp"))
        self.shared = self.root / "shared"
        self.hide = ["/tmp", "/dev/shm", *(str(Path(h).resolve()) for h in hide)]
        for h in self.hide:
            if self.shared.resolve().is_relative_to(h):
                raise ValueError(f"the shared folder {self.shared} is under a hidden folder {h}")
        keep_dirs = software_folders() if keep is None else [Path(k).resolve() for k in keep]
        self.mounts = mount_plan(self.hide, keep_dirs, self.root / "kept")
        self.env = dict(os.environ if env is None else env)
        self.env.update(
            SPARK_HOME=str(spark_home()), SPARK_LOCAL_IP="127.0.0.1", SPARK_NO_DAEMONIZE="1"
        )
        self.port = self.web_port = 0
        self.procs: list[subprocess.Popen] = []
        self.hostnames = [f"node-{i + 1}" for i in range(workers)]

    @property
    def master(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    def __enter__(self) -> StandaloneCluster:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.root / "logs" / f"{name}.log", "w")  # noqa: SIM115 (kept with the proc)
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def start(self, timeout_s: float = 90.0) -> StandaloneCluster:
        why = isolation_error()
        if why:
            raise RuntimeError(why)
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        self.shared.mkdir(parents=True, exist_ok=True)
        os.chmod(self.shared, 0o777)  # noqa: S103 (a test folder that plays a shared mount)
        home = spark_home()
        self.port, self.web_port = free_port(), free_port()
        self._spawn(
            "master",
            [
                str(home / "bin" / "spark-class"),
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--webui-port",
                str(self.web_port),
            ],
            self.env,
        )
        try:
            self._wait(lambda s: True, timeout_s, "the master")
            for i, node in enumerate(self.hostnames):
                work = self.root / f"work-{i + 1}"
                work.mkdir(exist_ok=True)
                address = f"127.0.0.{i + 2}"
                env = dict(
                    self.env,
                    DLH_NODE=node,
                    DLH_MOUNTS="\n".join(self.mounts),
                    SPARK_LOCAL_IP=address,
                )
                self._spawn(
                    node,
                    [
                        *NAMESPACED_SH,
                        WORKER_SCRIPT,
                        "worker",
                        self.master,
                        "--host",
                        address,
                        "--cores",
                        str(self.cores),
                        "--memory",
                        self.memory,
                        "--work-dir",
                        str(work),
                        "--webui-port",
                        "0",
                    ],
                    env,
                )
            self._wait(
                lambda s: s.get("aliveworkers", 0) >= self.workers,
                timeout_s,
                f"{self.workers} workers",
            )
        except BaseException:
            self.stop()
            raise
        return self

    def state(self) -> dict:
        url = f"http://127.0.0.1:{self.web_port}/json/"
        with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 (loopback)
            return json.loads(r.read())

    def _wait(self, ready, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            dead = [p for p in self.procs if p.poll() is not None]
            if dead:
                raise RuntimeError(
                    f"cluster process exited while waiting for {what}:\n" + self.log_tails()
                )
            try:
                if ready(self.state()):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} after {timeout_s:.0f} s:\n" + self.log_tails())
            time.sleep(0.5)

    def log_tails(self, lines: int = 15) -> str:
        out = []
        for log in sorted((self.root / "logs").glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name}\n" + "\n".join(tail))
        return "\n".join(out)

    def stop(self, grace_s: float = 15.0) -> None:
        # Workers first (they stop their executors), then the master; whole process groups.
        for proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace_s
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        self.procs.clear()


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cores", type=int, default=1)
    ap.add_argument("--hide", action="append", default=[], help="a driver folder to hide")
    args = ap.parse_args(argv)
    with StandaloneCluster(args.workers, args.cores, hide=tuple(args.hide)) as c:
        print(f"master {c.master}, shared folder {c.shared}, logs {c.root / 'logs'}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
