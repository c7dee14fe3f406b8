"""A cell timed while the host was busy is measured again once the host is quieter.

The foreign-CPU share (noise.py) says when other processes took the cores while a cell was
timed, and the window's drift says when the host's speed moved under it; either way the
figure is the load's as much as the cell's. Such a cell is measured again, up to
`--busy-retries` times, but only after the host has been seen quiet for a second (other
processes under NOISY_PCT of the CPU): measuring again at once on a host that is still busy
would only time the load twice. The window kept is the quietest one; every window is in the
record (`busy_windows`), so nothing measured is lost.

A host that is busy for good would make every cell wait: after GIVE_UP_AFTER waits in a row
that found no quiet second, the run stops waiting and its busy cells keep their marks.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from edgebench.harness.jobs import MeasureResult
from edgebench.harness.noise import others_cpu_pct, snapshot
from edgebench.paired import window_drift
from edgebench.results import DRIFT_PCT, NOISY_PCT

GIVE_UP_AFTER = 3  # waits in a row that found no quiet second
PROBE_S = 1.0  # how long the host is watched for each look
MIN_TIMED_MS = 0.05  # below this a window's drift is the clock's noise (record.py)


def drift_pct(measured: MeasureResult) -> float | None:
    """The window's drift in %, where its runs are long enough to show one."""
    samples = measured.samples_ms
    if not samples or sorted(samples)[len(samples) // 2] < MIN_TIMED_MS:
        return None
    drift = window_drift(samples)
    return None if drift is None else round(100 * drift, 1)


def why_busy(measured: MeasureResult) -> str | None:
    """Why a window's figure is the host's as much as the cell's, or None."""
    others = measured.noise_cpu_pct
    if others is not None and others > NOISY_PCT:
        return f"other processes used {others:.0f}% of the CPU"
    drift = drift_pct(measured)
    if drift is not None and abs(drift) > DRIFT_PCT:
        return f"the host's speed moved {drift:+.0f}% within the window"
    return None


def window_summary(measured: MeasureResult, kept: bool) -> dict[str, Any]:
    """One timed window as the record keeps it."""
    samples = sorted(measured.samples_ms)
    return {
        "p50_ms": round(samples[len(samples) // 2], 4) if samples else None,
        "runs": len(samples),
        "noise_cpu_pct": measured.noise_cpu_pct,
        "window_drift_pct": drift_pct(measured),
        "reference_ms": (measured.host_speed or {}).get("reference_ms"),
        "kept": kept,
    }


def quieter(a: MeasureResult, b: MeasureResult) -> MeasureResult:
    """The window to keep: the one whose host was quieter (never the faster as such: that
    would pick the luckiest figure); on a tie, the later one."""

    return a if _load(a) < _load(b) else b


def _load(m: MeasureResult) -> tuple[bool, float]:
    """How busy a window's host was: busy or not, then the foreign CPU share."""
    return why_busy(m) is not None, m.noise_cpu_pct if m.noise_cpu_pct is not None else 0.0


def others_now(seconds: float = PROBE_S) -> float | None:
    """The share of the CPU other processes used over the next `seconds` (None without
    /proc/stat)."""
    before = snapshot()
    time.sleep(seconds)
    return others_cpu_pct(before, snapshot())


class QuietWaiter:
    """Waits, for at most `wait_s`, until the host has been quiet for a second; shared by
    every cell of a run so that a host busy for good stops costing waits."""

    def __init__(
        self,
        wait_s: float,
        on_progress: Callable[[str], None] = lambda s: None,
        probe: Callable[[], float | None] = others_now,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.wait_s, self.on_progress, self.probe, self.clock = wait_s, on_progress, probe, clock
        self.failed_in_a_row = 0
        self.waited_s = 0.0  # over the whole run

    @property
    def given_up(self) -> bool:
        return self.failed_in_a_row >= GIVE_UP_AFTER

    def wait(self) -> float | None:
        """The foreign-CPU share of the first quiet second, or None when none came within
        `wait_s` (or the run has given up waiting)."""
        if self.given_up:
            return None
        start = self.clock()
        while True:
            others = self.probe()
            quiet = others is not None and others <= NOISY_PCT
            if quiet or others is None or self.clock() - start >= self.wait_s:
                self.waited_s += self.clock() - start
                self.failed_in_a_row = 0 if quiet else self.failed_in_a_row + 1
                return others if quiet else None


def measure_until_quiet(
    measure: Callable[[], MeasureResult],
    retries: int,
    waiter: QuietWaiter,
    label: str,
) -> tuple[MeasureResult, list[dict[str, Any]], list[str]]:
    """Measures once, and again (up to `retries` times) while the window was busy and the
    host has become quieter. Returns the window kept, every window when there was more than
    one (else []), and what happened, for the cell's warnings."""
    measured = measure()
    windows: list[MeasureResult] = [measured]
    notes: list[str] = []
    try:
        measured = _again_while_busy(measure, retries, waiter, label, windows, notes)
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM: the windows timed so far are kept
        kept = functools.reduce(quieter, windows)
        notes.append("stopped while waiting to time it again: the quietest window so far kept")
        exc.kept_window = (kept, _summaries(windows, kept), notes)  # type: ignore[attr-defined]
        raise
    return measured, _summaries(windows, measured), notes + _kept_note(windows, measured)


def _summaries(windows: list[MeasureResult], kept: MeasureResult) -> list[dict[str, Any]]:
    if len(windows) == 1:
        return []
    return [window_summary(w, w is kept) for w in windows]


def _kept_note(windows: list[MeasureResult], kept: MeasureResult) -> list[str]:
    if len(windows) == 1:
        return []
    index = next(i for i, w in enumerate(windows) if w is kept)
    return [
        f"measured {len(windows)} times: window {index + 1} kept, the quietest "
        f"(busy_windows has each one)"
    ]


def _again_while_busy(
    measure: Callable[[], MeasureResult],
    retries: int,
    waiter: QuietWaiter,
    label: str,
    windows: list[MeasureResult],
    notes: list[str],
) -> MeasureResult:
    measured = windows[0]
    for _ in range(retries):
        why = why_busy(measured)
        if why is None:
            break
        if waiter.given_up:
            notes.append(
                f"busy: {why}; not measured again (the host stayed busy through "
                f"{GIVE_UP_AFTER} waits of {waiter.wait_s:g} s in a row)"
            )
            break
        waiter.on_progress(f"{label}: {why}; waiting up to {waiter.wait_s:g} s for a quieter host")
        others = waiter.wait()
        if others is None:
            notes.append(
                f"busy: {why}; not measured again (no quiet second in {waiter.wait_s:g} s)"
            )
            break
        waiter.on_progress(f"measuring {label} again (other processes now {others:.0f}%)")
        again = measure()
        windows.append(again)
        measured = quieter(measured, again)
    return measured


__all__ = ["QuietWaiter", "measure_until_quiet", "quieter", "why_busy", "window_summary"]
