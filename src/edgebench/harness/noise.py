"""How much CPU other processes took while a cell was timed, from /proc/stat, and how fast
the host was around it.

On a shared machine another process on the same cores can inflate latencies several times;
recording it with each cell lets a reader discount noisy rows instead of trusting them. Not
every slowdown shows there: the hypervisor's steal time does (its own column of /proc/stat),
and a change of clock or a neighbour on another VM shows only as the same work taking longer.
So each cell also times a reference workload, the same pure-Python arithmetic every time,
before and after its window (`reference_ms`): two cells whose references differ ran on a host
of different speed, whatever else they say.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CpuSnapshot:
    busy_ticks: int
    total_ticks: int
    own_s: float
    steal_ticks: int = 0


def _proc_stat_ticks(stat_file: Path) -> tuple[int, int, int]:
    fields = stat_file.read_text().splitlines()[0].split()
    assert fields[0] == "cpu"
    values = [int(v) for v in fields[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice; guest time is already
    # inside user, so only the first eight add up to the total.
    total = sum(values[:8])
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    steal = values[7] if len(values) > 7 else 0
    return total - idle, total, steal


def snapshot(stat_file: Path = Path("/proc/stat")) -> CpuSnapshot | None:
    try:
        busy, total, steal = _proc_stat_ticks(stat_file)
    except (OSError, IndexError, ValueError, AssertionError):
        return None
    t = os.times()
    return CpuSnapshot(busy, total, t.user + t.system, steal)


def steal_pct(before: CpuSnapshot | None, after: CpuSnapshot | None) -> float | None:
    """Percent of all cores' time the hypervisor gave to other guests between two snapshots
    (it counts in neither this process's time nor other processes')."""
    if before is None or after is None or after.total_ticks <= before.total_ticks:
        return None
    steal = after.steal_ticks - before.steal_ticks
    return round(100.0 * max(0, steal) / (after.total_ticks - before.total_ticks), 2)


# The reference workload: integer arithmetic in the interpreter, no allocation, no library,
# so its time follows the core's clock and share alone (about 5 ms on a 2026 x86 core;
# three repeats before and after a cell cost it about 0.03 s).
REFERENCE_LOOPS = 100_000
REFERENCE_REPEATS = 3


def reference_ms(loops: int = REFERENCE_LOOPS, repeats: int = REFERENCE_REPEATS) -> float:
    """The median time of the reference workload, in ms: the same work every call, so the
    figure is the host's speed at that moment (lower is faster)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        acc = 0
        for i in range(loops):
            acc = (acc + i * i) & 0xFFFF
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def others_cpu_pct(before: CpuSnapshot | None, after: CpuSnapshot | None) -> float | None:
    """Percent of all cores' time used by other processes between two snapshots."""
    if before is None or after is None or after.total_ticks <= before.total_ticks:
        return None
    hz = os.sysconf("SC_CLK_TCK")
    busy_s = (after.busy_ticks - before.busy_ticks) / hz
    total_s = (after.total_ticks - before.total_ticks) / hz
    others = max(0.0, busy_s - (after.own_s - before.own_s))
    return round(100.0 * min(others, total_s) / total_s, 2)
