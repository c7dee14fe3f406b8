"""The settings of a grid of cells, declared once.

`GridSettings` says what one grid measures (models x compilers x precisions x batch sizes) and
how: stop rule, telemetry, LoadGen, data, calibration, timeouts, threads. Each field declares its
default, its one line of help and its command-line flag here, and nowhere else:

- `edgebench run` and `edgebench explain` build their options from these fields (cli/common.py);
- a suite's grids are these models, with the field names as keys (suites/);
- the Python API builds one directly and hands it to the runner:

      from edgebench.settings import GridSettings
      grid = GridSettings(models=["mobilenet_v2"], compilers=["tflite"], precisions=["int8"])

Validation checks types and ranges, and every name against its registry (models, compilers,
precisions, scenarios, datasets, weights and each compiler's options), so a bad grid fails with
the place of its first problem before any work starts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from edgebench.errors import EdgebenchError, UnknownName, UsageError

COMMANDS = ("run", "explain", "tune")  # the commands whose options come from these declarations


def setting(
    default: Any = ...,
    help: str = "",
    *,
    flag: str | None,
    short: str | None = None,
    commands: tuple[str, ...] = COMMANDS,
    negatable: bool = False,
    default_factory: Callable[[], Any] | None = None,
    cli_default: Callable[[], Any] | None = None,
    **constraints: Any,
) -> Any:
    """A field with its command-line form: `flag` (None: suites and the API only), a short
    flag, the commands that offer it, whether a boolean has a `--no-` form, and, for a
    required field, what the command line takes when the flag is left out (`cli_default`)."""
    extra: Any = {
        "flag": flag,
        "short": short,
        "commands": commands,
        "negatable": negatable,
        "cli_default": cli_default,
    }
    if default_factory is not None:
        return Field(
            default_factory=default_factory,
            description=help,
            json_schema_extra=extra,
            **constraints,
        )
    return Field(default, description=help, json_schema_extra=extra, **constraints)


def usable_cores() -> int:
    return len(os.sched_getaffinity(0))


def _default_cache_dir() -> Path:
    from edgebench.cache import default_cache_dir

    return default_cache_dir()


def _default_busy_retries() -> int:
    """EDGEBENCH_BUSY_RETRIES (a test suite, or a CI host that is busy for good, sets 0)."""
    text = os.environ.get("EDGEBENCH_BUSY_RETRIES", "").strip()
    if not text:
        return 1
    if not text.isdigit() or int(text) > 10:
        raise UsageError(f"EDGEBENCH_BUSY_RETRIES={text!r}: give a whole number from 0 to 10")
    return int(text)


def _available_compilers() -> list[str]:
    from edgebench.compilers import available_compiler_names

    return available_compiler_names()


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class StopRuleSettings(_Settings):
    """When a cell has been measured enough: at least `min_runs` AND `min_duration_s`."""

    warmup_runs: int = setting(5, "Untimed runs before the timed window.", flag="--warmup", ge=0)
    min_runs: int = setting(20, "Timed runs, at least.", flag="--min-runs", ge=1)
    min_duration_s: float = setting(
        2.0, "Seconds of timed runs, at least.", flag="--min-duration", ge=0
    )
    max_runs: int = setting(
        100_000, "Timed runs, at most (caps very fast cells).", flag="--max-runs", ge=1
    )

    @model_validator(mode="after")
    def _max_not_below_min(self) -> StopRuleSettings:
        if self.max_runs < self.min_runs:
            raise ValueError(
                f"max_runs ({self.max_runs}) is less than min_runs ({self.min_runs}): the timed "
                "window could never reach its minimum (--max-runs and --min-runs contradict)"
            )
        return self


class LoadGenSettings(_Settings):
    """MLPerf LoadGen's targets, for grids with a `scenario`."""

    target_qps: float | None = setting(
        None,
        "LoadGen: server target QPS / offline expected QPS \\[default: from the warm-up].",
        flag="--target-qps",
        gt=0,
    )
    target_latency_ms: float | None = setting(
        None,
        "LoadGen: target (server) or expected latency, ms \\[default: from the warm-up].",
        flag="--target-latency",
        gt=0,
    )
    samples_per_query: int | None = setting(
        None,
        "LoadGen multi-stream: samples per query \\[default: 8].",
        flag="--samples-per-query",
        ge=1,
    )
    log_dir: str | None = setting(
        None, "Keep LoadGen's own logs in this folder.", flag="--loadgen-log-dir"
    )


