"""Preparation, before any cell runs: models, weights, data and the FP32 references.

Everything a user can get wrong (an unreadable model, missing weights, a dataset that does not
fit the model) fails here with one line. The FP32 references are run here too: a reference that
cannot run only leaves fidelity empty, with the reason.
"""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgebench.accuracy.evaluation import (
    REFERENCE_COMPILER,
    REFERENCE_OPTIONS,
    EvalSet,
    build_eval_set,
    check_compatible,
    for_model,
    load_outputs,
    score,
)
from edgebench.cache import cache_key, model_file_digest
from edgebench.compilers import get_compiler
from edgebench.compilers.base import Compiler
from edgebench.conversion.routes import NoRoute, Plan
from edgebench.conversion.weight_optimization import check_model as check_weight_optimization
from edgebench.datasets import parse_dataset
from edgebench.datasets.images import describe, feed_range, norm_mode, range_mode
from edgebench.errors import ModelLoadError, UsageError
from edgebench.harness.build import ArtifactBuilder
from edgebench.harness.jobs import (
    CalibrationSource,
    InspectJob,
    InspectResult,
    PredictJob,
    PredictResult,
    RuntimeSpec,
)
from edgebench.harness.process import CellFailure, run_step
from edgebench.models import InputSpec, ModelSpec, corpus, parse_input_shapes, resolve_model
from edgebench.models.weights import ResolvedWeights, resolve_weights
from edgebench.settings import GridSettings
from edgebench.sysinfo import package_versions


@dataclass
class PreparedModel:
    """A model ready for its cells: its spec (inputs known), weights, data and reference."""

    spec: ModelSpec
    weights: ResolvedWeights
    eval_set: EvalSet | None = None
    calibration: CalibrationSource = field(default_factory=CalibrationSource)
    reference_name: str | None = None
    reference_outputs: list[Any] | None = None
    reference_accuracy: dict[str, Any] | None = None
    reference_error: str | None = None
    given_as: str = ""  # the --model entry it came from
    also_given_as: list[str] = field(default_factory=list)  # other entries of the same model

    @property
    def random_zoo_weights(self) -> bool:
        """A zoo model with random weights: speed only, never an accuracy figure."""
        return self.weights.is_random and self.spec.path is None


def prepare_models(settings: GridSettings, workdir: Path) -> list[PreparedModel]:
    """Resolves every model and its weights, then reads the data; raises on bad input."""
    prepared: list[PreparedModel] = []
    seen: dict[str, PreparedModel] = {}  # by zoo name, or by a model file's content
    named_shapes = (
        {n for n, _ in parse_input_shapes(settings.input_shape)} - {None}
        if (settings.input_shape)
        else set()
    )
    shaped: set[str | None] = set()  # the --input-shape names some model has
    given = given_preprocessing(settings)
    if given and not any(resolve_model(n).path is not None for n in settings.models):
        raise UsageError(
            "--input-range, --input-mean and --input-std set how a model file is fed; a zoo "
            "model's preprocessing is its own (`edgebench list models` shows it)"
        )
    for name in settings.models:
        spec = resolve_model(name)
        if name.startswith(corpus.PREFIX):  # fetched once into the cache, checked by sha256
            corpus.fetch(corpus.get(name), settings.cache_dir)
            spec = replace(spec, path=str(corpus.path_of(corpus.get(name), settings.cache_dir)))
        if spec.path is not None:
            spec = replace(spec, digest=model_file_digest(Path(spec.path))[:16])
        same = seen.get(spec.digest or spec.name)
        if same is not None:  # given twice (the runner warns), or one file under two names
            if name not in (same.given_as, *same.also_given_as):
                same.also_given_as.append(name)
            continue
        if spec.path is not None:
            check_weight_optimization(spec, settings.options)
            spec = _inspect(spec, settings, workdir, _own_shape(name, settings))
            spec = apply_input_values(spec, settings.input_value)
            spec = choose_preprocessing(spec, given, name.startswith(corpus.PREFIX))
            weights = ResolvedWeights(f"file:{Path(spec.path or name).name}", None)
        else:
            if settings.input_shape:  # a zoo model's inputs are fixed: only check
                apply_input_shapes(spec, settings.input_shape, _only_its_own(settings))
            spec = apply_input_values(spec, settings.input_value)
            weights = resolve_weights(
                spec, _weights_name(spec, settings.weights), settings.cache_dir
            )
        shaped |= {inp.name for inp in spec.inputs}
        prepared.append(PreparedModel(spec, weights, given_as=name))
        seen[spec.digest or spec.name] = prepared[-1]
    unmatched = sorted(str(n) for n in named_shapes - shaped)
    if unmatched:
        raise UsageError(
            f"--input-shape names {', '.join(map(repr, unmatched))}: no model of this run has "
            f"such an input"
        )
    _prepare_data(settings, prepared, workdir)
    return prepared


