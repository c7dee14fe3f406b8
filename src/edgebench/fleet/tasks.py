"""What a fleet's workers run: probe a device, build an artifact, measure a cell.

Each runs inside a Dask worker process and does its real work in edgebench's own worker
subprocesses (harness/process.py), as a local run does. Data the client prepared (evaluation
and calibration sets) travels as bytes, and the outputs come back as bytes, so a worker on
another host needs nothing of the client's disk. Every measurement reports its start and end
on the `edgebench` topic for the client's progress line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgebench.conversion.routes import BuiltArtifact, Plan
from edgebench.harness.jobs import CalibrationSource, MeasureJob, MeasureResult, RuntimeSpec

TOPIC = "edgebench"
_TARGETS: dict[str, Any] = {}  # this worker's open targets, kept for their connections


@dataclass(frozen=True)
class Measured:
    """A measurement, with where and when it ran."""

    result: MeasureResult
    built: BuiltArtifact | None  # the artifact it measured (shared by the cells that use it)
    outputs: bytes | None
    target: dict[str, Any] | None  # the target's record, for a remote device
    device: dict[str, Any] | None  # that device's info
    worker: str
    started: float
    finished: float


def _target(name: str) -> Any:
    from edgebench.targets import open_target

    if name not in _TARGETS:
        _TARGETS[name] = open_target(name)
    return _TARGETS[name]


def _event(**data: Any) -> None:
    from distributed import get_worker

    with contextlib.suppress(ValueError):  # not in a worker (a test calls the task directly)
        get_worker().log_event(TOPIC, data)


def _worker_address() -> str:
    from distributed import get_worker

    try:
        return str(get_worker().address)
    except ValueError:
        return "-"


def probe_task(target: str) -> Any:
    """The device's info (None for `local`), from the worker that owns it."""
    found = _target(target)
    return None if found.is_local else found.info()


def build_task(
    plan: Plan,
    calibration: CalibrationSource,
    calibration_data: bytes | None,
    cache_dir: str,
    timeout_s: float,
    seed: int,
) -> BuiltArtifact | None:
    """Builds a plan's artifact into this worker's cache (CellFailure when it cannot)."""
    from edgebench.cache import ArtifactCache
    from edgebench.harness.build import ArtifactBuilder
    from edgebench.harness.process import new_scratch

    _event(kind="build", key=plan.final.key if plan.steps else None, worker=_worker_address())
    scratch = new_scratch()
    try:
        if calibration_data is not None:
            path = scratch / "calibration.npz"
            path.write_bytes(calibration_data)
            calibration = dataclasses.replace(calibration, path=str(path))
        builder = ArtifactBuilder(ArtifactCache(Path(cache_dir)), scratch, timeout_s, seed)
        return builder.build(plan, calibration)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def measure_task(
    built: BuiltArtifact | None,
    target: str,
    job: MeasureJob,
    eval_data: bytes | None,
    timeout_s: float,
    label: str,
) -> Measured:
    """Measures a cell on the device this worker owns (CellFailure when it cannot)."""
    from edgebench.harness.process import new_scratch

    worker = _worker_address()
    started = time.time()
    _event(kind="start", device=target, cell=label, worker=worker)
    scratch = new_scratch()
    try:
        runtime: RuntimeSpec = job.runtime
        if built is not None:
            runtime = dataclasses.replace(runtime, artifact_path=built.artifact_path)
        eval_path = outputs_path = None
        if eval_data is not None:
            (scratch / "eval.npz").write_bytes(eval_data)
            eval_path, outputs_path = str(scratch / "eval.npz"), str(scratch / "outputs.npz")
        job = dataclasses.replace(
            job, runtime=runtime, eval_path=eval_path, outputs_path=outputs_path
        )
        device = _target(target)
        result = device.measure(job, timeout_s, scratch)
        outputs = Path(outputs_path).read_bytes() if outputs_path else None
        info = None if device.is_local else device.info()
        return Measured(
            result=result,
            built=built,
            outputs=outputs,
            target=info.record(device.last_costs()) if info else None,
            device=info.device if info else None,
            worker=worker,
            started=started,
            finished=time.time(),
        )
    finally:
        _event(kind="end", device=target, cell=label, worker=worker)
        shutil.rmtree(scratch, ignore_errors=True)


def read_bytes(path: str | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


def scratch_dir() -> Path:
    return Path(tempfile.gettempdir())


__all__ = ["TOPIC", "Measured", "build_task", "measure_task", "probe_task"]
