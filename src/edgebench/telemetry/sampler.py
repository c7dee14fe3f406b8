"""Sampling power, frequency and temperature in a background thread around a timed window.

The window is aligned with the harness's: `start()` and `stop()` are called from its
`on_window` hook. An idle baseline is sampled before the cell (nothing runs), so net power is
what the inference added. The sampler's own CPU time is measured and reported.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgebench.telemetry.meters import Meter, MeterError, detect, sysfs_root
from edgebench.telemetry.thermal import ThermalReader


@dataclass
class _Trace:
    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)  # joules (energy meters) or watts
    freqs: list[float] = field(default_factory=list)
    temps: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    error: str | None = None
    reads: int = 0  # sampling rounds, with or without a power meter


@dataclass(frozen=True)
class TelemetrySummary:
    """Power, energy, clocks and temperatures over a timed window; power figures are None
    (with the reason in `power_source`) where there is no meter."""

    power_w: dict[str, float | None] | None = None  # avg, peak, idle, net
    energy_j_per_inf: float | None = None
    inf_per_j: float | None = None
    power_source: str | None = None
    cpu_freq_mhz: dict[str, float] | None = None  # min, avg
    temp_c: dict[str, float] | None = None  # max
    throttled: bool | None = None
    telemetry: dict[str, Any] | None = None  # sampling rate, samples, sampler CPU, series


class Telemetry:
    """Power and thermal state for one cell. Use `idle()`, then `start()`/`stop()`, then
    `summary()`."""

    def __init__(
        self,
        hz: float = 10.0,
        power_cmd: str | None = None,
        idle_s: float = 0.5,
        root: Path | None = None,
    ) -> None:
        self.hz, self.idle_s = hz, idle_s
        root = root or sysfs_root()
        meters, reasons = detect(power_cmd, root)
        self.meter: Meter | None = meters[0] if meters else None
        self.reasons = reasons
        self.thermal = ThermalReader(root)
        self._trace = _Trace()
        self._idle: _Trace | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._throttle_before: int | None = None

    # --- sampling ------------------------------------------------------------------------
    def _read(self, trace: _Trace) -> None:
        trace.reads += 1
        if self.meter is not None and trace.error is None:
            try:
                before = time.perf_counter()
                value = (
                    self.meter.energy_j() if self.meter.kind == "energy" else self.meter.power_w()
                )
                # Stamped at the read's midpoint: a meter that runs a command, or a thread that
                # waited for a core mid-read, would otherwise date the value too early.
                trace.times.append((before + time.perf_counter()) / 2)
                trace.values.append(value)
            except MeterError as exc:
                trace.error = str(exc)
        freqs = self.thermal.freqs_mhz()
        if freqs:
            trace.freqs.append(statistics.fmean(freqs))
        temps = self.thermal.temps_c()
        if temps:
            trace.temps.append(max(temps))

    def _loop(self, trace: _Trace) -> None:
        start_cpu = time.thread_time()
        period = 1.0 / self.hz
        while True:
            self._read(trace)
            if self._stop.wait(period):
                break
        self._read(trace)  # the window's last point
        trace.cpu_s = time.thread_time() - start_cpu

    def _run(self, trace: _Trace) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(trace,), daemon=True)
        self._thread.start()

    def _join(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def idle(self) -> None:
        """Samples the idle host for `idle_s` seconds: the baseline for net power."""
        if self.meter is None or self.idle_s <= 0:
            return
        self._idle = _Trace()
        self._run(self._idle)
        time.sleep(self.idle_s)
        self._join()

    def start(self) -> None:
        self._throttle_before = self.thermal.throttle_count()
        self._trace = _Trace()
        self._run(self._trace)

    def stop(self) -> None:
        self._join()

    def on_window(self, event: str) -> None:
        """The harness's window hook."""
        self.start() if event == "start" else self.stop()

    # --- results -------------------------------------------------------------------------
    def _power(self, trace: _Trace) -> tuple[float | None, float | None, list[float]]:
        """(average W, peak W, per-interval W) of a trace."""
        if len(trace.values) < 2:
            return None, None, []
        if self.meter is not None and self.meter.kind == "energy":
            t, e = trace.times, trace.values
            rates = [
                (e[i + 1] - e[i]) / (t[i + 1] - t[i]) for i in range(len(t) - 1) if t[i + 1] > t[i]
            ]
            span = trace.times[-1] - trace.times[0]
            avg = (trace.values[-1] - trace.values[0]) / span if span > 0 else None
            return avg, max(rates) if rates else None, rates
        # Instant readings: the time-weighted mean over the window (trapezoids).
        area = sum(
            (t1 - t0) * (w0 + w1) / 2
            for t0, t1, w0, w1 in zip(
                trace.times, trace.times[1:], trace.values, trace.values[1:], strict=False
            )
        )
        span = trace.times[-1] - trace.times[0]
        return (area / span if span > 0 else None), max(trace.values), list(trace.values)

    def summary(self, inferences: int, window_s: float) -> TelemetrySummary:
        """The cell's telemetry; power figures are None with the reason when unknown."""
        trace = self._trace
        result: dict[str, Any] = {
            "power_w": None,
            "energy_j_per_inf": None,
            "inf_per_j": None,
            "power_source": None,
            "cpu_freq_mhz": None,
            "temp_c": None,
            "throttled": None,
            "telemetry": {
                "hz": self.hz,
                "samples": trace.reads,
                "power_samples": len(trace.times),
                "sampler_cpu_pct": round(100 * trace.cpu_s / window_s, 3) if window_s > 0 else None,
            },
        }
        if self.meter is None:
            reason = "; ".join(self.reasons) or "no power meter"
            result["power_source"] = f"none ({reason})"
        elif trace.error is not None:
            result["power_source"] = f"none ({self.meter.name} failed: {trace.error})"
        else:
            avg, peak, series = self._power(trace)
            idle = self._power(self._idle)[0] if self._idle is not None else None
            if avg is None:
                result["power_source"] = (
                    f"none ({self.meter.name}: too few samples; raise --power-hz)"
                )
            else:
                energy = avg * window_s
                result["power_source"] = self.meter.name
                result["power_w"] = {
                    "avg": avg,
                    "peak": peak,
                    "idle": idle,
                    "net": avg - idle if idle is not None else None,
                }
                result["energy_j_per_inf"] = energy / inferences if inferences else None
                result["inf_per_j"] = inferences / energy if energy > 0 else None
                result["telemetry"]["power_series_w"] = [round(w, 4) for w in series]
        if trace.freqs:
            result["cpu_freq_mhz"] = {"min": min(trace.freqs), "avg": statistics.fmean(trace.freqs)}
        if trace.temps:
            result["temp_c"] = {"max": max(trace.temps)}
        result["throttled"] = self._throttled(trace)
        if not trace.freqs or not trace.temps:
            result["telemetry"]["missing"] = self.thermal.missing()
        if self.meter is not None:
            self.meter.close()
        return TelemetrySummary(**result)

    def _throttled(self, trace: _Trace) -> bool | None:
        after = self.thermal.throttle_count()
        if (
            after is not None
            and self._throttle_before is not None
            and after > self._throttle_before
        ):
            return True
        top = self.thermal.max_freq_mhz()
        if trace.freqs and top:
            # Running well below the top clock under load means the CPU was held back.
            return min(trace.freqs) < 0.8 * top
        return None if after is None else False