def model_notes(models: list[PreparedModel]) -> list[str]:
    """What edgebench read from each model file: its inputs and, for an image input, the
    layout it feeds (datasets are resized and laid out to match)."""
    notes = [pm.spec.describe_inputs() for pm in models if pm.spec.path is not None]
    for pm in models:
        fed = preprocessing_note(pm.spec) if pm.spec.path is not None else None
        if fed:
            notes.append(
                f"{pm.spec.name}: images are fed as {fed} (--input-range, or --input-mean "
                "with --input-std, set it)"
            )
    for pm in models:
        if pm.also_given_as:
            notes.append(
                f"{', '.join(pm.also_given_as)}: the same file as {pm.given_as} (same content): "
                "measured once"
            )
    return notes


def _weights_name(spec: ModelSpec, requested: str) -> str:
    if requested != "pretrained":
        return requested
    if not spec.weights:
        raise UsageError(
            f"{spec.name} has no pretrained weights that edgebench can fetch; "
            "pass --weights PATH, or --weights random for speed-only figures"
        )
    return spec.weights[0]


def _prepare_data(settings: GridSettings, models: list[PreparedModel], workdir: Path) -> None:
    """Reads and preprocesses evaluation and calibration data: bad data fails here."""
    s = settings
    dataset = parse_dataset(s.dataset).limited(s.limit) if s.dataset else None
    if dataset is None and s.fidelity:
        dataset = parse_dataset("synthetic:8")
    calib = parse_dataset(s.calib_dataset).limited(s.calib_size) if s.calib_dataset else None
    for i, pm in enumerate(models):
        pm.calibration = CalibrationSource("random", s.calib_size)
        if calib is not None:
            check_compatible(pm.spec, calib)
            calib_used = for_model(pm.spec, calib)
            cs = build_eval_set(pm.spec, calib_used, workdir, f"calib-{i}")
            pm.calibration = CalibrationSource(calib_used.spec, cs.n, str(cs.path))
        if dataset is not None:
            check_compatible(pm.spec, dataset)
            pm.eval_set = build_eval_set(pm.spec, for_model(pm.spec, dataset), workdir, f"eval-{i}")


def _own_shape(name: str, settings: GridSettings) -> str | None:
    """--input-shape, or a corpus model's own sizes for its dynamic dimensions."""
    if settings.input_shape or not name.startswith(corpus.PREFIX):
        return settings.input_shape
    return corpus.get(name).input_shape


def _inspect(
    spec: ModelSpec, settings: GridSettings, workdir: Path, input_shape: str | None
) -> ModelSpec:
    """A model file's inputs, read in a worker (its framework loads there)."""
    own = _only_its_own(settings)
    if input_shape and spec.inputs:
        return apply_input_shapes(spec, input_shape, own)
    spec, _ = read_model_file(spec, workdir)
    if input_shape:
        return apply_input_shapes(spec, input_shape, own)
    return _require_static(spec)


def read_model_file(spec: ModelSpec, workdir: Path) -> tuple[ModelSpec, InspectResult]:
    """A model file's inputs as it declares them (dynamic sizes still open) and what it says
    of its preprocessing, read in a worker (its framework loads there)."""
    assert spec.path is not None
    try:
        found = run_step(
            "inspect", InspectJob(spec.path, spec.source_format), InspectResult, 300, workdir
        )
    except CellFailure as exc:
        raise ModelLoadError(str(exc) if spec.path in str(exc) else f"{spec.path}: {exc}") from None
    spec = spec.with_inputs(found.inputs)
    if found.preprocessing:
        spec = replace(
            spec,
            preprocessing=found.preprocessing,
            preprocessing_source="the model's own TFLite metadata",
        )
    return spec, found