# --- names, checked against their registries (with the item's place in the error) ----------
def _check_model(name: str, info: ValidationInfo) -> str:
    from edgebench.models import looks_like_path, resolve_model

    name = name.strip()
    base = (info.context or {}).get("base_dir")
    if base is not None and looks_like_path(name) and not Path(name).expanduser().is_absolute():
        candidate = Path(base) / name
        if candidate.exists():
            name = str(candidate)
    try:
        resolve_model(name)
    except EdgebenchError as exc:
        raise ValueError(str(exc)) from None
    return name


def _check_compiler(name: str) -> str:
    from edgebench.compilers import get_compiler

    if name == "*" or name.endswith("?"):  # every CPU compiler; an optional one
        return name
    try:
        get_compiler(name)
    except UnknownName as exc:
        raise ValueError(str(exc)) from None
    return name


def _check_precision(name: str) -> str:
    from edgebench.compilers import PRECISIONS

    if name != "*" and name not in PRECISIONS:
        raise ValueError(str(UnknownName("precision", name, PRECISIONS)))
    return name


def _check_accelerator(name: str) -> str:
    from edgebench.compilers import ACCELERATORS

    if name not in ACCELERATORS:
        raise ValueError(str(UnknownName("accelerator", name, ACCELERATORS)))
    return name


def _check_dataset(spec: str | None) -> str | None:
    if spec is None:
        return None
    from edgebench.datasets import parse_dataset

    try:
        parse_dataset(spec)
    except EdgebenchError as exc:
        raise ValueError(str(exc)) from None
    return spec


def _check_target(name: str) -> str:
    from edgebench.targets.config import resolve_entry

    if name != "local":
        try:
            resolve_entry(name)
        except EdgebenchError as exc:
            raise ValueError(str(exc)) from None
    return name


ModelName = Annotated[str, AfterValidator(_check_model)]
TargetName = Annotated[str, AfterValidator(_check_target)]
CompilerName = Annotated[str, AfterValidator(_check_compiler)]
PrecisionName = Annotated[str, AfterValidator(_check_precision)]
AcceleratorName = Annotated[str, AfterValidator(_check_accelerator)]
DatasetSpec = Annotated[str | None, AfterValidator(_check_dataset)]


def _as_list(value: Any) -> Any:
    """A scalar where a list is expected is a list of one (`batch_sizes: 8`)."""
    return value if isinstance(value, list) or value is None else [value]


