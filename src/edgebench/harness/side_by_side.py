"""Two measured cells' artifacts timed side by side, now, in one worker (paired.py): the one
way edgebench says that B is faster or slower than A on a host whose speed drifts.

tune confirms its winner against the runner-up with it, `compare --side-by-side` re-times the
two runs' artifacts with it, and the benchmarks time tune's winner against the grid's best.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from edgebench.compilers import get_compiler
from edgebench.harness.jobs import PairJob, PairResult, RuntimeSpec
from edgebench.harness.process import run_step
from edgebench.models import ModelSpec
from edgebench.paired import PairedRatio, judge, ratios_of
from edgebench.results import CellResult

PAIRS = 16  # blocks a side, in ABBA order: 8 ratios
BLOCK_MS = 100.0  # each block's length, about (its runs are fixed from the cell's p50)


def runtime_spec(cell: CellResult, model: ModelSpec) -> RuntimeSpec:
    """What loading a measured cell's artifact again takes."""
    options = get_compiler(cell.compiler).options(cell.options)
    return RuntimeSpec(cell.compiler, cell.artifact_path, model, cell.batch_size, cell.threads,
                       options, cell.accelerator, cell.precision)  # fmt: skip


def can_time(cell: CellResult) -> str:
    """'' when the cell's artifact can be loaded here again; else why not."""
    if cell.status != "ok":
        return f"the cell is {cell.status}"
    if cell.target:
        return "measured on a device (its agent times one cell at a time)"
    if get_compiler(cell.compiler).runs_model and not (
        cell.artifact_path and Path(cell.artifact_path).exists()
    ):
        return f"its artifact is gone ({cell.artifact_path})"
    return ""


def time_side_by_side(
    a: CellResult,
    b: CellResult,
    model: ModelSpec,
    effect: float,
    timeout_s: float,
    workdir: Path | None = None,
    pairs: int = PAIRS,
    block_ms: float = BLOCK_MS,
) -> PairedRatio:
    """B's time over A's, both loaded in one worker and run alternately in blocks.

    Raises:
        EdgebenchError: a worker that failed or ran past `timeout_s`, with its reason.
    """
    per_run = max((c.latency_ms.p50 if c.latency_ms else 1.0) for c in (a, b))
    block_runs = max(3, min(200, round(block_ms / max(per_run, 1e-3))))
    job = PairJob(runtime_spec(a, model), runtime_spec(b, model), pairs=pairs,
                  block_runs=block_runs)  # fmt: skip
    if workdir is not None:
        result = run_step("pair", job, PairResult, timeout_s, workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="edgebench-pair-") as tmp:
            result = run_step("pair", job, PairResult, timeout_s, Path(tmp))
    return judge(ratios_of(result.a_ms, result.b_ms), effect)


__all__ = ["BLOCK_MS", "PAIRS", "can_time", "runtime_spec", "time_side_by_side"]