def _require_static(spec: ModelSpec) -> ModelSpec:
    """A model file whose every input size is known, or one line saying what to give."""
    if spec.source_format == "torchscript" and not all(i.shape for i in spec.inputs):
        names = ", ".join(inp.name for inp in spec.inputs)
        raise UsageError(
            f"{spec.path}: a TorchScript program does not record its input sizes; give each "
            f"input's per-sample shape with --input-shape (inputs: {names})"
        )
    for inp in spec.inputs:
        if not inp.is_static:
            raise UsageError(
                f"{spec.path}: input '{inp.name}' has a dynamic shape ({inp.shown()}); give "
                f"its {_what_to_give(inp)} with --input-shape, e.g. --input-shape "
                f"{_example_shape(inp, len(spec.inputs) > 1)}"
            )
    return spec


def given_preprocessing(settings: GridSettings) -> tuple[str, str] | None:
    """The preprocessing --input-range, or --input-mean with --input-std, set: (mode, flag)."""
    s = settings
    if s.input_range and (s.input_mean or s.input_std):
        raise UsageError("give --input-range, or --input-mean with --input-std, not both")
    if bool(s.input_mean) != bool(s.input_std):
        raise UsageError("--input-mean and --input-std go together: (pixel - mean) / std")
    try:
        if s.input_range:
            lo, hi = (float(v) for v in s.input_range.split(","))
            if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
                raise ValueError
            return range_mode(lo, hi), "--input-range"
        if s.input_mean and s.input_std:
            mean = [float(v) for v in s.input_mean.split(",")]
            std = [float(v) for v in s.input_std.split(",")]
            if (
                len(mean) not in (1, 3)
                or len(std) not in (1, 3)
                or not all(np.isfinite(v) for v in mean + std)
                or min(std) <= 0
            ):
                raise ValueError
            return norm_mode(mean, std), "--input-mean/--input-std"
    except ValueError:
        raise UsageError(
            "--input-range takes LO,HI with LO < HI (e.g. 0,1); --input-mean and --input-std "
            "take one number or three, std above 0 (e.g. 127.5)"
        ) from None
    return None


def choose_preprocessing(
    spec: ModelSpec, given: tuple[str, str] | None, from_corpus: bool
) -> ModelSpec:
    """How images become a model file's input, and where that came from: the user's flags,
    the file's own metadata, the corpus's record, else [0, 1] for a float image input (raw
    0-255 pixels for a uint8 one). The image input's value range follows, so random inputs
    and random calibration cover the same range as the images."""
    image = spec.inputs[0] if len(spec.inputs) == 1 and spec.inputs[0].image_shape else None
    if image is None:
        return spec
    if given is not None:
        mode, source = given
    elif spec.preprocessing_source:  # the file's metadata
        mode, source = spec.preprocessing, spec.preprocessing_source
    elif from_corpus:
        mode, source = spec.preprocessing, "the corpus's record of its project's preprocessing"
    elif np.dtype(image.dtype).kind == "f":
        mode, source = "unit", "edgebench's default: the file states none"
    else:
        mode, source = "none", f"a {image.dtype} image input takes pixels as they are"
    if np.dtype(image.dtype).kind == "f":
        image = replace(image, value_range=feed_range(mode))
    return replace(spec, preprocessing=mode, preprocessing_source=source).with_inputs((image,))


def preprocessing_note(spec: ModelSpec) -> str | None:
    """What a cell's images were turned into, for its record and the run's notes."""
    if len(spec.inputs) != 1 or spec.inputs[0].image_shape is None:
        return None
    source = spec.preprocessing_source or "the zoo's record of the model"
    return f"{describe(spec.preprocessing)}; from {source}"


def _only_its_own(settings: GridSettings) -> bool:
    """In a run of several models, an --input-shape entry by name applies to the models that
    have that input (prepare_models refuses one that no model has)."""
    return len(settings.models) > 1


def _shown(inp: InputSpec) -> str:
    """An input's shape as users write it: 3x?x? per sample, [2x?x128] whole."""
    return f"{inp.shown()} per sample" if inp.batched else f"{inp.shown()} as a whole"


