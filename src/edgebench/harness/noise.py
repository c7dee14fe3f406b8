"""How much CPU other processes took while a cell was timed, from /proc/stat.

On a shared machine another process on the same cores can inflate latencies several times;
recording it with each cell lets a reader discount noisy rows instead of trusting them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CpuSnapshot:
    busy_ticks: int
    total_ticks: int
    own_s: float


def _proc_stat_ticks(stat_file: Path) -> tuple[int, int]:
    fields = stat_file.read_text().splitlines()[0].split()
    assert fields[0] == "cpu"
    values = [int(v) for v in fields[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice; guest time is already
    # inside user, so only the first eight add up to the total.
    total = sum(values[:8])
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return total - idle, total


def snapshot(stat_file: Path = Path("/proc/stat")) -> CpuSnapshot | None:
    try:
        busy, total = _proc_stat_ticks(stat_file)
    except (OSError, IndexError, ValueError, AssertionError):
        return None
    t = os.times()
    return CpuSnapshot(busy, total, t.user + t.system)


def others_cpu_pct(before: CpuSnapshot | None, after: CpuSnapshot | None) -> float | None:
    """Percent of all cores' time used by other processes between two snapshots."""
    if before is None or after is None or after.total_ticks <= before.total_ticks:
        return None
    hz = os.sysconf("SC_CLK_TCK")
    busy_s = (after.busy_ticks - before.busy_ticks) / hz
    total_s = (after.total_ticks - before.total_ticks) / hz
    others = max(0.0, busy_s - (after.own_s - before.own_s))
    return round(100.0 * min(others, total_s) / total_s, 2)
