"""A small graph of format converters and the plan that walks it.

Formats are nodes (`zoo`, `keras`, `savedmodel`, `tflite`, ...); converters are edges. A plan
is the shortest path from a model's source format to one of a compiler's input formats, then the
compiler's own compile step. Every step has a cache key made from the step before it, so shared
prefixes (one SavedModel for every TFLite precision) are built once. Planning imports nothing
heavy: the main process uses it to tell whether an artifact is already cached.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgebench.cache import (
    ArtifactCache,
    CacheEntry,
    cache_key,
    gzip_size,
    model_file_digest,
    size_on_disk,
)
from edgebench.compilers import Compiler
from edgebench.errors import EdgebenchError
from edgebench.models import ModelSpec
from edgebench.models.weights import ResolvedWeights
from edgebench.sysinfo import package_versions


class NoRoute(EdgebenchError):
    """No chain of converters leads from a model's format to what a compiler takes."""


@dataclass(frozen=True)
class Converter:
    """An edge of the format graph: `function(source, out_dir, model, weights, batch)` writes
    the converted model into `out_dir` and returns its file or folder name."""

    name: str
    src: str
    dst: str
    function: str
    packages: tuple[str, ...] = ()
    batch_dependent: bool = False
    model_attr: str | None = None  # taken only by models that set this ModelSpec field
    # True where the step builds the network anew (a PyTorch twin of a Keras model): random
    # weights then differ from the reference's, and outputs cannot be compared with it.
    rebuilds_network: bool = False
    # True where the step writes a program for one batch size (static shapes): it is built,
    # and cached, per batch size of the cell.
    per_batch: bool = False
    # The compiler options the step takes (they join its cache key): `function` is then
    # called with `options=` too (an NPU's target for its ahead-of-time compile).
    option_names: tuple[str, ...] = ()
    # True where the step needs the run's calibration data (a fine-tune): `function` is then
    # called with `data=` too (a compilers.base.Calibration), and its source joins the key.
    takes_data: bool = False

    def applies_to(self, model: ModelSpec | None) -> bool:
        return self.model_attr is None or bool(model and getattr(model, self.model_attr, None))

    def run(
        self,
        source: Path | None,
        out_dir: Path,
        model: ModelSpec,
        weights: ResolvedWeights,
        batch: int | None,
        options: dict[str, Any] | None = None,
        data: Any = None,
    ) -> tuple[str, dict[str, Any]]:
        """The converted model's file or folder name, and what the step reports about it
        (a function may return the name alone, or the name and that info)."""
        module, _, func = self.function.partition(":")
        function = getattr(importlib.import_module(module), func)
        extra: dict[str, Any] = {}
        if self.option_names:
            extra["options"] = self.options_of(options or {})
        if self.takes_data:
            extra["data"] = data
        result: str | tuple[str, dict[str, Any]] = function(
            source, out_dir, model, weights, batch, **extra
        )
        return (result, {}) if isinstance(result, str) else result

    def options_of(self, options: dict[str, Any]) -> dict[str, Any]:
        return {k: options[k] for k in self.option_names if k in options}


# Pruning and clustering a Keras model (a step of its own, keras -> keras), put in a plan after
# the step that makes the .keras, where the cell's options ask for it.
OPTIMIZE_WEIGHTS = Converter(
    "optimize_weights",
    "keras",
    "keras",
    "edgebench.conversion.weight_optimization:optimize_weights",
    ("tensorflow", "tensorflow-cpu", "keras"),
    option_names=("prune", "clusters", "finetune_steps"),
    takes_data=True,
)

