"""``compile_model(backend="auto")`` off TensorRT: build every usable backend, time them on the
example batch in interleaved rounds within a budget, and keep the fastest that matches eager.

Usage (what :func:`~dl_helpers.models.compile_model` does)::

    choice = choose_backend(build, inputs, "cpu", budget_s=30, min_speedup=1.05, threads=1)
    choice.backend, choice.report
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from dl_helpers.models._backends import (
    EAGER,
    ONNXRUNTIME,
    TORCH_COMPILE,
    Built,
    backend_status,
    first_line,
)

# How long measuring may take, and torch.compile's place in it: Inductor compiles for tens of
# seconds to minutes per process (and again in every Spark Python worker), so it is measured only
# when the budget leaves at least this much for it.
AUTO_BUDGET_S = 30.0
TORCH_COMPILE_MIN_BUDGET_S = 120.0
# How much faster than eager a backend must be to be chosen, so timing noise picks nothing.
AUTO_MIN_SPEEDUP = 1.05
_AUTO_MAX_ROUNDS = 7
_MEASURED = (EAGER, ONNXRUNTIME, TORCH_COMPILE)


@dataclass
class AutoChoice:
    """The backend chosen, as built, what was measured and why it won."""

    backend: str
    built: Built
    report: str
    timings: dict[str, list[float]]  # seconds per example batch, per backend


def choose_backend(
    build: Callable[[str], Built],
    inputs: tuple,
    device: str,
    *,
    budget_s: float,
    min_speedup: float,
    threads: int | None,
) -> AutoChoice:
    """Build (``build(name)`` raises for a backend that fails or differs from eager) and time
    eager, ONNX Runtime and, given the budget, torch.compile; keep the fastest that beats eager
    by ``min_speedup``. ``threads`` sets torch's thread count while measuring."""
    import torch

    t_start = time.perf_counter()
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        built, notes = _build_candidates(build, device, budget_s)
        left = budget_s - (time.perf_counter() - t_start)
        times = _time_interleaved({k: b.fn for k, b in built.items()}, inputs, left)
        n_threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(old_threads)

    per_batch = {k: statistics.median(v) for k, v in times.items()}
    best, why = _pick(per_batch, min_speedup)
    head = (
        f"compile_model(backend='auto') on {device}, example batch {inputs[0].shape[0]}, "
        f"{n_threads} thread(s), {sum(len(v) for v in times.values())} timed calls in "
        f"{time.perf_counter() - t_start:.1f} s:"
    )
    lines = [head, *_report_lines(built, notes, times, inputs[0].shape[0]), f"chose {best}: {why}"]
    return AutoChoice(best, built[best], "\n".join(lines), {k: list(v) for k, v in times.items()})


def _build_candidates(build, device, budget_s) -> tuple[dict[str, Built], dict[str, str]]:
    """The backends built within the budget, and for each one left out, why."""
    t_start = time.perf_counter()
    built: dict[str, Built] = {}
    notes: dict[str, str] = {}
    for name in _MEASURED:
        status = backend_status(name, device)
        left = budget_s - (time.perf_counter() - t_start)
        if not status.ok:
            notes[name] = f"not measured: {status.reason}"
        elif name == TORCH_COMPILE and left < TORCH_COMPILE_MIN_BUDGET_S:
            notes[name] = (
                f"not measured: compiling takes tens of seconds or more per process; "
                f"{left:.0f} s of the {budget_s:.0f} s budget left, "
                f"{TORCH_COMPILE_MIN_BUDGET_S:.0f} s needed (budget_s=...)"
            )
        elif name != EAGER and left <= 0:
            notes[name] = f"not measured: the {budget_s:.0f} s budget is spent"
        else:
            try:
                built[name] = build(name)
            except Exception as e:  # noqa: BLE001 - a backend that fails is not chosen
                if name == EAGER:
                    raise
                notes[name] = f"not used: {first_line(e)}"
    return built, notes


def _time_interleaved(fns: dict, inputs: tuple, budget_s: float) -> dict[str, list[float]]:
    """Seconds per call of each function on ``inputs``, in rounds (A B C, C B A, ...) so a load
    change on the machine hits every backend alike, as many as fit in ``budget_s`` (at least
    one, at most ``_AUTO_MAX_ROUNDS``)."""
    import torch

    names = list(fns)
    times: dict[str, list[float]] = {k: [] for k in names}
    t_start = time.perf_counter()
    with torch.inference_mode():
        for r in range(_AUTO_MAX_ROUNDS):
            for name in names if r % 2 == 0 else names[::-1]:
                t0 = time.perf_counter()
                fns[name](*inputs)
                times[name].append(time.perf_counter() - t0)
            spent = time.perf_counter() - t_start
            if spent + spent / (r + 1) > budget_s:  # the next round would not fit
                break
    return times


def _pick(per_batch: dict[str, float], min_speedup: float) -> tuple[str, str]:
    """The backend to keep and why, from median seconds per batch."""
    best = min(per_batch, key=per_batch.get)
    speedup = per_batch[EAGER] / per_batch[best]
    if best == EAGER:
        return EAGER, "nothing ran faster than eager"
    if speedup < min_speedup:
        return EAGER, (
            f"{best} was {speedup:.2f}x eager, under the {min_speedup:.2f}x needed to leave eager"
        )
    return best, f"fastest, {speedup:.2f}x eager, output within tolerance of eager's"


def _report_lines(built: dict, notes: dict, times: dict, n: int) -> list[str]:
    """One line per backend: its speed against eager, or why it was not measured."""
    eager_t = statistics.median(times[EAGER])
    lines = []
    for name in _MEASURED:
        if name not in times:
            lines.append(f"  {name:14s} {notes[name]}")
            continue
        t = statistics.median(times[name])
        lines.append(
            f"  {name:14s} {t * 1e3:10.2f} ms/batch  {n / t:10.1f} rows/s  "
            f"{eager_t / t:5.2f}x eager  max |diff| {built[name].max_abs_diff:.1e}  "
            f"built in {built[name].seconds:.1f} s  ({len(times[name])} runs)"
        )
    return lines
