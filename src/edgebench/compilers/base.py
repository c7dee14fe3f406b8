"""What a compiler is to edgebench: a description, an availability probe, compile and load.

A compiler module imports its framework only inside `compile` and `load`, so listing compilers,
reading results and `edgebench --help` never import one. The runtime a compiler returns only
loads and predicts: the harness owns clocks, warm-up and stop rules.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from edgebench.compilers.options import Option, unknown_option
from edgebench.models import ModelSpec

if TYPE_CHECKING:
    from edgebench.explain.graph import OpGraph

PRECISIONS: tuple[str, ...] = (
    "fp32", "fp16", "bf16", "int8-dynamic", "int8", "int8-weights", "int4-weights", "int8x16",
    "best",
)  # fmt: skip
# What executes a compiled model: a cell's accelerator, an axis of the grid like its precision
# (`--accelerator`); each compiler says which it can run on.
ACCELERATORS: tuple[str, ...] = ("cpu", "gpu", "npu")


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str = ""

    def __str__(self) -> str:
        return "available" if self.available else f"unavailable: {self.reason}"


@dataclass
class Calibration:
    """Representative inputs for INT8 calibration.

    Attributes:
        source: where the inputs come from (`random` or a dataset name); stored with results.
        size: how many samples.
        batches: yields one list of input arrays (batch of 1) per sample.
    """

    source: str
    size: int
    batches: Callable[[], Iterator[list[np.ndarray]]]
    # The smallest and largest value of the first input over the samples: what range the
    # quantizer saw (the same preprocessing as the measured images, or the random range)
    value_range: tuple[float, float] | None = None

    @property
    def is_random(self) -> bool:
        return self.source == "random"

    def record(self) -> dict[str, Any]:
        """What a cell records of its calibration."""
        out: dict[str, Any] = {"source": self.source, "size": self.size}
        if self.value_range is not None:
            out["range"] = [round(v, 6) for v in self.value_range]
        return out

    def batched(self, batch_size: int) -> Iterator[list[np.ndarray]]:
        """The samples grouped into batches of `batch_size` (for fixed-batch artifacts); the
        last batch is filled by repeating its own samples."""
        pending: list[list[np.ndarray]] = []
        for sample in self.batches():
            pending.append(sample)
            if len(pending) == batch_size:
                yield [np.concatenate(parts, axis=0) for parts in zip(*pending, strict=True)]
                pending = []
        if pending:
            while len(pending) < batch_size:
                pending.append(pending[len(pending) % len(pending)])
            yield [np.concatenate(parts, axis=0) for parts in zip(*pending, strict=True)]


@dataclass
class CompileRequest:
    model: ModelSpec
    source: Path
    source_format: str
    precision: str
    options: dict[str, Any]
    out_dir: Path
    calibration: Calibration
    batch_size: int | None = None  # set when the artifact must have a fixed batch
    # A folder in the artifact cache for what a compiler learns across builds (TVM's tuning
    # database); None where there is no cache.
    state_dir: Path | None = None
    # The remote device the artifact is for (targets/device.py info); None: this host.
    device: dict[str, Any] | None = None


@dataclass
class CompileOutput:
    """`artifact` is a file or folder name inside the request's `out_dir`."""

    artifact: str
    warnings: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


class Runtime(ABC):
    """A loaded model that predicts. Nothing here measures time.

    A runtime built to keep several requests in flight (OpenVINO under its THROUGHPUT hint)
    sets `in_flight` to how many and implements `wait_idle`, `submit` and `wait_all`; the
    harness then times its asynchronous runs (harness/timing.py `time_async_runs`).
    """

    in_flight: int = 0  # 0: one synchronous `predict` at a time
    # A runtime whose buffers can be filled and read apart from the inference (LiteRT's
    # tensors, ONNX Runtime's IO binding, OpenVINO's request tensors) sets this and implements
    # `stage`, `infer` and `fetch`: the harness then times the inference alone, as the
    # vendors' own tools do, and the copies in and out as `io_ms`.
    splits_io: bool = False

    @abstractmethod
    def predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Runs one batch and returns the outputs as host arrays (so the work is finished)."""

    def stage(self, inputs: list[np.ndarray]) -> None:
        """Copies a batch into the runtime's input buffers."""
        raise NotImplementedError(f"{type(self).__name__} does not split its copies")

    def infer(self) -> None:
        """Runs the inference on the staged inputs; its outputs stay in the runtime."""
        raise NotImplementedError(f"{type(self).__name__} does not split its copies")

    def fetch(self) -> list[np.ndarray]:
        """Copies the last inference's outputs out as host arrays."""
        raise NotImplementedError(f"{type(self).__name__} does not split its copies")

    def wait_idle(self) -> None:  # noqa: B027 - optional hook
        """Blocks until a request is free to `submit` to."""

    def submit(self, inputs: list[np.ndarray], done: Callable[[], None]) -> None:
        """Starts one run on a free request; `done()` is called (from any thread) once its
        outputs are ready."""
        raise NotImplementedError(f"{type(self).__name__} runs one request at a time")

    def wait_all(self) -> None:  # noqa: B027 - optional hook
        """Blocks until every submitted run is done."""

    def runtime_metrics(self) -> dict[str, Any]:
        """Figures only the runtime can see (TensorRT's copy/compute split), read after the
        timed window; none by default."""
        return {}

    def accelerator_info(self) -> dict[str, Any]:
        """What the accelerator ran, as the runtime found it, never assumed: the device (and
        `software: True` for a CPU posing as a GPU or NPU), ops and partitions it took, what
        fell back; empty for a plain CPU runtime."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Frees what `load` took; the default has nothing to free."""