CONVERTERS: list[Converter] = [
    Converter(
        "materialize_torch",
        "zoo",
        "torch",
        "edgebench.conversion.torch_steps:materialize_torch_twin",
        ("torch",),
        model_attr="torch_builder",
        rebuilds_network=True,
    ),
    Converter(
        "materialize",
        "zoo",
        "keras",
        "edgebench.conversion.tensorflow_steps:materialize_zoo_model",
        ("tensorflow", "tensorflow-cpu", "keras"),
    ),
    Converter(
        "keras_to_savedmodel",
        "keras",
        "savedmodel",
        "edgebench.conversion.tensorflow_steps:keras_to_savedmodel",
        ("tensorflow", "tensorflow-cpu", "keras"),
        batch_dependent=True,
    ),
    Converter(
        "keras_to_onnx",
        "keras",
        "onnx",
        "edgebench.conversion.onnx_steps:keras_to_onnx",
        ("tensorflow", "tensorflow-cpu", "keras", "tf2onnx", "onnx"),
        batch_dependent=True,
    ),
    Converter(
        "savedmodel_to_onnx",
        "savedmodel",
        "onnx",
        "edgebench.conversion.onnx_steps:savedmodel_to_onnx",
        ("tensorflow", "tensorflow-cpu", "tf2onnx", "onnx"),
        batch_dependent=True,
    ),
    Converter(
        "onnx_to_savedmodel",
        "onnx",
        "savedmodel",
        "edgebench.conversion.onnx_steps:onnx_to_savedmodel",
        ("onnx", "onnxslim"),
        batch_dependent=True,
    ),
    Converter(
        "onnx_to_torch",
        "onnx",
        "torch",
        "edgebench.conversion.torch_steps:onnx_to_torch",
        ("torch", "onnx2torch", "onnxslim", "onnx"),
        per_batch=True,
    ),
    Converter(
        "torchscript_to_torch",
        "torchscript",
        "torch",
        "edgebench.conversion.torch_steps:torchscript_to_torch",
        ("torch",),
        per_batch=True,
    ),
    Converter(
        "tflite_to_onnx",
        "tflite",
        "onnx",
        "edgebench.conversion.onnx_steps:tflite_to_onnx",
        ("tensorflow", "tensorflow-cpu", "tf2onnx", "onnx"),
    ),
]


def find_path(
    src: str, targets: tuple[str, ...], model: ModelSpec | None = None
) -> list[Converter] | None:
    """The shortest chain of converters from `src` to any of `targets` (in preference order)."""
    best: list[Converter] | None = None
    for target in targets:
        queue: deque[tuple[str, list[Converter]]] = deque([(src, [])])
        seen = {src}
        while queue:
            fmt, path = queue.popleft()
            if fmt == target:
                if best is None or len(path) < len(best):
                    best = path
                break
            for conv in CONVERTERS:
                if conv.src == fmt and conv.dst not in seen and conv.applies_to(model):
                    seen.add(conv.dst)
                    queue.append((conv.dst, [*path, conv]))
    return best


@dataclass(frozen=True)
class PlannedStep:
    name: str
    stage: str  # cache folder: the converter's name, or the compiler's
    key: str
    converter: Converter | None = None  # None for the compiler's own step
    output_format: str = ""
    batch: int | None = None  # the batch a per-batch converter builds for


@dataclass(frozen=True)
class StepRecord:
    step: str
    seconds: float
    cached: bool


@dataclass(frozen=True)
class BuiltArtifact:
    """A built plan as the harness records it: the artifact, its size, each step's time
    (from the run that built it), and what the compile step reported."""

    artifact_path: str
    size_bytes: int
    steps: tuple[StepRecord, ...]
    warnings: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)
    source_path: str | None = None  # what the compile step started from (explain's "before")
    source_format: str = ""
    peak_rss_mb: float | None = None
    gzip_bytes: int | None = None  # the artifact after gzip -9 (what a device downloads)

    @property
    def convert_s(self) -> float:
        return round(sum(s.seconds for s in self.steps), 3)

    @property
    def cache_hit(self) -> bool:
        return all(s.cached for s in self.steps)