def _what_to_give(inp: InputSpec) -> str:
    return "per-sample shape" if inp.batched else "whole shape (it has no batch dimension)"


def apply_input_values(spec: ModelSpec, text: str | None) -> ModelSpec:
    """`--input-value NAME=number,...`: a control input (a sample rate, a flag) fed that value
    instead of random data; a name the model lacks is refused."""
    if not text:
        return spec
    values: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, eq, number = part.partition("=")
        try:
            values[name.strip()] = float(number)
        except ValueError:
            raise UsageError(f"--input-value '{part}': give NAME=number, e.g. sr=16000") from None
        if not eq or not name.strip():
            raise UsageError(f"--input-value '{part}': give NAME=number, e.g. sr=16000")
    names = {inp.name for inp in spec.inputs}
    unknown = sorted(set(values) - names)
    if unknown:
        raise UsageError(
            f"--input-value names {', '.join(map(repr, unknown))}: {spec.name} has no such input "
            f"(its inputs: {', '.join(sorted(names))})"
        )
    return spec.with_inputs(
        tuple(replace(i, value=values[i.name]) if i.name in values else i for i in spec.inputs)
    )


def _example_shape(inp: InputSpec, by_name: bool) -> str:
    """An --input-shape for a dynamic input in its own layout: an NCHW image input (3x?x?)
    was told 'e.g. 224,224,3', which its graph refuses."""
    known = [d for d in inp.shape if d is not None]
    image = inp.batched and len(inp.shape) == 3 and len(known) == 1 and known[0] in (1, 3, 4)
    dims = ",".join(str(d if d is not None else 224 if image else 16) for d in inp.shape)
    return f"{inp.name}={dims}" if by_name else dims


def apply_input_shapes(spec: ModelSpec, text: str, only_its_own: bool = False) -> ModelSpec:
    """Fills the dynamic dimensions of a model's inputs with `--input-shape` (one sample's for
    an input with a batch dimension, the whole tensor's for one without); a shape that
    contradicts a static dimension is refused (the model would be measured at a size it does
    not take). `only_its_own`: entries naming inputs this model lacks are left to others."""
    shapes = parse_input_shapes(text)
    if only_its_own and spec.inputs and all(name for name, _ in shapes):
        mine = {inp.name for inp in spec.inputs}
        shapes = [(name, shape) for name, shape in shapes if name in mine]
        if not shapes:  # nothing for this model: its own sizes must do
            return _require_static(spec) if spec.path is not None else spec
    inputs = list(spec.inputs) or [InputSpec(name or "input", ()) for name, _ in shapes]
    named = {name: shape for name, shape in shapes if name}
    counts = Counter(name for name, _ in shapes if name)
    twice = sorted(name for name, n in counts.items() if n > 1)
    if twice:
        raise UsageError(f"--input-shape names {', '.join(map(repr, twice))} more than once")
    # Shapes given by name need not cover the inputs whose sizes the model fixes.
    by_name = len(named) == len(shapes) and bool(spec.inputs)
    if len(shapes) != len(inputs) and not by_name:
        raise UsageError(
            f"--input-shape gives {len(shapes)} shapes; {spec.name} has {len(inputs)} inputs"
        )
    unknown = [name for name in named if name not in {inp.name for inp in inputs}]
    if unknown:
        raise UsageError(
            f"--input-shape names {', '.join(map(repr, unknown))}: {spec.name} has no such "
            f"input (its inputs: {', '.join(inp.name for inp in inputs)})"
        )
    out = []
    for i, inp in enumerate(inputs):
        if by_name and inp.name not in named:
            if not inp.is_static:
                raise UsageError(
                    f"--input-shape gives no shape for input '{inp.name}' of {spec.name}, which "
                    f"is {_shown(inp)}; give it too, e.g. {_example_shape(inp, True)}"
                )
            out.append(inp)
            continue
        shape = named.get(inp.name, shapes[i][1]) if named else shapes[i][1]
        _check_static(spec, inp, shape)
        out.append(replace(inp, shape=tuple(shape)))
    return spec.with_inputs(tuple(out))


