"""The stored record of a cell, built in one place from the typed results of its stages."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from edgebench.conversion.routes import BuiltArtifact
from edgebench.harness.jobs import MeasureResult
from edgebench.paired import window_drift
from edgebench.results import CellResult, Status, fidelity_verdict
from edgebench.stats import summarize
from edgebench.sysinfo import package_versions, system_info


@dataclass
class CellOutcome:
    """What the stages of one cell found, as they found it; a stage that ends the cell sets
    `status` and `error`, and the stages after it do not run."""

    status: Status = "failed"
    error: str | None = None
    error_detail: str | None = None  # the framework's whole message (CellFailure.detail)
    warnings: list[str] = field(default_factory=list)
    built: BuiltArtifact | None = None
    no_artifact: bool = False  # a compiler that builds nothing (null)
    measured: MeasureResult | None = None
    accuracy: dict[str, Any] | None = None
    fidelity: dict[str, Any] | None = None
    score_warnings: list[str] = field(default_factory=list)
    explanation: dict[str, Any] | None = None
    target: dict[str, Any] | None = None  # provenance of a cell measured on a remote target
    device: dict[str, Any] | None = None  # that device's own system info
    fleet: dict[str, Any] | None = None  # the Dask worker that measured it, and when
    accelerator: dict[str, Any] | None = None  # what the accelerator ran, as measured
    # Every timed window when a busy one was measured again (busy_host.py); else empty
    busy_windows: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class CellIdentity:
    """What a cell is: model, weights, compiler, precision, batch and how it runs."""

    run_id: str
    model: str
    weights: str
    compiler: str
    precision: str
    batch_size: int
    threads: int
    options: dict[str, Any]
    packages: tuple[str, ...]
    scenario: str | None = None
    model_digest: str | None = None  # a model file's content
    accelerator: str = "cpu"
    preprocessing: str | None = None  # how images became the input, and where that came from


def build_record(identity: CellIdentity, outcome: CellOutcome) -> CellResult:
    """The record the store keeps, from the identity and whatever stages completed."""
    i = identity
    cell = CellResult(
        run_id=i.run_id,
        model=i.model,
        weights=i.weights,
        compiler=i.compiler,
        precision=i.precision,
        batch_size=i.batch_size,
        threads=i.threads,
        status=outcome.status,
        error=outcome.error,
        error_detail=outcome.error_detail,
        system=_system(outcome.device) if outcome.device else system_info(),
        versions=(
            dict((outcome.device or {}).get("runtimes", {}))
            if outcome.device
            else package_versions(("numpy", *i.packages))
        ),
        options=dict(i.options),
        loadgen={"scenario": i.scenario} if i.scenario else None,
        warnings=list(outcome.warnings),
        model_digest=i.model_digest,
        accelerator=i.accelerator,
        preprocessing=i.preprocessing,
    )
    _conversion(cell, outcome)
    if outcome.measured is not None:
        _measurement(cell, outcome.measured)
        cell.busy_windows = list(outcome.busy_windows) or None
    cell.accuracy, cell.fidelity = outcome.accuracy, outcome.fidelity
    cell.warnings.extend(outcome.score_warnings)
    why = fidelity_verdict(cell) if cell.status == "ok" else None
    if why and cell.fidelity is not None and not cell.fidelity.get("error"):
        # Where the figure is: the record, the run line and the tables, as noise is
        cell.fidelity = {**cell.fidelity, "failed": why}
        cell.warnings.append(f"fidelity: {why}")
    if cell.noisy:
        cell.warnings.append(
            f"noisy: other processes used {cell.noise_cpu_pct:.0f}% of the CPU while timed"
        )
    if cell.drifted:
        cell.warnings.append(
            f"drifting: the last fifth of the timed runs took {cell.window_drift_pct:+.0f}% "
            "against the first (the host's speed moved while it was timed)"
        )
    cell.accelerator_info = outcome.accelerator
    if cell.software_device:
        what = (cell.accelerator_info or {}).get("device") or "a software device"
        cell.warnings.append(
            f"software device: the {cell.accelerator.upper()} is {what}, a CPU standing in "
            "for one: its timings say nothing about real hardware"
        )
    cell.explain = outcome.explanation
    cell.target = outcome.target
    cell.fleet = outcome.fleet
    return cell


def _system(device: dict[str, Any]) -> dict[str, Any]:
    """A device's info in the shape of this host's `system_info()`, for reports."""
    keep = ("hostname", "cpu", "memory_mb", "os", "python", "emulated", "libc", "meters")
    return {k: device[k] for k in keep if k in device}


def _conversion(cell: CellResult, outcome: CellOutcome) -> None:
    built = outcome.built
    if outcome.no_artifact:
        cell.convert_s, cell.model_size_mb, cell.cache_hit = 0.0, 0.0, True
        cell.model_size_gzip_mb = 0.0
    if built is None:
        return
    cell.artifact_path = built.artifact_path
    cell.model_size_mb = round(built.size_bytes / 2**20, 3)
    if built.gzip_bytes is not None:
        cell.model_size_gzip_mb = round(built.gzip_bytes / 2**20, 3)
    cell.convert_steps = [asdict(s) for s in built.steps]
    cell.convert_s = built.convert_s
    cell.cache_hit = built.cache_hit
    cell.warnings.extend(built.warnings)
    cell.artifact_info = dict(built.info)
    steps = [s.step for s in built.steps]
    if cell.compiler == "tensorflow" and "onnx_to_savedmodel" in steps:
        route = " -> ".join(steps)
        cell.artifact_info["route"] = route
        cell.warnings.append(
            f"converted: this measures the SavedModel that onnx2tf made ({route}), "
            "not TensorFlow's speed on a model written for it"
        )


def _measurement(cell: CellResult, measured: MeasureResult) -> None:
    cell.with_samples(measured.samples_ms, cell.batch_size, measured.window_s)
    # Below 50 us a run's time is the clock's and the caches' noise, not the host's speed
    timed = cell.latency_ms is not None and cell.latency_ms.p50 >= 0.05
    drift = window_drift(measured.samples_ms) if timed else None
    cell.window_drift_pct = round(100 * drift, 1) if drift is not None else None
    if measured.io_samples_ms:  # latency is the inference alone; the copies are apart
        io = summarize(measured.io_samples_ms)
        cell.io_ms = {"p50": io.p50, "mean": io.mean, "p99": io.p99}
    cell.load_s = measured.load_s
    cell.first_inference_ms = measured.first_inference_ms
    cell.peak_rss_mb = measured.peak_rss_mb
    cell.noise_cpu_pct = measured.noise_cpu_pct
    cell.host_speed = measured.host_speed
    cell.outputs = [{"shape": list(o.shape), "dtype": o.dtype} for o in measured.outputs]
    if measured.telemetry is not None:
        for f in fields(measured.telemetry):
            setattr(cell, f.name, getattr(measured.telemetry, f.name))
    cell.runtime_metrics = measured.runtime_metrics
    compile_s = (cell.runtime_metrics or {}).get("compile_s")
    if compile_s:  # a JIT's compile on load (torch.compile) is conversion, not load, time
        cell.convert_s = (cell.convert_s or 0.0) + compile_s
        cell.load_s = max(0.0, (cell.load_s or 0.0) - compile_s)
    if cell.power_w is None and cell.power_source:
        cell.warnings.append(f"no power figures: {cell.power_source}")
    if cell.throttled:
        cell.warnings.append("throttled: the CPU ran below its top clock or hit a limit")
    cell.drift = measured.drift
    if measured.loadgen:  # LoadGen's samples/s is the scenario's throughput
        cell.loadgen = measured.loadgen
        cell.throughput_ips = cell.loadgen.get("samples_per_s") or cell.throughput_ips


__all__ = ["CellIdentity", "CellOutcome", "build_record"]
