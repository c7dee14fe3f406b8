"""A suite over a fleet: the client owns the store and the suite, Dask's workers do the work.

The client prepares each grid (models, data, FP32 references) and runs the first stages of
every cell (check, plan); then, per cell, a build task (once per artifact: cells that share an
artifact share its task, whatever device they run on) on any `build` worker, and a measure task
on the worker that owns the cell's device (resource `device:NAME` of 1: one measurement at a
time per device). Results stream back as they finish; the client scores them and commits each
to the store at once, so a client killed midway loses nothing and `--resume` goes on with the
same run. A worker that dies mid-cell is replaced by its nanny and the cell runs again on the
same device, up to Dask's allowed failures; then the cell is stored as failed with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgebench.errors import UsageError
from edgebench.fleet.cluster import BUILD, device_resource, missing_devices
from edgebench.fleet.tasks import TOPIC, Measured, build_task, measure_task, probe_task
from edgebench.harness.pipeline import CellPipeline, CellSpec, CellState
from edgebench.harness.process import CellFailure
from edgebench.harness.runner import Runner
from edgebench.results import CellResult

ALLOWED_FAILURES = 2  # a cell whose worker dies this often more is stored as failed


@dataclass
class FleetProgress:
    """What the progress line shows: cells done, running (on which device), queued, failed."""

    total: int = 0
    done: int = 0
    failed: int = 0
    running: dict[str, str] = field(default_factory=dict)  # device -> cell
    builds: int = 0  # artifacts the workers built (or found in their cache)

    @property
    def queued(self) -> int:
        return max(0, self.total - self.done - len(self.running))

    def line(self) -> str:
        running = ", ".join(f"{d}: {c}" for d, c in sorted(self.running.items())) or "-"
        return (
            f"{self.done}/{self.total} done ({self.failed} failed), {self.queued} queued; "
            f"running {running}"
        )


@dataclass
class _Pending:
    spec: CellSpec
    state: CellState
    pipeline: CellPipeline


def run_on_fleet(
    client: Any,
    runners: list[Runner],
    store_cell: Callable[[CellResult], None],
    on_progress: Callable[[FleetProgress], None] = lambda p: None,
) -> FleetProgress:
    """Dispatches every cell of `runners` (already prepared, with references) over the
    fleet; each finished cell goes to `store_cell` as it arrives."""
    import dask
    from distributed import as_completed

    progress = FleetProgress()
    devices = list(dict.fromkeys(t for r in runners for t in r.settings.targets))
    missing = missing_devices(client, devices)
    if missing:
        raise UsageError(
            f"no worker owns device {', '.join(missing)}: start one with "
            f"`edgebench fleet worker --scheduler ADDRESS --target {missing[0]}`"
        )
    infos = _probe(client, devices)

    def on_event(event: tuple[float, dict[str, Any]]) -> None:
        data = event[1]
        if data.get("kind") == "start":
            progress.running[data["device"]] = data["cell"]
        elif data.get("kind") == "end":
            progress.running.pop(data["device"], None)
        elif data.get("kind") == "build":
            progress.builds += 1
        on_progress(progress)

    client.subscribe_topic(TOPIC, on_event)
    futures: dict[Any, _Pending] = {}
    builds: dict[str, Any] = {}
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
        for runner in runners:
            for spec in runner.cells(runner.models):
                pending = _begin(runner.pipeline, spec, infos)
                if pending.state.ended:
                    _store(pending, None, None, store_cell, progress)
                    continue
                future = _submit(client, runner, pending, builds)
                futures[future] = pending
        progress.total = progress.done + len(futures)
        on_progress(progress)
        for future in as_completed(futures):
            pending = futures.pop(future)
            try:
                _store(pending, future.result(), None, store_cell, progress)
            except Exception as exc:  # a cell's failure, or its worker's death
                _store(pending, None, exc, store_cell, progress)
            on_progress(progress)
    client.unsubscribe_topic(TOPIC)
    return progress


def _probe(client: Any, devices: list[str]) -> dict[str, Any]:
    """Each device's info, from the worker that owns it (the client may not reach it)."""
    futures = {
        d: client.submit(probe_task, d, resources={device_resource(d): 1}, pure=False)
        for d in devices
    }
    infos: dict[str, Any] = {}
    for device, future in futures.items():
        try:
            infos[device] = future.result()
        except Exception as exc:  # noqa: BLE001 - an unreachable device fails its own cells
            infos[device] = exc
    return infos


def _begin(pipeline: CellPipeline, spec: CellSpec, infos: dict[str, Any]) -> _Pending:
    """Check and plan on the client, with the device's info from its worker."""
    state = CellState(pipeline.run_stages(spec, ()).outcome)
    info = infos.get(spec.target.name)
    if isinstance(info, Exception):
        pipeline.fail(state, CellFailure(str(info)))
    elif info is not None:
        state.device = info
    return _Pending(spec, pipeline.run_stages(spec, ("check", "plan"), state), pipeline)


def _submit(client: Any, runner: Runner, pending: _Pending, builds: dict[str, Any]) -> Any:
    from edgebench.fleet.tasks import read_bytes

    spec, state, pipeline = pending.spec, pending.state, pending.pipeline
    settings = runner.settings
    plan = state.plan
    assert plan is not None
    calibration = spec.model.calibration
    built = None  # a compiler that builds nothing (null) needs no build task
    if plan.steps:
        key = plan.final.key
        if key not in builds:  # once per artifact, whichever devices measure it
            builds[key] = client.submit(
                build_task, plan, calibration, read_bytes(calibration.path),
                str(settings.cache_dir), settings.cell_timeout_s, settings.seed,
                resources={BUILD: 1}, key=f"build-{key}", pure=False,
            )  # fmt: skip
        built = builds[key]
    job = pipeline.measure_job(spec, state)
    return client.submit(
        measure_task, built, spec.target.name, job, read_bytes(job.eval_path),
        settings.cell_timeout_s, spec.label,
        resources={device_resource(spec.target.name): 1}, pure=False,
    )  # fmt: skip


def _store(
    pending: _Pending,
    measured: Measured | None,
    error: BaseException | None,
    store_cell: Callable[[CellResult], None],
    progress: FleetProgress,
) -> None:
    spec, state, pipeline = pending.spec, pending.state, pending.pipeline
    if error is not None:
        pipeline.fail(state, _as_failure(error, spec))
    elif measured is not None:
        outcome = state.outcome
        outcome.built, outcome.no_artifact = measured.built, measured.built is None
        outcome.measured, outcome.status = measured.result, "ok"
        outcome.target, outcome.device = measured.target, measured.device
        outcome.fleet = {
            "worker": measured.worker,
            "started": round(measured.started, 3),
            "finished": round(measured.finished, 3),
        }
        if measured.outputs is not None and state.outputs_path is not None:
            state.outputs_path.write_bytes(measured.outputs)
        pipeline.run_stages(spec, ("score",), state)
    cell = pipeline.finish(spec, state)
    store_cell(cell)
    progress.done += 1
    progress.failed += cell.status == "failed"


def _as_failure(error: BaseException, spec: CellSpec) -> CellFailure:
    if isinstance(error, CellFailure):
        return error
    name = type(error).__name__
    if name == "KilledWorker":
        return CellFailure(
            f"the worker measuring on {spec.target.name} died {ALLOWED_FAILURES + 1} times "
            f"while running this cell ({str(error)[:200]})"
        )
    return CellFailure(f"{name}: {str(error)[:300]}")


__all__ = ["ALLOWED_FAILURES", "FleetProgress", "run_on_fleet"]
