"""The timed loop: warm-up, then runs until both a minimum count and a minimum duration.

The runtime only predicts; every clock read is here, around whole `predict` calls whose outputs
are already host arrays, so no figure measures only a launch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class StopRule:
    """When a cell has been measured enough: at least `min_runs` AND `min_duration_s`.

    `max_runs` caps very fast cells so their sample lists stay a sensible size.
    """

    warmup_runs: int = 5
    min_runs: int = 20
    min_duration_s: float = 2.0
    max_runs: int = 100_000

    def __post_init__(self) -> None:
        if self.warmup_runs < 0 or self.min_runs < 1 or self.min_duration_s < 0:
            raise ValueError("warm-up runs >= 0, minimum runs >= 1 and minimum duration >= 0")


@dataclass
class TimedWindow:
    first_inference_ms: float
    samples_ms: list[float] = field(default_factory=list)
    window_s: float = 0.0
    # The copies in and out of each timed run, where the runtime times them apart
    # (`time_split_runs`); empty where `samples_ms` are whole predict calls.
    io_samples_ms: list[float] = field(default_factory=list)


def time_runs(
    predict: Callable[[list[np.ndarray]], Any],
    inputs: list[np.ndarray],
    rule: StopRule,
    on_window: Callable[[str], None] | None = None,
) -> TimedWindow:
    """Measures `predict(inputs)`: first (cold) call, warm-up, then the timed window.

    `on_window("start")` and `on_window("stop")` bracket the timed window, for noise and
    power sampling.
    """
    clock = time.perf_counter_ns
    t = clock()
    predict(inputs)
    result = TimedWindow(first_inference_ms=(clock() - t) / 1e6)
    for _ in range(rule.warmup_runs):
        predict(inputs)
    if on_window:
        on_window("start")
    samples = result.samples_ms
    min_ns = rule.min_duration_s * 1e9
    start = clock()
    while True:
        t0 = clock()
        predict(inputs)
        t1 = clock()
        samples.append((t1 - t0) / 1e6)
        n = len(samples)
        if (n >= rule.min_runs and t1 - start >= min_ns) or n >= rule.max_runs:
            break
    result.window_s = (clock() - start) / 1e9
    if on_window:
        on_window("stop")
    return result


class SplitRuntime(Protocol):
    """What `time_split_runs` needs of a runtime (compilers.base.Runtime has these hooks)."""

    def predict(self, inputs: list[np.ndarray]) -> Any: ...

    def stage(self, inputs: list[np.ndarray]) -> None: ...

    def infer(self) -> None: ...

    def fetch(self) -> Any: ...


def time_split_runs(
    runtime: SplitRuntime,
    inputs: list[np.ndarray],
    rule: StopRule,
    on_window: Callable[[str], None] | None = None,
) -> TimedWindow:
    """Like `time_runs`, for a runtime whose buffers are filled and read apart from the
    inference: each timed run copies the batch in, infers, and copies the outputs out, and
    the inference alone is the sample (what vendor tools time), the copies an `io` sample.
    The cold call and the warm-up are whole predict calls; the window holds everything."""
    clock = time.perf_counter_ns
    t = clock()
    runtime.predict(inputs)
    result = TimedWindow(first_inference_ms=(clock() - t) / 1e6)
    for _ in range(rule.warmup_runs):
        runtime.predict(inputs)
    if on_window:
        on_window("start")
    samples, io = result.samples_ms, result.io_samples_ms
    min_ns = rule.min_duration_s * 1e9
    start = clock()
    while True:
        t0 = clock()
        runtime.stage(inputs)
        t1 = clock()
        runtime.infer()
        t2 = clock()
        runtime.fetch()
        t3 = clock()
        samples.append((t2 - t1) / 1e6)
        io.append((t1 - t0 + t3 - t2) / 1e6)
        n = len(samples)
        if (n >= rule.min_runs and t3 - start >= min_ns) or n >= rule.max_runs:
            break
    result.window_s = (clock() - start) / 1e9
    if on_window:
        on_window("stop")
    return result


class AsyncRuntime(Protocol):
    """What `time_async_runs` needs of a runtime (compilers.base.Runtime has these hooks)."""

    in_flight: int

    def predict(self, inputs: list[np.ndarray]) -> Any: ...

    def wait_idle(self) -> None: ...

    def submit(self, inputs: list[np.ndarray], done: Callable[[], None]) -> None: ...

    def wait_all(self) -> None: ...


def time_async_runs(
    runtime: AsyncRuntime,
    inputs: list[np.ndarray],
    rule: StopRule,
    on_window: Callable[[str], None] | None = None,
) -> TimedWindow:
    """Measures a runtime that keeps `runtime.in_flight` requests busy at once.

    Each sample is one request's latency, from its start on a free request to its outputs being
    ready, read by this clock in the completion callback. The stop rule counts submitted runs;
    the window closes once all of them are done, so throughput (runs x batch / window) counts
    only finished work.
    """
    clock = time.perf_counter_ns
    t = clock()
    runtime.predict(inputs)
    result = TimedWindow(first_inference_ms=(clock() - t) / 1e6)
    for _ in range(max(rule.warmup_runs, runtime.in_flight)):  # every request runs once
        runtime.wait_idle()
        runtime.submit(inputs, lambda: None)
    runtime.wait_all()
    samples = result.samples_ms

    def finished(t0: int) -> Callable[[], None]:
        return lambda: samples.append((clock() - t0) / 1e6)  # list.append holds the GIL

    if on_window:
        on_window("start")
    min_ns = rule.min_duration_s * 1e9
    submitted = 0
    start = clock()
    while True:
        runtime.wait_idle()
        t0 = clock()
        runtime.submit(inputs, finished(t0))
        submitted += 1
        if submitted >= rule.max_runs or (submitted >= rule.min_runs and t0 - start >= min_ns):
            break
    runtime.wait_all()
    result.window_s = (clock() - start) / 1e9
    if on_window:
        on_window("stop")
    return result
