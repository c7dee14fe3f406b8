"""Paired, interleaved comparison: the one way edgebench tells whether B is faster than A.

A shared host's speed drifts from minute to minute (another tenant, the hypervisor's steal
time, the clock), so two cells timed one after the other differ by the drift as much as by
themselves. Here the two sides run alternately in short blocks, A B B A A B ..., and each pair
of neighbouring blocks gives one ratio B/A: a drift common to both sides cancels in each ratio
(the ABBA order cancels a linear one within a pair too). The figure is the median of the
ratios, with its distribution-free 95% interval (stats.median_ci, on the log ratios); the
verdict is "inconclusive" when that interval is wider than the effect asked about, never a
difference the data cannot show.

Imports nothing but the standard library: the harness, tune, compare and the benchmarks share
it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from edgebench.stats import median_ci

MIN_PAIRS = 6  # ratios; below this the interval is the whole range of the ratios


@dataclass(frozen=True)
class PairedRatio:
    """B's time over A's, per pair of neighbouring blocks, summarised.

    `ratio` < 1: B is faster. `low`..`high`: the 95% interval of the median ratio. `effect`:
    the smallest change that matters (0.02 = 2%). `verdict`: "faster" or "slower" (the whole
    interval lies beyond the effect: B/A under 1/(1 + effect), or over 1 + effect), "same"
    (the whole interval lies within the effect either way), or "inconclusive" (neither: a
    difference over the effect and its absence are both possible, or there are too few
    ratios). An interval that excludes 1 but reaches into the effect's band (0.92-0.996 for
    2%) shows a difference, not one that matters, and is inconclusive."""

    ratio: float
    low: float
    high: float
    pairs: int
    effect: float
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def inverted(self) -> PairedRatio:
        """A's time over B's: the same pairs read the other way round."""
        swap = {"faster": "slower", "slower": "faster"}
        return PairedRatio(1.0 / self.ratio, 1.0 / self.high, 1.0 / self.low, self.pairs,
                           self.effect, swap.get(self.verdict, self.verdict))  # fmt: skip

    def describe(self) -> str:
        span = f"{self.ratio:.3f} (95% {self.low:.3f}-{self.high:.3f}, {self.pairs} pairs)"
        if self.verdict == "inconclusive":
            return (
                f"inconclusive: B/A {span} shows neither a difference over the "
                f"{self.effect:.0%} asked about nor its absence (the host drifted, or the two "
                "are too close)"
            )
        return f"B/A {span}: B is {self.verdict}" + (
            f" (within {self.effect:.0%})" if self.verdict == "same" else ""
        )


def judge(ratios: Sequence[float], effect: float) -> PairedRatio:
    """The median of B/A ratios, its 95% interval, and what they show for `effect`."""
    logs = sorted(math.log(r) for r in ratios if r > 0 and math.isfinite(r))
    if not logs:
        raise ValueError("no finite positive ratios to judge")
    mid = math.exp(statistics.median(logs))
    lo, hi = (math.exp(v) for v in median_ci(logs))
    bound = 1 + effect
    if len(logs) < MIN_PAIRS:
        verdict = "inconclusive"  # too few ratios for an interval narrower than their range
    elif hi < 1 / bound:
        verdict = "faster"  # the whole interval faster by more than the effect
    elif lo > bound:
        verdict = "slower"
    elif lo >= 1 / bound and hi <= bound:
        verdict = "same"  # the whole interval within the effect either way
    else:
        verdict = "inconclusive"  # neither a difference over the effect nor its absence
    return PairedRatio(mid, lo, hi, len(logs), effect, verdict)


def interleave(
    block_a: Callable[[], float], block_b: Callable[[], float], pairs: int
) -> tuple[list[float], list[float]]:
    """Runs A and B alternately, ABBA ABBA ..., `pairs` blocks each; each call returns that
    block's figure (a median time). Returns both sides' figures in pair order."""
    a: list[float] = []
    b: list[float] = []
    for i in range(pairs):
        if i % 2 == 0:
            a.append(block_a())
            b.append(block_b())
        else:
            b.append(block_b())
            a.append(block_a())
    return a, b


def ratios_of(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """B/A for each ABBA quad of blocks (`interleave`'s pairs two by two): the sum of B's two
    blocks over A's, so a drift linear over the quad cancels exactly; an odd last pair counts
    alone."""
    out = []
    for i in range(0, len(a) - 1, 2):
        den = a[i] + a[i + 1]
        if den > 0:
            out.append((b[i] + b[i + 1]) / den)
    if len(a) % 2 and a[-1] > 0:
        out.append(b[-1] / a[-1])
    return out


def blocks_of(samples: Sequence[float], size: int) -> list[float]:
    """The median of each run of `size` consecutive samples (a cell's timed window cut into
    blocks); the last, partial block is dropped."""
    return [
        statistics.median(samples[i : i + size]) for i in range(0, len(samples) - size + 1, size)
    ]


def window_drift(samples: Sequence[float]) -> float | None:
    """How a timed window's speed moved: the median of its last fifth over its first fifth,
    minus 1 (0.10: the last runs took 10% longer); None with fewer than 10 samples."""
    n = len(samples)
    if n < 10:
        return None
    fifth = n // 5
    first, last = statistics.median(samples[:fifth]), statistics.median(samples[-fifth:])
    return last / first - 1 if first > 0 else None


@dataclass(frozen=True)
class HostSteadiness:
    """How much a host's speed moved over a comparison, from the same reference work timed
    again and again through it (harness/noise.py's `reference_ms`, before and after each block).

    `neighbour_low`..`neighbour_high`: the 10th to 90th percentile of each reading over the one
    before it (1.00-1.00 on a host whose speed never moved, and the reference's own jitter
    widens it). Neighbouring blocks see the host move by about this much between them, which
    the ABBA quads cancel only where the move is slow; so where it is wider than the effect
    asked about, a wide interval is the host's doing. `spread`: the 90th percentile of the
    readings over the 10th, the whole run's range less its odd outliers (1.7 on a VM that
    switched between two speeds)."""

    readings: int
    median_ms: float
    neighbour_low: float
    neighbour_high: float
    spread: float

    def moved_more_than(self, effect: float) -> bool:
        """Whether over a tenth of the readings fell below the one before by more than `effect`,
        or over a tenth rose above it by more (p10 or p90 of the steps outside the band)."""
        return self.neighbour_low < 1 / (1 + effect) or self.neighbour_high > 1 + effect

    def describe(self) -> str:
        return (
            f"the reference work took {self.median_ms:.2f} ms (median of {self.readings}); "
            f"each reading over the one before, p10-p90 {self.neighbour_low:.3f}-"
            f"{self.neighbour_high:.3f}; the readings' p90 over p10 {self.spread:.2f}"
        )


def host_steadiness(readings_ms: Sequence[float]) -> HostSteadiness | None:
    """Summarises the reference work's times, in the order they were read; None with fewer than
    three positive readings (two neighbour ratios at least)."""
    values = [v for v in readings_ms if v > 0 and math.isfinite(v)]
    if len(values) < 3:
        return None
    steps = [b / a for a, b in zip(values, values[1:], strict=False)]
    step_deciles = statistics.quantiles(steps, n=10, method="inclusive")
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    return HostSteadiness(len(values), statistics.median(values), step_deciles[0],
                          step_deciles[-1], deciles[-1] / deciles[0])  # fmt: skip


__all__ = [
    "HostSteadiness",
    "PairedRatio",
    "blocks_of",
    "host_steadiness",
    "interleave",
    "judge",
    "ratios_of",
    "window_drift",
]