@dataclass
class ExplainRequest:
    """What an explainer gets. `time_runs(predict)` is the harness's clock: it warms up, runs
    `predict()` as many times as the run asks (`explain --runs`) and returns each run's wall
    time in ms."""

    compiler: Compiler
    artifact: Path
    source: Path | None  # the compiler's input (an ONNX file, a SavedModel, ...)
    source_format: str
    model: ModelSpec
    precision: str
    batch: int
    threads: int
    options: dict[str, Any]
    inputs: list[np.ndarray]
    time_runs: Callable[[Callable[[], object]], list[float]]
    accelerator: str = "cpu"


@dataclass
class Findings:
    """An explainer's answer.

    Attributes:
        after: the compiled graph, with each node's origins and engine where known.
        before: the graph before compilation, when the explainer reads it itself (a torch
            program); None to read `request.source` with the shared readers.
        fusions: fused kernels the compiler names after their ops (TVM, inductor), when there
            is no node-to-source map to find them from.
        placement: which engine ran what: counts per engine, fallback ops, partitions.
        profile: `time_shares(...)`, or None with `profile_error` saying why.
        notes: anything else the compiler reports (graph optimizations applied, breaks).
    """

    after: OpGraph | None = None
    before: OpGraph | None = None
    fusions: list[dict[str, Any]] | None = None
    placement: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] | None = None
    profile_error: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Ablation:
    """One optimization switched off or stepped down, for `edgebench explain --ablate`:
    the cell is measured again with these options (and precision) in place of its own."""

    change: str  # what is switched off, e.g. "XNNPACK off"
    options: dict[str, Any] = field(default_factory=dict)
    precision: str | None = None  # None: the cell's own


