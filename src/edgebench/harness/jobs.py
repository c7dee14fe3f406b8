"""What the harness asks of a worker process, and what the worker answers: frozen types.

Every step of a cell that runs in a worker (convert, measure, predict, explain, inspect) has a
job type and a result type here. The parent writes a job as JSON, the worker reads it back into
the same type (`encode`/`decode` follow the dataclass fields and their annotations), so a field
that is misspelled or missing fails at once rather than as a `KeyError` deep in the worker.

Plain dataclasses and the standard library only: a device-side agent reads these jobs with
nothing but Python and numpy installed.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from edgebench.conversion.routes import BuiltArtifact, Plan, StepRecord
from edgebench.harness.timing import StopRule
from edgebench.models import InputSpec, ModelSpec
from edgebench.telemetry.sampler import TelemetrySummary


# --- the codec -------------------------------------------------------------------------
def encode(value: Any) -> Any:
    """A dataclass (and what it holds) as JSON-ready data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value


def decode(kind: Any, data: Any) -> Any:
    """`data` (from `encode`, through JSON) as an instance of `kind`."""
    if data is None or kind is Any:
        return data
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        hints = typing.get_type_hints(kind)
        given = {
            f.name: decode(hints[f.name], data[f.name])
            for f in dataclasses.fields(kind)
            if f.init and f.name in data
        }
        return kind(**given)
    if origin in (typing.Union, types.UnionType):
        choices = [a for a in args if a is not type(None)]
        return decode(choices[0], data) if len(choices) == 1 else data
    if origin is list:
        return [decode(args[0], v) for v in data]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode(args[0], v) for v in data)
        return tuple(decode(a, v) for a, v in zip(args, data, strict=True))
    if origin is dict:
        return {k: decode(args[1], v) for k, v in data.items()}
    if origin is Literal:
        return data
    if kind is Path:
        return Path(data)
    if kind is float and isinstance(data, int):
        return float(data)
    return data


def finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


# --- jobs and results ----------------------------------------------------------------------
@dataclass(frozen=True)
class CalibrationSource:
    """Where int8 calibration comes from: random inputs, or a prepared .npz of a dataset."""

    source: str = "random"
    size: int = 100
    path: str | None = None  # not part of any cache key

    def key(self) -> dict[str, Any]:
        return {"source": self.source, "size": self.size}


@dataclass(frozen=True)
class ConvertJob:
    plan: Plan
    cache_dir: str
    calibration: CalibrationSource
    seed: int = 0


@dataclass(frozen=True)
class RuntimeSpec:
    """What loading an artifact takes."""

    compiler: str
    artifact_path: str | None  # None: a compiler that needs no artifact (null)
    model: ModelSpec
    batch_size: int
    threads: int
    options: dict[str, Any] = field(default_factory=dict)
    accelerator: str = "cpu"  # what runs it (compilers/base.py ACCELERATORS)
    precision: str = "fp32"  # what the artifact was built at


@dataclass(frozen=True)
class LoadGenSpec:
    scenario: str
    target_qps: float | None = None
    target_latency_ms: float | None = None
    samples_per_query: int | None = None
    log_dir: str | None = None


@dataclass(frozen=True)
class ScenarioSpec:
    """How the timed window runs: the harness's loop (`loop`), one long window with drift
    (`sustained`), or an MLPerf LoadGen scenario (`loadgen`)."""

    kind: Literal["loop", "sustained", "loadgen"]
    stop_rule: StopRule
    loadgen: LoadGenSpec | None = None


@dataclass(frozen=True)
class TelemetrySpec:
    hz: float = 10.0
    power_cmd: str | None = None
    idle_s: float = 0.5


@dataclass(frozen=True)
class MeasureJob:
    runtime: RuntimeSpec
    scenario: ScenarioSpec
    seed: int = 0
    telemetry: TelemetrySpec | None = None
    eval_path: str | None = None  # predict this set after the timed window (accuracy)
    outputs_path: str | None = None


@dataclass(frozen=True)
class PairJob:
    """Two artifacts timed alternately in one process (paired.py): `pairs` blocks each, ABBA,
    each block `block_runs` timed runs after `warmup_runs` of each side."""

    a: RuntimeSpec
    b: RuntimeSpec
    pairs: int = 12
    block_runs: int = 10
    warmup_runs: int = 5
    seed: int = 0


@dataclass(frozen=True)
class PairResult:
    """Per block, the median time per image of each side (ms), in pair order."""

    a_ms: list[float]
    b_ms: list[float]


@dataclass(frozen=True)
class OutputInfo:
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class MeasureResult:
    samples_ms: list[float]
    window_s: float
    first_inference_ms: float
    load_s: float
    peak_rss_mb: float
    noise_cpu_pct: float | None
    outputs: tuple[OutputInfo, ...]
    loadgen: dict[str, Any] | None = None
    drift: dict[str, Any] | None = None
    runtime_metrics: dict[str, Any] | None = None
    telemetry: TelemetrySummary | None = None
    io_samples_ms: list[float] = field(default_factory=list)  # copies in and out, per run
    # NaN or infinite values among the outputs of the run after the window, and all values
    non_finite: int = 0
    output_values: int = 0
    # What an accelerator ran, as the runtime saw it (adapter, placement, software or not)
    accelerator: dict[str, Any] | None = None
    # How fast the host was: the reference workload's ms before and after the window, and
    # the hypervisor's steal time during it (noise.py)
    host_speed: dict[str, Any] | None = None


@dataclass(frozen=True)
class PredictJob:
    runtime: RuntimeSpec
    eval_path: str
    outputs_path: str


@dataclass(frozen=True)
class PredictResult:
    outputs_path: str


@dataclass(frozen=True)
class ExplainJob:
    runtime: RuntimeSpec
    precision: str
    source_path: str | None
    source_format: str
    runs: int
    warmup: int
    seed: int = 0


@dataclass(frozen=True)
class ExplainResult:
    explanation: dict[str, Any]


@dataclass(frozen=True)
class InspectJob:
    path: str
    format: str


@dataclass(frozen=True)
class InspectResult:
    inputs: tuple[InputSpec, ...]
    # How the file itself says images become its input (a .tflite's normalization metadata,
    # as an images.py mode), or None where it says nothing
    preprocessing: str | None = None
    outputs: tuple[dict[str, Any], ...] = ()  # where the format declares them (ONNX, TFLite)


@dataclass(frozen=True)
class WorkerError:
    """A worker's one-line reason for a failure, the exception type that raised it, and the
    framework's whole message (`detail`, where it says more than the line)."""

    error: str
    kind: str = ""
    detail: str = ""


__all__ = [
    "BuiltArtifact",
    "CalibrationSource",
    "ConvertJob",
    "ExplainJob",
    "ExplainResult",
    "InspectJob",
    "InspectResult",
    "LoadGenSpec",
    "MeasureJob",
    "MeasureResult",
    "OutputInfo",
    "PairJob",
    "PairResult",
    "PredictJob",
    "PredictResult",
    "RuntimeSpec",
    "ScenarioSpec",
    "StepRecord",
    "TelemetrySpec",
    "TelemetrySummary",
    "WorkerError",
    "decode",
    "encode",
    "finite_or_none",
]
