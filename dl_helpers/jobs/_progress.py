"""A live progress bar for the Spark jobs a block starts: tasks done, rows per second, time left,
from Spark's status tracker (on Spark Connect: the progress reports the server sends).

Usage::

    with SparkProgress(spark, total=num_rows, unit="rows", label="classify") as bar:
        preds.write.parquet(path)
    bar.summary        # {"state": "done", "tasks": ..., "rows": ..., "rows_per_s": ...}
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from dataclasses import dataclass

# NOTE: pyspark is imported inside the functions so that importing dl_helpers stays cheap.

PREFIX = "[progress]"


@dataclass
class Snapshot:
    """The state of the jobs of a block, as the bar shows it."""

    tasks_done: int = 0
    tasks_total: int = 0
    items_done: float | None = None  # estimated, when a total was given
    items_total: int | None = None
    elapsed: float = 0.0
    failed_jobs: int = 0  # always 0 on Spark Connect: its reports do not say

    @property
    def rate(self) -> float | None:
        if self.items_done is None or self.elapsed <= 0:
            return None
        return self.items_done / self.elapsed

    @property
    def seconds_left(self) -> float | None:
        if self.items_total is not None and self.rate:
            return max(self.items_total - self.items_done, 0) / self.rate
        if self.tasks_done and self.tasks_total:
            return (self.tasks_total - self.tasks_done) * self.elapsed / self.tasks_done
        return None


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    return f"{h}:{rem // 60:02d}:{rem % 60:02d}" if h else f"{rem // 60:02d}:{rem % 60:02d}"


def _in_kernel() -> bool:
    """True inside a running Jupyter kernel (papermill's too), where display handles update."""
    if "IPython" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class SparkProgress:
    """Context manager showing the progress of the Spark jobs started inside it (from this
    thread): they carry a job tag (a Connect tag, ``spark.addTag``, on Spark Connect), and a
    driver thread polls their stages. In a Jupyter kernel the bar is one output line updated in
    place, and a plain line is printed every ``print_every`` seconds (what papermill keeps); a
    last line says "done" or "failed" with the totals, and an exception from the block goes on.

    ``total``: rows (or images, ``unit``) the jobs go through, for rates and time left; rows are
    estimated from the share of tasks done (evenly split partitions make it good). Without it
    the bar shows tasks only.
    ``interval``: seconds between polls (and display updates; on Spark Connect the numbers change
    as the server's reports arrive). ``print_every``: seconds between plain lines (default 30 in
    a kernel, 10 elsewhere); the last line is always printed.
    ``display``: force the in-place display on or off (default: on in a kernel). ``out``: where
    plain lines go (default ``sys.stdout``). After the block, ``lines`` holds the printed lines
    and ``summary`` the totals (for ``record()``).
    """

    def __init__(
        self,
        spark,
        total: int | None = None,
        *,
        unit: str = "rows",
        label: str = "spark",
        interval: float = 0.5,
        print_every: float | None = None,
        display: bool | None = None,
        out=None,
    ):
        self.spark = spark
        self.total = total
        self.unit = unit
        self.label = label
        self.interval = interval
        self.display = _in_kernel() if display is None else display
        if print_every is None:
            print_every = 30.0 if self.display else 10.0
        self.print_every = print_every
        self.out = out
        self.tag = f"dl-helpers-progress-{uuid.uuid4().hex[:12]}"
        self.lines: list[str] = []
        self.summary: dict = {}
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._handle = None
        self._t0 = 0.0
        self._sc = None
        self._tracker = None
        # Spark Connect: the last progress report of each tagged operation, and whether it ended.
        self._ops: dict[str, tuple[list[tuple[int, int, bool]], bool]] = {}
        self._ops_lock = threading.Lock()
        self._handler = None
        self._block_failed = False
        # Rows of the steps already finished, and the current step: its rows and the jobs that
        # belong to earlier steps (excluded from its share of tasks done).
        self._base_items = 0
        self._step_items = total
        self._old_jobs: set[int] = set()
        self._stepped = False
        self._last = Snapshot()

    # -- the Spark side ---------------------------------------------------------------------

    def _job_ids(self) -> list:
        if self._sc is None:  # Spark Connect: the operations reported so far
            with self._ops_lock:
                return list(self._ops)
        return list(self._sc._jsc.sc().statusTracker().getJobIdsForTag(self.tag))

    def _classic_jobs(self):
        """(job id, tasks done, tasks, failed) of each tagged job, from the status tracker."""
        for job_id in self._job_ids():
            job = self._tracker.getJobInfo(job_id)
            if job is None:
                continue
            stages = [self._tracker.getStageInfo(s) for s in job.stageIds]
            stages = [s for s in stages if s is not None]
            if job.status == "SUCCEEDED":  # skipped stages never run: count what did
                n = sum(s.numCompletedTasks for s in stages)
                d = n
            else:
                n = sum(s.numTasks for s in stages)
                d = sum(s.numCompletedTasks for s in stages)
            yield job_id, d, n, job.status == "FAILED"

    def _connect_jobs(self):
        """(operation id, tasks done, tasks, False) of each tagged operation.

        A Connect operation (one action) may run several Spark jobs. Its last report can predate
        its end, so when the block ends without an exception every started stage of an ended
        operation counts as complete (a stage never started, a skipped one, counts for nothing).
        Tasks done count every task that ended, failed or killed ones too; the reports do not
        say whether an operation failed.
        """
        with self._ops_lock:
            ops = list(self._ops.items())
        for op_id, (stages, ended) in ops:
            if ended and not self._block_failed:  # its last report may predate its end
                n = sum(tasks for tasks, completed, done in stages if done or completed)
                d = n
            else:
                n = sum(tasks for tasks, _, _ in stages)
                d = sum(completed for _, completed, _ in stages)
            yield op_id, d, n, False

    def _on_progress(self, stages, inflight_tasks, operation_id, done) -> None:
        """Spark Connect progress handler: called in the thread that runs the operation, every
        ``spark.connect.progress.reportInterval`` (2 s by default); an operation that ends before
        its first report is not seen."""
        if operation_id is None or self.tag not in self.spark.getTags():
            return
        stages = [(s.num_tasks, s.num_completed_tasks, s.done) for s in stages or []]
        with self._ops_lock:
            if not stages and operation_id in self._ops:  # the end: keep the last report
                stages = self._ops[operation_id][0]
            if stages or done:
                self._ops[operation_id] = (stages, bool(done))

    def snapshot(self) -> Snapshot:
        """Poll the status tracker (on Spark Connect: the progress reports) once."""
        done = total = step_done = step_total = failed = 0
        jobs = self._classic_jobs() if self._sc is not None else self._connect_jobs()
        for job_id, d, n, job_failed in jobs:
            failed += job_failed
            done, total = done + d, total + n
            if job_id not in self._old_jobs:
                step_done, step_total = step_done + d, step_total + n
        snap = Snapshot(done, total, elapsed=time.perf_counter() - self._t0, failed_jobs=failed)
        if self.total is not None:
            share = step_done / step_total if step_total else 0.0
            snap.items_total = self.total
            snap.items_done = min(self._base_items + share * (self._step_items or 0), self.total)
        return snap

    def step(self, items: int) -> None:
        """The jobs from now on go through ``items`` rows (the previous step's are done): for a
        sequence of jobs of known size, such as the chunks of ``run_chunked``. On Spark Connect
        it separates operations."""
        with self._lock:
            if self._stepped:
                self._base_items += self._step_items or 0
            self._stepped = True
            self._step_items = items
            self._old_jobs = set(self._job_ids())

    # -- output -------------------------------------------------------------------------------

    def format(self, snap: Snapshot, state: str | None = None) -> str:
        pct = f" ({100 * snap.tasks_done / snap.tasks_total:.0f}%)" if snap.tasks_total else ""
        parts = [f"{snap.tasks_done}/{snap.tasks_total} tasks{pct}"]
        if snap.items_done is not None:
            parts.append(f"{snap.items_done:,.0f}/{snap.items_total:,} {self.unit}")
            parts.append(f"{snap.rate:,.0f} {self.unit}/s" if snap.rate else f"? {self.unit}/s")
        if state is None:
            parts.append(f"{_clock(snap.elapsed)} elapsed, {_clock(snap.seconds_left)} left")
            return f"{PREFIX} {self.label}: " + " | ".join(parts)
        parts.append(f"{snap.elapsed:.1f} s")
        return f"{PREFIX} {self.label}: {state}, " + " | ".join(parts)

    def _print(self, line: str) -> None:
        self.lines.append(line)
        print(line, file=self.out or sys.stdout, flush=True)

    def _show(self, line: str) -> None:
        if not self.display:
            return
        try:
            from IPython.display import Pretty, display

            if self._handle is None:
                self._handle = display(Pretty(line), display_id=True)
            else:
                self._handle.update(Pretty(line))
        except Exception:  # no front end to show it: plain lines still go out
            self.display = False

    def _run(self) -> None:
        last_print = time.perf_counter()
        while not self._stop.wait(self.interval):
            try:
                with self._lock:
                    snap = self.snapshot()
            except Exception as e:  # the context stopped under us: the final line says so
                self.error = e
                return
            self._last = snap
            line = self.format(snap)
            self._show(line)
            now = time.perf_counter()
            if now - last_print >= self.print_every and snap.tasks_total:
                self._print(line)
                last_print = now

    # -- context manager ----------------------------------------------------------------------

    def __enter__(self) -> SparkProgress:
        from dl_helpers.session._spark import context_or_none

        self._sc = context_or_none(self.spark)
        if self._sc is None:  # Spark Connect
            self._handler = self._on_progress
            self.spark.registerProgressHandler(self._handler)
            self.spark.addTag(self.tag)
        else:
            self._tracker = self._sc.statusTracker()
            self._sc.addJobTag(self.tag)
        self._t0 = time.perf_counter()
        self.thread = threading.Thread(
            target=self._run, name=f"spark-progress-{self.label}", daemon=True
        )
        self.thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._stop.set()
        self.thread.join(timeout=max(5.0, 4 * self.interval))
        self._block_failed = exc_type is not None
        try:
            if self._sc is None:
                self.spark.removeProgressHandler(self._handler)
                self.spark.removeTag(self.tag)
            else:
                self._sc.removeJobTag(self.tag)
            final = self.snapshot()
        except Exception:  # e.g. the SparkContext was stopped inside the block
            final = self._last
            final.elapsed = time.perf_counter() - self._t0
        if exc_type is None and not final.failed_jobs:
            if final.items_total is not None:
                final.items_done = final.items_total  # every job succeeded: all rows are through
            state = "done"
        else:
            state = f"failed ({exc_type.__name__})" if exc_type else "failed"
        line = self.format(final, state)
        self._show(line)
        self._print(line)
        self.summary = {
            "state": "done" if state == "done" else "failed",
            "tasks": final.tasks_done,
            "tasks_total": final.tasks_total,
            "seconds": round(final.elapsed, 3),
            f"{self.unit}": None if final.items_done is None else round(final.items_done),
            f"{self.unit}_per_s": None if final.rate is None else round(final.rate, 1),
        }
        return False  # an exception from the block goes on