class Compiler(ABC):
    """A compiler or runtime that edgebench can measure.

    Class attributes describe it without importing anything heavy.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    extra: ClassVar[str | None] = None  # pip extra that installs it
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)
    input_formats: ClassVar[tuple[str, ...]] = ()  # formats it compiles from, preferred first
    requires: ClassVar[tuple[str, ...]] = ()  # importable modules it needs
    # The modules `load` imports: what a device must have to measure its artifacts there
    # (conversion needs `requires` on the host only).
    runtime_modules: ClassVar[tuple[str, ...]] = ()
    # What `edgebench target setup` installs on a device for it (pip requirements).
    device_packages: ClassVar[tuple[str, ...]] = ()
    packages: ClassVar[tuple[str, ...]] = ()  # distributions whose versions key its artifacts
    # Its options (compilers/options.py): conversion options change the artifact (and its
    # cache key); runtime options only change how it is loaded.
    declared_options: ClassVar[tuple[Option, ...]] = ()
    needs_static_batch: ClassVar[bool] = False  # for models marked fixed_batch
    compiles_per_batch: ClassVar[bool] = False  # artifacts fixed to one batch size, any model
    runs_model: ClassVar[bool] = True  # False for the null compiler: no outputs to score
    # True for a compiler whose artifact is code for the CPU it is built on (TVM's llvm target,
    # a TensorRT engine): the CPU joins the artifact's cache key.
    builds_for_host: ClassVar[bool] = False
    # The accelerators its artifacts run on (ACCELERATORS), the one it runs on by default
    # first; a suite's "*" takes the compilers that run on the CPU.
    accelerators: ClassVar[tuple[str, ...]] = ("cpu",)
    install_hint: ClassVar[str] = "(core)"  # what to install, for a compiler with no extra

    @classmethod
    def probe(cls) -> Availability:
        """Whether the compiler can run here, checked without importing its framework."""
        for module in cls.requires:
            if importlib.util.find_spec(module) is None:
                hint = f"pip install 'edgebench[{cls.extra}]'" if cls.extra else "see its docs"
                return Availability(False, f"{module} is not installed ({hint})")
        return Availability(True)

    def unsupported_reason(
        self, model: ModelSpec, precision: str, source_format: str
    ) -> str | None:
        """Why this compiler cannot build `model` at `precision`, or None when it can."""
        if precision not in self.precisions:
            return f"{self.name} has no {precision} mode (it offers {', '.join(self.precisions)})"
        return None

    def accelerator_of(self, options: dict[str, Any]) -> str:
        """The accelerator a cell with these options runs on when none is asked for (its
        options may choose one: `device=cuda`, `ort_provider=cuda`)."""
        return self.accelerators[0]

    def accelerator_options(self, accelerator: str) -> dict[str, Any]:
        """The options that run it on `accelerator` (`device=cuda` for torch's GPU), merged
        over the grid's own; none where the runtime is chosen at load (LiteRT's)."""
        return {}

    def probe_accelerator(self, accelerator: str, options: dict[str, Any]) -> Availability:
        """Whether `accelerator` can run this compiler's artifacts here, without importing
        its framework; the compiler's own probe has passed."""
        return Availability(True)

    def load_on(
        self,
        accelerator: str,
        precision: str,
        artifact: Path,
        model: ModelSpec,
        batch_size: int,
        threads: int,
        options: dict[str, Any],
    ) -> Runtime:
        """Loads an artifact, built at `precision`, to run on `accelerator`. Compilers whose
        options choose it (torch's device, ONNX Runtime's provider) load as usual; one that
        picks its accelerator at load (LiteRT's CompiledModel) overrides this."""
        return self.load(artifact, model, batch_size, threads, options)

    def accelerator_step(self, accelerator: str, options: dict[str, Any]) -> Any:
        """A conversion step after the compile step for `accelerator` (a `Converter`, such as
        LiteRT's ahead-of-time NPU compile), or None."""
        return None

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return tuple(o.name for o in cls.declared_options)

    @classmethod
    def option(cls, name: str) -> Option:
        for o in cls.declared_options:
            if o.name == name:
                return o
        raise unknown_option(name, [cls()])

    def options(self, given: dict[str, Any]) -> dict[str, Any]:
        """Every option of this compiler: the given values (parsed and checked) over the
        defaults. Keys of other compilers are left to them; see `check_options`."""
        return {
            o.name: o.parse(given[o.name]) if o.name in given else o.default
            for o in self.declared_options
        }

    def options_on(self, accelerator: str, given: dict[str, Any]) -> dict[str, Any]:
        """`options(given)` for a cell on `accelerator`: the options that select it merged in,
        and those that apply only to other accelerators left at their defaults."""
        values = self.options({**given, **self.accelerator_options(accelerator)})
        return {
            o.name: values[o.name]
            if o.accelerators is None or accelerator in o.accelerators
            else o.default
            for o in self.declared_options
        }

    def search_values(self, option: Option, precision: str) -> tuple[Any, ...]:
        """The values of `option` that `edgebench tune` tries at `precision`: its candidates,
        where it makes a difference; a compiler leaves out what this host cannot run."""
        if option.precisions is not None and precision not in option.precisions:
            return ()
        return option.candidates()

    def usage(self, artifact: str, precision: str, threads: int, options: dict[str, Any]) -> str:
        """A few lines of the runtime's own Python API that load `artifact` and run it the
        way the cell did (`edgebench tune` prints them for its winner); empty when none."""
        return ""

    def ablations(self, precision: str, options: dict[str, Any]) -> list[Ablation]:
        """The optimizations `explain --ablate` switches off or steps down in turn, each
        measured as its own cell; none by default."""
        return []

    def artifact_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The options that shape the artifact (part of its cache key)."""
        names = {o.name for o in self.declared_options if o.stage == "conversion"}
        return {k: v for k, v in options.items() if k in names}

    def explain(self, request: ExplainRequest) -> Findings:
        """What this compiler did to the model (graph, fusions, placement, op time); a
        compiler with an explainer overrides this and imports its framework inside."""
        return Findings(profile_error=f"edgebench has no explainer for {self.name}")

    @abstractmethod
    def compile(self, request: CompileRequest) -> CompileOutput:
        """Turns the source artifact into this compiler's artifact at the requested precision."""

    @abstractmethod
    def load(
        self,
        artifact: Path,
        model: ModelSpec,
        batch_size: int,
        threads: int,
        options: dict[str, Any],
    ) -> Runtime:
        """Loads an artifact, ready to predict batches of `batch_size`."""
