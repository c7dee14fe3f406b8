"""Per-op time from a compiler's own profiler, as shares of the measured latency.

The profilers (LiteRT's, ONNX Runtime's JSON, OpenVINO's performance counters, TVM's, the torch
profiler) each give time per op or kernel. `time_shares` maps them onto the common taxonomy
and divides by the wall time of the same profiled runs, as the harness measured it: the
categories and the unattributed part (framework overhead, copies, what the profiler does not
see) add up to the measured latency.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edgebench.explain.taxonomy import CATEGORIES, category, category_of_kernel

UNATTRIBUTED = "unattributed"


class ProfileUnavailable(Exception):
    """The compiler's profiler cannot run here; the message says why."""


@dataclass(frozen=True)
class OpTime:
    """Time of one op (or fused kernel) per run, in ms."""

    name: str
    op: str
    ms: float
    engine: str = ""
    kernel: bool = False  # a fused kernel named after its ops (TVM, inductor)
    depthwise: bool = False

    @property
    def category(self) -> str:
        return category_of_kernel(self.op) if self.kernel else category(self.op, self.depthwise)


def time_shares(
    ops: Sequence[OpTime], measured_ms: float, source: str, runs: int, top: int = 10
) -> dict[str, Any]:
    """Category times and shares of the measured latency, the unattributed part, and the
    slowest ops.

    Args:
        ops: time per run of each op (an op listed twice has its times added).
        measured_ms: wall time per run of the profiled runs, as the harness measured it.
        source: the profiler's name, stored with the figures.
        runs: how many profiled runs the times are averaged over.
        top: how many of the slowest ops to list.
    """
    by_cat: dict[str, float] = defaultdict(float)
    by_op: dict[tuple[str, str], float] = defaultdict(float)
    cat_of: dict[tuple[str, str], str] = {}
    for op in ops:
        by_cat[op.category] += op.ms
        by_op[op.name, op.op] += op.ms
        cat_of[op.name, op.op] = op.category
    op_total = sum(by_cat.values())
    unattributed = measured_ms - op_total
    note = ""
    base = measured_ms
    if unattributed < 0:
        # Ops that overlap in time (parallel streams, inter-op threads) add up to more than
        # the wall time: shares are then of the summed op time, and nothing is unattributed.
        note = "op times overlap (parallel execution): shares are of the summed op time"
        base, unattributed = op_total, 0.0
    cats = [
        {"category": c, "ms": by_cat[c], "share": by_cat[c] / base if base else 0.0}
        for c in sorted(by_cat, key=lambda c: (-by_cat[c], CATEGORIES.index(c)))
    ]
    cats.append(
        {
            "category": UNATTRIBUTED,
            "ms": unattributed,
            "share": unattributed / base if base else 0.0,
        }
    )
    slowest = sorted(by_op.items(), key=lambda kv: -kv[1])[:top]
    return {
        "source": source,
        "runs": runs,
        "measured_ms": measured_ms,
        "op_total_ms": op_total,
        "unattributed_ms": unattributed,
        "categories": cats,
        "top_ops": [
            {
                "name": name,
                "op": op,
                "category": cat_of[name, op],
                "ms": ms,
                "share": ms / base if base else 0.0,
            }
            for (name, op), ms in slowest
        ],
        **({"note": note} if note else {}),
    }


def shares_of_runs(ops: Sequence[OpTime], wall_ms: Sequence[float], source: str) -> dict[str, Any]:
    """`time_shares` against the median wall time of the profiled runs, as the harness's clock
    timed them (every explainer measures the same way)."""
    return time_shares(ops, statistics.median(wall_ms), source, len(wall_ms))