@dataclass(frozen=True)
class Plan:
    """How to build one compiler artifact: converter steps, then the compile step. Built once
    by the harness and sent to the conversion worker as it is."""

    model: ModelSpec
    weights: ResolvedWeights
    compiler: str
    precision: str
    options: dict[str, Any]
    batch: int | None  # fixed batch of the converted formats (fixed_batch models), or None
    source_key: str
    steps: tuple[PlannedStep, ...] = ()
    compile_batch: int | None = None  # the batch the compile step builds for, if it fixes one
    # The device the artifact is built for, where that is not this host (a remote target's
    # info): compilers that emit machine code (TVM) build for its CPU.
    device: dict[str, Any] | None = None

    @property
    def final(self) -> PlannedStep:
        return self.steps[-1]

    @property
    def needs_artifact(self) -> bool:
        return bool(self.steps)

    @property
    def rebuilds_network(self) -> bool:
        """Whether a step builds the network anew rather than converting the reference's."""
        return any(s.converter is not None and s.converter.rebuilds_network for s in self.steps)

    def cached(self, cache: ArtifactCache) -> CacheEntry | None:
        """The final artifact, when every step of the plan is in the cache and sound (a
        missing or damaged step is rebuilt by the conversion worker)."""
        if not self.steps:
            return None
        entries = [cache.lookup(step.stage, step.key) for step in self.steps]
        return entries[-1] if all(e is not None for e in entries) else None

    def describe(
        self,
        cache: ArtifactCache,
        built: set[str] | frozenset[str] = frozenset(),
        peak_rss_mb: float | None = None,
    ) -> BuiltArtifact:
        """The built plan as the harness records it: the final artifact and its size, and every
        step's time (from the run that built it), warnings and info. `built` holds the keys of
        the steps this run built; the others came from the cache."""
        steps: list[StepRecord] = []
        warnings: list[str] = list(cache.warnings)  # damaged entries rebuilt on the way
        info: dict[str, Any] = {}
        entry: CacheEntry | None = None
        source = self.model.path  # what the compile step starts from (explain's "before")
        for i, step in enumerate(self.steps):
            if entry is not None and i <= self.compile_index:
                source = str(entry.path)
            entry = cache.lookup(step.stage, step.key)
            if entry is None:
                raise FileNotFoundError(f"cache entry for step {step.name} is missing")
            meta = entry.meta
            steps.append(StepRecord(step.name, meta.get("seconds", 0.0), step.key not in built))
            warnings.extend(meta.get("warnings", []))
            info.update(meta.get("info", {}))
        assert entry is not None, "describe() needs a plan with steps"
        gzipped = (entry.meta.get("content") or {}).get("gzip_bytes")
        return BuiltArtifact(
            artifact_path=str(entry.path),
            size_bytes=size_on_disk(entry.path),
            gzip_bytes=int(gzipped) if gzipped is not None else gzip_size(entry.path),
            steps=tuple(steps),
            warnings=tuple(warnings),
            info=info,
            source_path=source,
            source_format=self.source_format(),
            peak_rss_mb=peak_rss_mb,
        )

    @property
    def compile_index(self) -> int:
        """The position of the compiler's own step (an accelerator's step may follow it)."""
        return next(i for i, s in enumerate(self.steps) if s.converter is None)

    def source_format(self) -> str:
        """The format the compiler's own step starts from."""
        i = self.compile_index
        if i == 0:
            return "zoo" if self.model.path is None else self.model.source_format
        return self.steps[i - 1].output_format


def _code_digest(target: str | None) -> str | None:
    """A digest of the module a `module:function` builder lives in, so an artifact built by
    older code is never taken for one built by the code that runs now."""
    if not target:
        return None
    spec = importlib.util.find_spec(target.partition(":")[0])
    if spec is None or spec.origin is None or not Path(spec.origin).is_file():
        return None
    return hashlib.sha256(Path(spec.origin).read_bytes()).hexdigest()[:16]


def _compiler_digest(compiler: Compiler) -> str:
    """A digest of the code of a compiler's package (its module and the ones beside it, such
    as ONNX Runtime's int8.py)."""
    import inspect

    source = Path(inspect.getfile(type(compiler)))
    files = sorted(source.parent.glob("*.py")) if source.name == "__init__.py" else [source]
    files = [f for f in files if f.name != "explain.py"]  # explaining builds nothing
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _device_key(device: dict[str, Any]) -> dict[str, Any]:
    """What code built for a remote device depends on: its CPU and architecture."""
    return {"cpu": device.get("cpu", {}).get("model"), "arch": device.get("arch")}


def _host_key(compiler: Compiler) -> dict[str, Any] | None:
    """What code built for this machine depends on: its CPU, features and GPUs."""
    from edgebench.sysinfo import cpu_info, gpus

    if not compiler.builds_for_host:
        return None
    cpu = cpu_info()
    return {
        "cpu": cpu.get("model"),
        "arch": cpu.get("arch"),
        "flags": cpu.get("flags"),
        "gpus": [g.get("name") for g in gpus()],
    }


def source_key(model: ModelSpec, weights: ResolvedWeights) -> str:
    if model.path is not None:
        # By content, not by path and time: a folder replaced in place (a new SavedModel
        # with the same sizes) is a new model, and a copy elsewhere is the same one.
        return cache_key({"content": model_file_digest(Path(model.path))})
    return cache_key(
        {
            "zoo": model.name,
            "builder": model.builder,
            "kwargs": model.builder_kwargs,
            "weights": weights.name,
            "weights_path": weights.path,
            "code": _code_digest(model.builder),
            "torch_code": _code_digest(model.torch_builder),
        }
    )