class GridSettings(_Settings):
    """One grid of cells and how each is measured. See the module docstring."""

    name: str | None = setting(None, "The grid's name (suites).", flag=None)
    models: list[ModelName] = setting(
        help="Zoo names, corpus:NAME, or model files (.keras, .tflite, .onnx, .pt2, .pt, a "
        "SavedModel folder), comma separated.",
        flag="--model",
        short="-m",
    )
    compilers: list[CompilerName] = setting(
        help="Compilers, comma separated; '*' for every CPU compiler \\[default: all available].",
        flag="--compiler",
        short="-c",
        cli_default=_available_compilers,
    )
    precisions: list[PrecisionName] = setting(
        ["fp32"],
        "fp32, fp16, bf16, int8-dynamic, int8 (calibrated), best (TensorRT); '*' for each "
        "compiler's own.",
        flag="--precision",
        short="-p",
    )
    batch_sizes: list[int] = setting(
        [1], "Batch sizes, comma separated.", flag="--batch", short="-b"
    )
    accelerators: list[AcceleratorName] | None = setting(
        None,
        "What runs each model: cpu, gpu, npu, comma separated \\[default: each compiler's own: "
        "the CPU; TensorRT's GPU].",
        flag="--accelerator",
        short="-a",
    )
    threads: int = setting(
        help="Threads per runtime \\[default: all usable cores].",
        flag="--threads",
        short="-t",
        default_factory=usable_cores,
        ge=1,
    )
    weights: str = setting(
        "pretrained",
        "pretrained (the model's own), random (speed only), or a weights file.",
        flag="--weights",
    )
    options: dict[str, Any] = setting(
        {},
        "A compiler option KEY=VALUE, repeatable (`edgebench compiler show NAME` lists them).",
        flag="--option",
        short="-o",
    )
    input_shape: str | None = setting(
        None,
        "Input shape(s) of a model file with dynamic inputs, e.g. 224,224,3 (per sample) or "
        "state=2x1x128 (an input without a batch dimension: whole).",
        flag="--input-shape",
    )
    input_range: str | None = setting(
        None,
        "LO,HI: a model file's image input is fed pixels scaled to this range (e.g. 0,1 or "
        "-1,1), in place of what its metadata says or edgebench's default [0, 1].",
        flag="--input-range",
    )
    input_mean: str | None = setting(
        None,
        "Mean(s) subtracted from 0-255 pixels for a model file's image input, one or one per "
        "channel (with --input-std): (pixel - mean) / std.",
        flag="--input-mean",
    )
    input_std: str | None = setting(
        None,
        "Standard deviation(s) that 0-255 pixels are divided by (with --input-mean).",
        flag="--input-std",
    )
    input_value: str | None = setting(
        None,
        "Values for a model's control inputs, NAME=number[,NAME=number] (e.g. sr=16000); "
        "other inputs get random data in their range.",
        flag="--input-value",
    )
    stop_rule: StopRuleSettings = Field(default_factory=StopRuleSettings)
    cell_timeout_s: float = setting(
        900.0,
        "Seconds before a conversion or measurement is killed and recorded as failed.",
        flag="--cell-timeout",
        gt=0,
    )
    calib_size: int = setting(100, "Calibration samples for int8.", flag="--calib-size", ge=1)
    calib_dataset: DatasetSpec = setting(
        None, "Real int8 calibration data (same kinds as --dataset).", flag="--calib-dataset"
    )
    dataset: DatasetSpec = setting(
        None,
        "Accuracy and fidelity data: samples, photos, imagenet:PATH, coco:PATH, folder:PATH, "
        "synthetic[:N].",
        flag="--dataset",
    )
    limit: int | None = setting(
        None, "Use only the first N samples of --dataset.", flag="--limit", ge=1
    )
    fidelity: bool = setting(
        True, "Compare each cell with the FP32 reference.", flag="--fidelity", negatable=True
    )
    seed: int = setting(0, "Seed of the random inputs.", flag="--seed", ge=0, lt=2**32)
    scenario: str | None = setting(
        None,
        "MLPerf LoadGen scenario instead of the harness's loop: single-stream, multi-stream, "
        "server, offline (--min-runs and --min-duration become LoadGen's minimums).",
        flag="--scenario",
        commands=("run",),
    )
    loadgen: LoadGenSettings = Field(default_factory=LoadGenSettings)
    power_cmd: str | None = setting(
        None,
        "External power meter: a command that prints watts (USB meters, labs).",
        flag="--power-cmd",
        commands=("run", "tune"),
    )
    power_hz: float = setting(
        10.0,
        "Power and thermal samples per second.",
        flag="--power-hz",
        commands=("run", "tune"),
        gt=0,
    )
    idle_s: float = setting(
        0.5,
        "Seconds of idle power sampled before each cell (0: none).",
        flag="--idle-s",
        commands=("run", "tune"),
        ge=0,
    )
    cooldown_s: float = setting(0.0, "Seconds to pause between cells.", flag="--cooldown-s", ge=0)
    busy_retries: int = setting(
        help="Times a cell timed while other processes took the CPU (or the host's speed "
        "moved) is measured again once the host is quiet; every window is kept, the quietest "
        "counts (0: never) \\[default: $EDGEBENCH_BUSY_RETRIES when set, else 1].",
        flag="--busy-retries",
        default_factory=_default_busy_retries,
        ge=0,
        le=10,
    )
    quiet_wait_s: float = setting(
        30.0,
        "Seconds a busy cell waits for a quiet host before it is measured again; after three "
        "such waits in vain the run stops waiting.",
        flag="--quiet-wait",
        ge=0,
    )
    sustain_s: float | None = setting(
        None,
        "Run each cell this long and report latency and power drift over it.",
        flag="--sustain-s",
        commands=("run",),
        gt=0,
    )
    explain: bool = setting(False, "Explain each cell (what `edgebench explain` does).", flag=None)
    explain_runs: int = setting(
        20, "Profiled runs per cell.", flag="--runs", commands=("explain",), ge=1
    )
    ablate: bool = setting(
        False,
        "Measure each cell again with each optimization switched off or stepped down "
        "(XNNPACK, graph optimization levels, OpenVINO hint and precision, TVM tuning, "
        "inductor freezing) and report what each accounts for.",
        flag="--ablate",
        commands=("explain",),
    )
    targets: list[TargetName] = setting(
        ["local"],
        "Where cells are measured: local, a name from `edgebench target add`, or "
        "ssh://user@host[:port] / adb://SERIAL; comma separated, each cell on each.",
        flag="--target",
    )
    cache_dir: Annotated[Path, Field(strict=False)] = setting(
        help="Artifact cache \\[default: $EDGEBENCH_CACHE when set, else ~/.cache/edgebench].",
        flag="--cache-dir",
        default_factory=_default_cache_dir,
    )

    @field_validator(
        "models", "compilers", "precisions", "batch_sizes", "targets", "accelerators", mode="before"
    )
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("compilers", mode="before")
    @classmethod
    def _null_compiler(cls, value: Any) -> Any:
        # Unquoted `null` in a YAML list is None: in a list of compilers it can only mean the
        # compiler named null.
        return [("null" if v is None else v) for v in value] if isinstance(value, list) else value

    @field_validator("models")
    @classmethod
    def _some_model(cls, value: list[str]) -> list[str]:
        if not value or any(not m for m in value):
            raise ValueError("names no model (give zoo names or model files, comma separated)")
        return value

    @field_validator("compilers")
    @classmethod
    def _some_compiler(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("no compiler is available here; see `edgebench list compilers`")
        return value

    @field_validator("precisions")
    @classmethod
    def _star_alone(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("names no precision")
        if "*" in value and len(value) > 1:
            raise ValueError("'*' stands alone")
        return value

    @field_validator("batch_sizes")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if not value or any(b < 1 for b in value):
            raise ValueError("batch sizes must be whole numbers of at least 1")
        return value

    @field_validator("weights")
    @classmethod
    def _known_weights(cls, value: str, info: ValidationInfo) -> str:
        from edgebench.models import resolve_model

        if value in ("pretrained", "random") or Path(value).expanduser().is_file():
            return value
        names = {w for m in info.data.get("models", []) for w in resolve_model(m).weights}
        if value in names:
            return value
        if "/" in value or Path(value).suffix:
            raise ValueError(f"'{value}': no such weights file")
        offered = ", ".join(["pretrained", "random", *sorted(names), "a file path"])
        raise ValueError(f"unknown weights '{value}'; valid: {offered}")

    @field_validator("options")
    @classmethod
    def _known_options(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        from edgebench.compilers import get_compiler
        from edgebench.compilers.options import check_options

        names = expand_compilers(info.data.get("compilers", []))[0]
        try:
            check_options([get_compiler(n) for n in names], value)
        except EdgebenchError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("power_cmd")
    @classmethod
    def _meter_program(cls, value: str | None) -> str | None:
        from edgebench.telemetry.meters import meter_argv

        if value is not None:
            meter_argv(value)  # its ValueError names what is wrong
        return value

    @model_validator(mode="after")
    def _accelerators_agree_with_options(self) -> GridSettings:
        """`--accelerator gpu` runs torch with device=cuda: `-o device=cpu` contradicts it."""
        from edgebench.compilers import get_compiler

        for name in self.compiler_names():
            compiler = get_compiler(name)
            for accelerator in self.accelerators or ():
                if accelerator not in compiler.accelerators:
                    continue
                for key, value in compiler.accelerator_options(accelerator).items():
                    if key in self.options and compiler.option(key).parse(
                        self.options[key]
                    ) != compiler.option(key).parse(value):
                        raise ValueError(
                            f"--accelerator {accelerator} runs {name} with {key}={value}, but "
                            f"the option {key}={self.options[key]} says otherwise"
                        )
        return self

    def accelerators_of(self, compiler: Any) -> list[str]:
        """The accelerators a compiler's cells run on: those asked for, else its own."""
        if self.accelerators:
            return list(dict.fromkeys(self.accelerators))
        return [compiler.accelerator_of(compiler.options(self.options))]

    @model_validator(mode="after")
    def _usable_cache_dir(self) -> GridSettings:
        from edgebench.cache import check_cache_dir

        try:
            check_cache_dir(self.cache_dir, given="cache_dir" in self.model_fields_set)
        except EdgebenchError as exc:
            raise ValueError(str(exc)) from None
        return self

    @field_validator("scenario")
    @classmethod
    def _loadgen_installed(cls, value: str | None) -> str | None:
        from edgebench.harness.loadgen_driver import check_scenario

        try:
            check_scenario(value)
        except EdgebenchError as exc:
            raise ValueError(str(exc)) from None
        return value

    # --- what the runner reads -------------------------------------------------------------
    def compiler_names(self) -> list[str]:
        """The compilers after expanding `*` and leaving out unknown optional (`name?`) ones."""
        return expand_compilers(self.compilers)[0]

    def notes(self) -> list[str]:
        """What the expansion left out, and why; the program a power meter runs (a suite may
        come from someone else: what it runs is shown before it runs)."""
        notes = expand_compilers(self.compilers)[1]
        if self.power_cmd:
            notes.append(
                f"runs the program {self.power_cmd!r} (no shell) {self.power_hz:g} times a "
                "second while each cell is timed, to read power (power_cmd)"
            )
        return notes

    def precisions_of(self, compiler: str) -> list[str]:
        """The precisions measured under `compiler` (`*`: its own, except TensorRT's best)."""
        if self.precisions == ["*"]:
            from edgebench.compilers import get_compiler

            return [p for p in get_compiler(compiler).precisions if p != "best"]
        return list(dict.fromkeys(self.precisions))  # a repeated one is measured once

    def min_duration_s(self) -> float:
        """A sustained window replaces the stop rule's minimum duration."""
        return self.sustain_s if self.sustain_s else self.stop_rule.min_duration_s

    def n_cells(self) -> int:
        from edgebench.compilers import get_compiler

        per_model = sum(
            len(self.precisions_of(c)) * len(self.accelerators_of(get_compiler(c)))
            for c in self.compiler_names()
        )
        batches = len(dict.fromkeys(self.batch_sizes))
        return len(self.models) * per_model * batches * len(dict.fromkeys(self.targets))

    def stored(self) -> dict[str, Any]:
        """The settings as the store keeps them with a run."""
        return self.model_dump(mode="json")


def expand_compilers(names: list[str]) -> tuple[list[str], list[str]]:
    """`*` as every CPU compiler but `null`, and `name?` as `name` where this edgebench has it
    (left out with a note otherwise); duplicates dropped."""
    from edgebench.compilers import get_compiler, list_compilers

    out: list[str] = []
    notes: list[str] = []
    for name in names:
        if name == "*":
            cpu = [c.name for c in list_compilers() if c.name != "null" and "cpu" in c.accelerators]
            out.extend(n for n in cpu if n not in out)
            continue
        bare = name.rstrip("?")
        try:
            get_compiler(bare)
        except UnknownName:
            notes.append(f"compiler {bare} is not part of this edgebench: left out")
            continue
        if bare not in out:
            out.append(bare)
    return out, notes


def leaf_fields(
    model: type[BaseModel] = GridSettings, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every setting as (path, pydantic FieldInfo), nested models walked through."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from leaf_fields(annotation, (*prefix, name))
        else:
            yield (*prefix, name), field


def flag_of(path: tuple[str, ...]) -> str | None:
    """The command-line flag of a setting, by its path (None for suite-only settings)."""
    for p, field in leaf_fields():
        if p == path:
            return (field.json_schema_extra or {}).get("flag")
    return None


def shown_default(path: tuple[str, ...], field: Any) -> str:
    """A setting's default as a reader should see it."""
    extra = field.json_schema_extra or {}
    if field.is_required():
        return "all available" if extra.get("cli_default") else "required"
    if field.default_factory is not None:
        computed: dict[tuple[str, ...], str] = {
            ("threads",): "usable cores",
            ("cache_dir",): "$EDGEBENCH_CACHE, else ~/.cache/edgebench",
            ("busy_retries",): "$EDGEBENCH_BUSY_RETRIES, else 1",
        }
        return computed.get(path, "computed")
    value = field.default
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "-" if value is None or value == {} else str(value)


def markdown_keys() -> str:
    """Every suite key with its `run` flag, default and help, as a Markdown table (the README
    shows it; a test keeps the two the same)."""
    rows = ["| key | `run` flag | default | meaning |", "| --- | --- | --- | --- |"]
    for path, field in leaf_fields():
        extra = field.json_schema_extra or {}
        flag = extra.get("flag")
        if flag and "run" not in extra.get("commands", ()):
            flag = f"{flag} (explain)"
        default = shown_default(path, field)
        help_text = str(field.description or "").replace("\\[", "[").replace("|", "\\|")
        rows.append(
            f"| `{'.'.join(path)}` | {f'`{flag}`' if flag else '-'} | {default} | {help_text} |"
        )
    return "\n".join(rows) + "\n"


__all__ = [
    "GridSettings",
    "LoadGenSettings",
    "StopRuleSettings",
    "expand_compilers",
    "flag_of",
    "leaf_fields",
    "markdown_keys",
    "setting",
    "usable_cores",
]
