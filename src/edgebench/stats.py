"""Dependency-free latency statistics.

Percentiles interpolate linearly between order statistics (NumPy's default method). The 95%
confidence interval of the median is distribution-free: the order statistics whose ranks bound
the Binomial(n, 1/2) count below the median, so it holds for the skewed, heavy-tailed latency
distributions a shared machine produces.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class LatencyStats:
    mean: float
    std: float
    min: float
    max: float
    p50: float
    p90: float
    p95: float
    p99: float
    ci95_low: float
    ci95_high: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of already-sorted values, linearly interpolated."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} outside 0-100")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def median_ci(sorted_values: Sequence[float], z: float = 1.959964) -> tuple[float, float]:
    """A distribution-free confidence interval (95% by default) of the median.

    Uses the normal approximation to the binomial ranks, n/2 -/+ z*sqrt(n)/2, rounded outwards;
    with fewer than 6 values the interval is the whole range.
    """
    n = len(sorted_values)
    if n == 0:
        raise ValueError("confidence interval of no values")
    if n < 6:
        return sorted_values[0], sorted_values[-1]
    half_width = z * math.sqrt(n) / 2.0
    lo_rank = max(int(math.floor(n / 2.0 - half_width)), 1)  # 1-based ranks
    hi_rank = min(int(math.ceil(n / 2.0 + half_width)) + 1, n)
    return sorted_values[lo_rank - 1], sorted_values[hi_rank - 1]


def summarize(samples: Sequence[float]) -> LatencyStats:
    """Summary statistics of latency samples (any unit; results keep milliseconds)."""
    if not samples:
        raise ValueError("no samples to summarize")
    s = sorted(samples)
    lo, hi = median_ci(s)
    return LatencyStats(
        mean=statistics.fmean(s),
        std=statistics.stdev(s) if len(s) > 1 else 0.0,
        min=s[0],
        max=s[-1],
        p50=percentile(s, 50),
        p90=percentile(s, 90),
        p95=percentile(s, 95),
        p99=percentile(s, 99),
        ci95_low=lo,
        ci95_high=hi,
    )


def iqr_outliers(samples: Sequence[float]) -> int:
    """How many samples lie beyond 1.5 IQR from the quartiles (Tukey's fences)."""
    if len(samples) < 4:
        return 0
    s = sorted(samples)
    q1, q3 = percentile(s, 25), percentile(s, 75)
    fence = 1.5 * (q3 - q1)
    return sum(1 for v in s if v < q1 - fence or v > q3 + fence)