def _check_static(spec: ModelSpec, inp: InputSpec, shape: tuple[int, ...]) -> None:
    if not inp.shape and inp.batched:
        return  # nothing known about this input yet (TorchScript records no sizes)
    if len(shape) != len(inp.shape) or any(
        d is not None and d != given for d, given in zip(inp.shape, shape, strict=False)
    ):
        raise UsageError(
            f"--input-shape {'x'.join(map(str, shape))} contradicts input '{inp.name}' of "
            f"{spec.name}, which is {_shown(inp)} (only '?' sizes can be set)"
        )


def prepare_references(
    settings: GridSettings,
    models: list[PreparedModel],
    builder: ArtifactBuilder,
    workdir: Path,
    on_progress: Callable[[str], None] = lambda s: None,
) -> None:
    """Runs each model's FP32 framework reference on its evaluation set, before any cell.

    A reference that cannot run leaves fidelity empty with the reason; it is not fatal.
    """
    if not settings.fidelity:
        return
    if not any(get_compiler(n).runs_model for n in settings.compiler_names()):
        return  # nothing in this run has model outputs to compare
    for pm in models:
        if pm.eval_set is not None:
            _reference(settings, pm, builder, workdir, on_progress)


def _reference(
    settings: GridSettings,
    pm: PreparedModel,
    builder: ArtifactBuilder,
    workdir: Path,
    on_progress: Callable[[str], None],
) -> None:
    assert pm.eval_set is not None
    src = pm.spec.source_format if pm.spec.path else "zoo"
    name = REFERENCE_COMPILER.get(src)
    pm.reference_name = f"{name} fp32" if name else None
    if name is None:
        pm.reference_error = f"no reference runtime for {src} models"
        return
    compiler = get_compiler(name)
    if not compiler.probe().available:
        pm.reference_error = f"reference {name} unavailable: {compiler.probe().reason}"
        return
    options = compiler.options(REFERENCE_OPTIONS.get(name, {}))
    out = workdir / f"reference-{len(list(workdir.iterdir()))}.npz"
    try:
        plan = builder.plan(pm.spec, pm.weights, compiler, "fp32", options, 1, pm.calibration)
        key = _reference_key(plan, compiler, options, pm.eval_set)
        cached = builder.cache.lookup(REFERENCE_STAGE, key)
        if cached is not None:
            on_progress(f"reference outputs of {pm.spec.name} ({name} fp32): cached")
            out = cached.path
        else:
            on_progress(f"reference outputs of {pm.spec.name} ({name} fp32)")
            built = builder.build(plan, pm.calibration)
            runtime = RuntimeSpec(
                name, built.artifact_path if built else None, pm.spec, 1, settings.threads, options
            )
            job = PredictJob(runtime, str(pm.eval_set.path), str(out))
            run_step("predict", job, PredictResult, settings.cell_timeout_s, workdir)
            _keep_reference(builder, key, out, name)
    except (CellFailure, NoRoute) as exc:
        pm.reference_error = f"reference {name} fp32 failed: {exc}"
        return
    pm.reference_outputs = load_outputs(out)
    pm.reference_accuracy = score(pm.eval_set, pm.spec, pm.reference_outputs, pm.random_zoo_weights)


# Reference outputs are cached like artifacts: the same reference artifact (or model file) on
# the same inputs gives the same outputs, and running a framework for them (TensorFlow: about
# 14 s on 2 cores for MobileNetV2) would otherwise come first in every run.
REFERENCE_STAGE = "reference_outputs"


def _reference_key(
    plan: Plan, compiler: Compiler, options: dict[str, Any], eval_set: EvalSet
) -> str:
    digest = hashlib.sha256()
    for array in eval_set.load():
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return cache_key(
        {
            "artifact": plan.final.key if plan.steps else plan.source_key,
            "compiler": compiler.name,
            "versions": package_versions(compiler.packages),
            "options": options,
            "inputs": digest.hexdigest(),
        }
    )


def _keep_reference(builder: ArtifactBuilder, key: str, outputs: Path, name: str) -> None:
    scratch = builder.cache.begin(REFERENCE_STAGE, key)
    shutil.copyfile(outputs, scratch / "outputs.npz")
    builder.cache.commit(REFERENCE_STAGE, key, scratch, "outputs.npz", {"reference": name})


__all__ = [
    "PreparedModel",
    "apply_input_shapes",
    "model_notes",
    "prepare_models",
    "prepare_references",
]
