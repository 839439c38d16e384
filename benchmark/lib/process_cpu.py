"""CPU time of a process tree: this process and everything it starts, sampled while it runs.

Used by the benchmarks to report CPU seconds beside wall time: Spark's JVM and Python workers,
Ray's raylet and actors, Triton servers and plain worker processes all count.
"""

from __future__ import annotations

import os


class TreeCPU:
    """CPU seconds (user + system) used during a run by this process and everything it started:
    Spark's JVM and Python workers, Ray's raylet and actors, Triton servers, the limit's
    processes. Unlike wall time, this barely moves when other users load the machine.

    The process tree is sampled every ``interval`` s, because processes that exit during a run
    (Ray starts and ends an actor pool per Dataset execution) are not always reaped by a parent
    that records their time; a process that exits loses at most one interval of its time.
    """

    def __init__(self, interval: float = 0.5, roots=()):
        import threading

        self.interval = interval
        self.roots = list(roots)  # detached processes to count too (Triton servers)
        self._started = False
        self.last: dict[tuple[int, float], float] = {}
        self.first: dict[tuple[int, float], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        import psutil

        procs = {}
        for pid in [os.getpid(), *self.roots]:
            try:
                root = psutil.Process(pid)
                for p in [root, *root.children(recursive=True)]:
                    procs[p.pid] = p
            except psutil.Error:
                continue
        for p in procs.values():
            try:
                key = (p.pid, p.create_time())
                t = p.cpu_times()
            except psutil.Error:
                continue
            self.last[key] = t.user + t.system
            self.first.setdefault(key, self.last[key] if self._started else 0.0)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> TreeCPU:
        self._started = True
        self._sample()  # processes alive now count from here
        self._started = False  # processes first seen later count from zero
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def seconds(self) -> float:
        return sum(v - self.first.get(k, 0.0) for k, v in self.last.items())
