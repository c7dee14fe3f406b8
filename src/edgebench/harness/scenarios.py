"""How a loaded runtime is driven during the timed window: the scenarios, as peers.

- `loop`: the harness's own loop (harness/timing.py): cold call, warm-up, then timed runs until
  the stop rule is met; a runtime that keeps several requests in flight (OpenVINO's THROUGHPUT
  hint) is timed by its asynchronous runs, and one whose buffers can be filled apart from the
  inference (LiteRT, ONNX Runtime, OpenVINO) has the inference and its copies timed apart;
- `sustained`: the same loop held for one long window, reporting how latency and power drifted
  from its first tenth to its last;
- `loadgen`: an MLPerf LoadGen scenario owns the query schedule (harness/loadgen_driver.py).

Each returns the timed window and what it adds to the cell's record (LoadGen's own figures, the
drift). The measure step (harness/measure.py) only picks one by name.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edgebench.compilers.base import Runtime
from edgebench.harness.jobs import ScenarioSpec
from edgebench.harness.timing import TimedWindow, time_async_runs, time_runs, time_split_runs
from edgebench.models import ModelSpec
from edgebench.telemetry.sampler import TelemetrySummary


@dataclass(frozen=True)
class Timed:
    """A scenario's timed window, and the record fields it adds."""

    window: TimedWindow
    loadgen: dict[str, Any] | None = None


class Scenario(Protocol):
    def run(
        self,
        runtime: Runtime,
        model: ModelSpec,
        inputs: list[np.ndarray],
        batch: int,
        seed: int,
        on_window: Callable[[str], None],
    ) -> Timed: ...

    def drift(self, timed: Timed, telemetry: TelemetrySummary | None) -> dict[str, Any] | None: ...


class HarnessLoop:
    """The harness's own loop under the stop rule."""

    def __init__(self, spec: ScenarioSpec) -> None:
        self.rule = spec.stop_rule

    def run(
        self,
        runtime: Runtime,
        model: ModelSpec,
        inputs: list[np.ndarray],
        batch: int,
        seed: int,
        on_window: Callable[[str], None],
    ) -> Timed:
        if runtime.in_flight > 0:
            return Timed(time_async_runs(runtime, inputs, self.rule, on_window))
        if runtime.splits_io:  # the inference alone, the copies apart (as vendor tools time)
            return Timed(time_split_runs(runtime, inputs, self.rule, on_window))
        return Timed(time_runs(runtime.predict, inputs, self.rule, on_window))

    def drift(self, timed: Timed, telemetry: TelemetrySummary | None) -> dict[str, Any] | None:
        return None


class Sustained(HarnessLoop):
    """One long window (the stop rule's minimum duration is the sustain time), with drift."""

    def drift(self, timed: Timed, telemetry: TelemetrySummary | None) -> dict[str, Any] | None:
        series = ((telemetry.telemetry if telemetry else None) or {}).get("power_series_w")
        return drift(timed.window.samples_ms, series)


class LoadGenScenario:
    """An MLPerf LoadGen scenario drives the runtime; its own figures join the record."""

    def __init__(self, spec: ScenarioSpec) -> None:
        assert spec.loadgen is not None, "a loadgen scenario names its LoadGen settings"
        self.spec = spec

    def run(
        self,
        runtime: Runtime,
        model: ModelSpec,
        inputs: list[np.ndarray],
        batch: int,
        seed: int,
        on_window: Callable[[str], None],
    ) -> Timed:
        from edgebench.harness.loadgen_driver import run_loadgen

        window, summary = run_loadgen(runtime.predict, model, self.spec, batch, seed, on_window)
        return Timed(window, summary)

    def drift(self, timed: Timed, telemetry: TelemetrySummary | None) -> dict[str, Any] | None:
        return None


SCENARIOS: dict[str, Callable[[ScenarioSpec], Scenario]] = {
    "loop": HarnessLoop,
    "sustained": Sustained,
    "loadgen": LoadGenScenario,
}


def scenario_for(spec: ScenarioSpec) -> Scenario:
    return SCENARIOS[spec.kind](spec)


def drift(samples_ms: list[float], power_w: list[float] | None) -> dict[str, Any]:
    """How a long window changed: the median latency and mean power of its first tenth
    against its last tenth, and the change in percent."""

    def tenths(values: list[float], reduce: Any) -> tuple[float, float] | None:
        if len(values) < 10:
            return None
        k = len(values) // 10
        return reduce(values[:k]), reduce(values[-k:])

    result: dict[str, Any] = {}
    for name, values, reduce in (
        ("latency_p50_ms", samples_ms, statistics.median),
        ("power_w", power_w or [], statistics.fmean),
    ):
        pair = tenths(values, reduce)
        if pair is not None:
            first, last = pair
            result[name] = {
                "first": first,
                "last": last,
                "change_pct": 100 * (last - first) / first if first else None,
            }
    return result


__all__ = ["HarnessLoop", "LoadGenScenario", "Scenario", "Sustained", "Timed", "scenario_for"]