def _with_weight_optimization(
    path: list[Converter], src_fmt: str, options: dict[str, Any], compiler: Compiler
) -> list[Converter]:
    """The route with pruning and clustering put after the step that makes the .keras (or
    first, for a .keras file), where the options ask for them; NoRoute where no .keras is on
    the way (a .tflite, an ONNX file: nothing to fine-tune)."""
    from edgebench.conversion.weight_optimization import requested

    if not requested(options):
        return path
    if src_fmt == "keras":
        return [OPTIMIZE_WEIGHTS, *path]
    for i, conv in enumerate(path):
        if conv.dst == "keras":
            return [*path[: i + 1], OPTIMIZE_WEIGHTS, *path[i + 1 :]]
    raise NoRoute(
        f"prune and clusters work on a Keras model, and {compiler.name}'s route from "
        f"{src_fmt} has none (a zoo model or a .keras file has)"
    )


def plan(
    model: ModelSpec,
    weights: ResolvedWeights,
    compiler: Compiler,
    precision: str,
    options: dict[str, Any],
    batch_size: int,
    calibration: dict[str, Any],
    device: dict[str, Any] | None = None,
    accelerator: str = "cpu",
) -> Plan:
    """Plans the steps that build `compiler`'s artifact for `model` at `precision` (for a
    remote `device`, where the compiler builds code for the CPU it runs on), and for
    `accelerator` the step it adds after the compile step, if any (an NPU's compile).

    Raises:
        NoRoute: when no converter chain reaches a format the compiler takes.
    """
    batch = batch_size if (model.fixed_batch and compiler.needs_static_batch) else None
    src_fmt = "zoo" if model.path is None else model.source_format
    skey = source_key(model, weights)
    # Some compilers build for one batch size whatever the model (TVM's static shapes).
    compile_batch = batch_size if compiler.compiles_per_batch else batch
    device = device if compiler.builds_for_host else None
    if "*" in compiler.input_formats:
        return Plan(
            model, weights, compiler.name, precision, options, batch, skey, (), compile_batch
        )
    path = find_path(src_fmt, compiler.input_formats, model)
    if path is None:
        raise NoRoute(
            f"no conversion route from {src_fmt} to {compiler.name} "
            f"(it takes {', '.join(compiler.input_formats)})"
        )
    path = _with_weight_optimization(path, src_fmt, options, compiler)
    steps: list[PlannedStep] = []
    prev = skey
    for conv in path:
        step_batch = batch_size if conv.per_batch else None
        parts = {
            "prev": prev,
            "step": conv.name,
            "versions": package_versions(conv.packages),
            "batch": step_batch or (batch if conv.batch_dependent else None),
            "code": _code_digest(conv.function),  # a fixed converter rebuilds
        }
        if conv.option_names:
            parts["options"] = conv.options_of(options)
        if conv.takes_data:
            parts["data"] = calibration
        key = cache_key(parts)
        steps.append(PlannedStep(conv.name, conv.name, key, conv, conv.dst, step_batch))
        prev = key
    key = cache_key(
        {
            "prev": prev,
            "compiler": compiler.name,
            "precision": precision,
            "options": compiler.artifact_options(options),
            "versions": package_versions(compiler.packages),
            "batch": compile_batch,
            "calibration": calibration if precision == "int8" else None,
            "code": _compiler_digest(compiler),  # a fixed compile step rebuilds
            "host": _device_key(device) if device else _host_key(compiler),
        }
    )
    steps.append(PlannedStep(f"{compiler.name}:{precision}", compiler.name, key))
    after: Converter | None = compiler.accelerator_step(accelerator, options)
    if after is not None:  # the compile step's artifact is the accelerator step's source
        steps[-1] = PlannedStep(steps[-1].name, compiler.name, key, output_format=after.src)
        key = cache_key(
            {
                "prev": key,
                "step": after.name,
                "options": after.options_of(options),
                "versions": package_versions(after.packages),
                "code": _code_digest(after.function),
            }
        )
        steps.append(PlannedStep(after.name, after.name, key, after, after.dst))
    return Plan(
        model, weights, compiler.name, precision, options, batch, skey, tuple(steps),
        compile_batch, device,
    )  # fmt: skip
