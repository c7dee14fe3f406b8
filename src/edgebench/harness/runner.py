"""Runs a grid of cells: validates everything first, then converts and measures cell by cell.

Bad input (an unknown name, missing weights, an unreadable model) fails before any work starts.
After that nothing stops the run: a cell that fails is recorded with its reason and the next
one runs, and every finished cell is handed to `on_cell` (the store) at once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import edgebench
from edgebench.accuracy.evaluation import (
    REFERENCE_COMPILER,
    EvalSet,
    build_eval_set,
    check_compatible,
    fidelity_of,
    load_outputs,
    score,
)
from edgebench.cache import ArtifactCache, default_cache_dir
from edgebench.compilers import PRECISIONS, Compiler, get_compiler, list_compilers
from edgebench.conversion.routes import NoRoute, Plan, plan
from edgebench.datasets import parse_dataset
from edgebench.errors import EdgebenchError, ModelLoadError, UnknownName, UsageError
from edgebench.harness.loadgen_driver import check_scenario
from edgebench.harness.noise import NOISY_PCT
from edgebench.harness.timing import StopRule
from edgebench.models import InputSpec, ModelSpec, parse_input_shapes, resolve_model
from edgebench.models.weights import ResolvedWeights, resolve_weights
from edgebench.results import TELEMETRY_FIELDS, CellResult, Status, drift
from edgebench.sysinfo import package_versions, system_info


class CellFailure(Exception):
    """A worker process failed; the message is the one-line reason recorded with the cell.

    `kind` is the worker's exception type: a compiler that finds, only once it runs, that it
    cannot build a precision (UnsupportedPrecision) or lacks its device (BackendUnavailable)
    makes an `unsupported` or `skipped` cell rather than a failed one.
    """

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind

    @property
    def status(self) -> Status:
        statuses: dict[str, Status] = {
            "UnsupportedPrecision": "unsupported",
            "NoRoute": "unsupported",
            "BackendUnavailable": "skipped",
        }
        return statuses.get(self.kind, "failed")


@dataclass
class RunConfig:
    models: list[str]
    compilers: list[str]
    precisions: list[str]
    batch_sizes: list[int] = field(default_factory=lambda: [1])
    threads: int = field(default_factory=lambda: len(os.sched_getaffinity(0)))  # usable cores
    weights: str = "pretrained"
    options: dict[str, Any] = field(default_factory=dict)
    stop_rule: StopRule = field(default_factory=StopRule)
    cell_timeout_s: float = 900.0
    cache_dir: Path = field(default_factory=default_cache_dir)
    calib_size: int = 100
    input_shape: str | None = None
    seed: int = 0
    dataset: str | None = None  # adds accuracy (with labels) and fidelity on real inputs
    limit: int | None = None  # samples of the dataset to use
    calib_dataset: str | None = None  # real INT8 calibration data instead of random inputs
    fidelity: bool = True  # compare every cell with the model's FP32 framework reference
    scenario: str | None = None  # an MLPerf LoadGen scenario instead of the harness's loop
    loadgen: dict[str, Any] = field(default_factory=dict)  # target_qps, target_latency_ms
    power_cmd: str | None = None  # an external meter: a command that prints watts
    power_hz: float = 10.0  # telemetry samples per second
    idle_s: float = 0.5  # idle baseline sampled before each cell (0: none)
    cooldown_s: float = 0.0  # pause between cells, to let clocks and temperatures settle
    sustain_s: float | None = None  # one long window per cell, reporting drift over it
    explain: bool = False  # `edgebench explain`: graphs, fusions, placement, op time per cell
    explain_runs: int = 20  # profiled runs per explained cell
    ablate: bool = False  # with explain: measure again with each optimization switched off

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cache_dir"] = str(self.cache_dir)
        return data


@dataclass
class PreparedModel:
    spec: ModelSpec
    weights: ResolvedWeights
    eval_set: EvalSet | None = None
    calibration: dict[str, Any] = field(default_factory=dict)
    reference_name: str | None = None
    reference_outputs: list[Any] | None = None
    reference_accuracy: dict[str, Any] | None = None
    reference_error: str | None = None

    @property
    def calibration_key(self) -> dict[str, Any]:
        """What identifies the calibration data in cache keys (not where its file lies)."""
        return {k: v for k, v in self.calibration.items() if k != "path"}


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(edgebench.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def _last_line(log: Path) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def run_worker(mode: str, job: dict[str, Any], timeout_s: float, workdir: Path) -> dict[str, Any]:
    """Runs one worker process and returns its result, or raises CellFailure with the reason."""
    fd, name = tempfile.mkstemp(dir=workdir, prefix=f"{mode}-", suffix=".json")
    os.close(fd)
    job_file = Path(name)
    result_file = job_file.with_suffix(".result.json")
    log_file = job_file.with_suffix(".log")
    job_file.write_text(json.dumps(job, default=str))
    cmd = [sys.executable, "-m", "edgebench.harness.worker", mode, str(job_file), str(result_file)]
    with open(log_file, "wb") as log:
        # A session of its own, so that a hang is killed with every thread and child it started.
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=_worker_env(), start_new_session=True
        )
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise CellFailure(f"timed out after {timeout_s:g} s (raise --cell-timeout)") from None
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    if result_file.is_file():
        result: dict[str, Any] = json.loads(result_file.read_text())
        if "error" in result:
            raise CellFailure(result["error"], result.get("kind", ""))
        if rc == 0:
            return result
    if rc < 0:
        sig = signal.Signals(-rc).name
        hint = " (out of memory?)" if sig == "SIGKILL" else ""
        tail = _last_line(log_file)
        raise CellFailure(f"worker killed by {sig}{hint}" + (f": {tail}" if tail else ""))
    raise CellFailure(f"worker exited with code {rc}: {_last_line(log_file)}")


def _check_names(config: RunConfig) -> None:
    for name in config.compilers:
        get_compiler(name)  # raises UnknownName with the valid list
    for precision in config.precisions:
        if precision not in PRECISIONS:
            raise UnknownName("precision", precision, PRECISIONS)
    if not config.batch_sizes or any(b < 1 for b in config.batch_sizes):
        raise UsageError("batch sizes must be whole numbers of at least 1")
    if config.threads < 1:
        raise UsageError("--threads must be at least 1")
    check_scenario(config.scenario)


def _apply_input_shapes(spec: ModelSpec, text: str) -> ModelSpec:
    shapes = parse_input_shapes(text)
    inputs = list(spec.inputs) or [InputSpec(name or "input", ()) for name, _ in shapes]
    if len(shapes) != len(inputs):
        raise UsageError(
            f"--input-shape gives {len(shapes)} shapes; {spec.name} has {len(inputs)} inputs"
        )
    named = {name: shape for name, shape in shapes if name}
    out = []
    for i, (inp, (_, shape)) in enumerate(zip(inputs, shapes, strict=True)):
        shape = named.get(inp.name, shape) if named else shapes[i][1]
        out.append(InputSpec(inp.name, tuple(shape), inp.dtype, inp.value_range))
    return spec.with_inputs(tuple(out))


class Runner:
    def __init__(
        self,
        config: RunConfig,
        run_id: str,
        on_cell: Callable[[CellResult], None] = lambda c: None,
        on_progress: Callable[[str], None] = lambda s: None,
        completed: Collection[tuple[Any, ...]] = (),
    ) -> None:
        self.config = config
        self.run_id = run_id
        self.on_cell = on_cell
        self.on_progress = on_progress
        self.completed = set(completed)  # resume_key()s of cells this run already holds
        self.cache = ArtifactCache(config.cache_dir)
        self._workdir = Path(tempfile.mkdtemp(prefix="edgebench-"))
        self._failed_plans: dict[str, tuple[str, str]] = {}

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Removes the run's scratch folder (jobs, logs, evaluation sets, outputs)."""
        shutil.rmtree(self._workdir, ignore_errors=True)

    # --- validation, before any work -------------------------------------------------------
    def prepare(self) -> list[PreparedModel]:
        """Checks every name and resolves every model and its weights; raises on bad input."""
        _check_names(self.config)
        self.config.cache_dir.mkdir(parents=True, exist_ok=True)
        prepared = []
        for name in self.config.models:
            spec = resolve_model(name)
            if spec.path is not None:
                spec = self._inspect(spec)
                weights = ResolvedWeights(f"file:{Path(spec.path or name).name}", None)
            else:
                requested = self.config.weights
                if requested == "pretrained":
                    if not spec.weights:
                        raise UsageError(
                            f"{spec.name} has no pretrained weights that edgebench can fetch; "
                            "pass --weights PATH, or --weights random for speed-only figures"
                        )
                    requested = spec.weights[0]
                weights = resolve_weights(spec, requested, self.config.cache_dir)
            prepared.append(PreparedModel(spec, weights))
        self._prepare_datasets(prepared)
        return prepared

    def _prepare_datasets(self, models: list[PreparedModel]) -> None:
        """Reads and preprocesses evaluation and calibration data: bad data fails here."""
        c = self.config
        dataset = parse_dataset(c.dataset).limited(c.limit) if c.dataset else None
        if dataset is None and c.fidelity:
            dataset = parse_dataset("synthetic:8")
        calib = parse_dataset(c.calib_dataset).limited(c.calib_size) if c.calib_dataset else None
        for i, pm in enumerate(models):
            pm.calibration = {"source": "random", "size": c.calib_size}
            if calib is not None:
                check_compatible(pm.spec, calib)
                cs = build_eval_set(pm.spec, calib, self._workdir, f"calib-{i}")
                pm.calibration = {"source": calib.spec, "size": cs.n, "path": str(cs.path)}
            if dataset is not None:
                check_compatible(pm.spec, dataset)
                pm.eval_set = build_eval_set(pm.spec, dataset, self._workdir, f"eval-{i}")

    def prepare_references(self, models: list[PreparedModel]) -> None:
        """Runs each model's FP32 framework reference on its evaluation set, before any cell.

        A reference that cannot run leaves fidelity empty with the reason; it is not fatal.
        """
        if not any(get_compiler(name).runs_model for name in self.config.compilers):
            return  # nothing in this run has model outputs to compare
        for pm in models:
            if pm.eval_set is None or not self.config.fidelity:
                continue
            src = pm.spec.source_format if pm.spec.path else "zoo"
            name = REFERENCE_COMPILER.get(src)
            pm.reference_name = f"{name} fp32" if name else None
            if name is None:
                pm.reference_error = f"no reference runtime for {src} models"
                continue
            compiler = get_compiler(name)
            if not compiler.probe().available:
                pm.reference_error = f"reference {name} unavailable: {compiler.probe().reason}"
                continue
            self.on_progress(f"reference outputs of {pm.spec.name} ({name} fp32)")
            cell = self._blank(pm, compiler, "fp32", 1)
            try:
                the_plan = plan(pm.spec, pm.weights, compiler, "fp32", cell.options, 1, {})
                converted = self._convert(the_plan, pm, compiler, "fp32", 1, cell)
                out = self._workdir / f"reference-{len(list(self._workdir.iterdir()))}.npz"
                run_worker(
                    "predict",
                    {
                        "model": pm.spec.to_dict(),
                        "compiler": name,
                        "artifact_path": converted.get("artifact_path"),
                        "batch_size": 1,
                        "threads": self.config.threads,
                        "options": cell.options,
                        "eval_path": str(pm.eval_set.path),
                        "outputs_path": str(out),
                    },
                    self.config.cell_timeout_s,
                    self._workdir,
                )
            except (CellFailure, NoRoute) as exc:
                pm.reference_error = f"reference {name} fp32 failed: {exc}"
                continue
            pm.reference_outputs = load_outputs(out)
            pm.reference_accuracy = score(
                pm.eval_set,
                pm.spec,
                pm.reference_outputs,
                pm.weights.is_random and pm.spec.path is None,
            )

    def _inspect(self, spec: ModelSpec) -> ModelSpec:
        if self.config.input_shape and spec.inputs:
            return _apply_input_shapes(spec, self.config.input_shape)
        try:
            found = run_worker(
                "inspect", {"path": spec.path, "format": spec.source_format}, 300, self._workdir
            )
        except CellFailure as exc:
            raise ModelLoadError(
                str(exc) if spec.path and spec.path in str(exc) else f"{spec.path}: {exc}"
            ) from None
        spec = spec.with_inputs(
            tuple(InputSpec(i["name"], tuple(i["shape"]), i["dtype"]) for i in found["inputs"])
        )
        if self.config.input_shape:
            return _apply_input_shapes(spec, self.config.input_shape)
        for inp in spec.inputs:
            if not inp.is_static:
                shown = "x".join("?" if d is None else str(d) for d in inp.shape)
                raise UsageError(
                    f"{spec.path}: input '{inp.name}' has a dynamic shape ({shown}); "
                    "give its per-sample shape with --input-shape, e.g. --input-shape 224,224,3"
                )
        return spec

    # --- the grid -----------------------------------------------------------------------
    def cells_total(self, models: list[PreparedModel]) -> int:
        return sum(1 for _ in self._todo(models))

    def _todo(self, models: list[PreparedModel]) -> Iterator[tuple[PreparedModel, str, str, int]]:
        """The grid's cells in order, less those the run already completed (a resumed run)."""
        c = self.config
        for pm in models:
            for cname in c.compilers:
                for precision in c.precisions:
                    for batch in c.batch_sizes:
                        key = (pm.spec.name, pm.weights.name, cname, precision, batch, c.threads)
                        if (*key, c.scenario) not in self.completed:
                            yield pm, cname, precision, batch

    def run(self, models: list[PreparedModel]) -> list[CellResult]:
        results = []
        for pm, cname, precision, batch in list(self._todo(models)):
            cell = self._cell(pm, get_compiler(cname), precision, batch)
            self.on_cell(cell)
            results.append(cell)
        return results

    def _blank(
        self,
        pm: PreparedModel,
        compiler: Compiler,
        precision: str,
        batch: int,
        options: dict[str, Any] | None = None,
    ) -> CellResult:
        return CellResult(
            run_id=self.run_id,
            model=pm.spec.name,
            weights=pm.weights.name,
            compiler=compiler.name,
            precision=precision,
            batch_size=batch,
            threads=self.config.threads,
            status="failed",
            system=system_info(),
            versions=package_versions(("numpy", *compiler.packages)),
            options=compiler.options(self.config.options if options is None else options),
            loadgen={"scenario": self.config.scenario} if self.config.scenario else None,
        )

    def _cell(
        self,
        pm: PreparedModel,
        compiler: Compiler,
        precision: str,
        batch: int,
        options: dict[str, Any] | None = None,
        explain: bool | None = None,
    ) -> CellResult:
        """Converts and measures one cell; `options` replace the run's (an ablation), and
        `explain` (default: the run's setting) adds the explanation of what was built."""
        cell = self._blank(pm, compiler, precision, batch, options)
        label = f"{pm.spec.name} {compiler.name} {precision} b{batch}"
        if pm.weights.is_random and pm.spec.path is None:
            cell.warnings.append("random weights: speed-only figures, no accuracy")
        availability = compiler.probe()
        if not availability.available:
            cell.status, cell.error = "skipped", f"unavailable: {availability.reason}"
            return cell
        src_fmt = pm.spec.source_format if pm.spec.path else "zoo"
        reason = compiler.unsupported_reason(pm.spec, precision, src_fmt)
        if reason is not None:
            cell.status, cell.error = "unsupported", reason
            return cell
        try:
            the_plan = plan(
                pm.spec, pm.weights, compiler, precision, cell.options, batch, pm.calibration_key
            )
        except NoRoute as exc:
            cell.status, cell.error = "unsupported", str(exc)
            return cell
        try:
            self.on_progress(f"converting {label}")
            converted = self._convert(the_plan, pm, compiler, precision, batch, cell)
            if self.config.cooldown_s > 0:
                self.on_progress(f"cooling down {self.config.cooldown_s:g} s")
                time.sleep(self.config.cooldown_s)
            self.on_progress(f"measuring {label}")
            outputs_path = self._workdir / f"outputs-{id(cell)}.npz"
            measured = run_worker(
                "measure",
                {
                    "model": pm.spec.to_dict(),
                    "compiler": compiler.name,
                    "artifact_path": converted.get("artifact_path"),
                    "batch_size": batch,
                    "threads": self.config.threads,
                    "options": cell.options,
                    "stop_rule": asdict(self.config.stop_rule),
                    "seed": self.config.seed,
                    "scenario": self.config.scenario,
                    "loadgen": self.config.loadgen,
                    "eval_path": str(pm.eval_set.path)
                    if pm.eval_set and compiler.runs_model
                    else None,
                    "outputs_path": str(outputs_path),
                    "telemetry": {
                        "hz": self.config.power_hz,
                        "power_cmd": self.config.power_cmd,
                        "idle_s": self.config.idle_s,
                    },
                },
                self.config.cell_timeout_s,
                self._workdir,
            )
        except CellFailure as exc:
            cell.status, cell.error = exc.status, str(exc)
            if exc.kind == "BackendUnavailable":
                cell.error = f"unavailable: {exc}"
            return cell
        cell.with_samples(measured["samples_ms"], batch, measured["window_s"])
        cell.status = "ok"
        cell.load_s = measured["load_s"]
        cell.first_inference_ms = measured["first_inference_ms"]
        cell.peak_rss_mb = measured["peak_rss_mb"]
        cell.noise_cpu_pct = measured["noise_cpu_pct"]
        cell.outputs = measured["outputs"]
        for name in TELEMETRY_FIELDS:
            setattr(cell, name, measured.get(name))
        cell.runtime_metrics = measured.get("runtime_metrics")
        compile_s = (cell.runtime_metrics or {}).get("compile_s")
        if compile_s:  # a JIT's compile on load (torch.compile) is conversion, not load, time
            cell.convert_s = (cell.convert_s or 0.0) + compile_s
            cell.load_s = max(0.0, (cell.load_s or 0.0) - compile_s)
        if cell.power_w is None and cell.power_source:
            cell.warnings.append(f"no power figures: {cell.power_source}")
        if cell.throttled:
            cell.warnings.append("throttled: the CPU ran below its top clock or hit a limit")
        if self.config.sustain_s:
            cell.drift = drift(
                cell.latency_samples_ms, (cell.telemetry or {}).get("power_series_w")
            )
        if measured.get("loadgen"):  # LoadGen's samples/s is the scenario's throughput
            cell.loadgen = measured["loadgen"]
            cell.throughput_ips = cell.loadgen.get("samples_per_s") or cell.throughput_ips
        if pm.eval_set is not None and compiler.runs_model:
            self._score(pm, cell, load_outputs(outputs_path), the_plan.rebuilds_network)
            outputs_path.unlink(missing_ok=True)
        if cell.noise_cpu_pct is not None and cell.noise_cpu_pct > NOISY_PCT:
            cell.warnings.append(
                f"noisy: other processes used {cell.noise_cpu_pct:.0f}% of the CPU while timed"
            )
        if self.config.explain if explain is None else explain:
            self._explain(pm, compiler, cell, converted)
        return cell

    def _explain(
        self, pm: PreparedModel, compiler: Compiler, cell: CellResult, converted: dict[str, Any]
    ) -> None:
        """Adds the explanation (and, with --ablate, the ablations) to a measured cell. An
        explanation that fails leaves the cell's measurement as it is, with the reason."""
        label = f"{cell.model} {compiler.name} {cell.precision} b{cell.batch_size}"
        self.on_progress(f"explaining {label}")
        try:
            cell.explain = run_worker(
                "explain",
                {
                    "model": pm.spec.to_dict(),
                    "compiler": compiler.name,
                    "artifact_path": converted.get("artifact_path"),
                    "source_path": converted.get("source_path"),
                    "source_format": converted.get("source_format", ""),
                    "precision": cell.precision,
                    "batch_size": cell.batch_size,
                    "threads": self.config.threads,
                    "options": cell.options,
                    "runs": self.config.explain_runs,
                    "warmup": self.config.stop_rule.warmup_runs,
                    "seed": self.config.seed,
                },
                self.config.cell_timeout_s,
                self._workdir,
            )
        except CellFailure as exc:
            cell.explain = {"error": f"explain failed: {exc}"}
        if cell.latency_ms is not None and (cell.explain or {}).get("profile", {}).get(
            "measured_ms"
        ):
            cell.explain["cell_p50_ms"] = cell.latency_ms.p50  # the unprofiled figure beside it
        if self.config.ablate:
            from edgebench.explain.ablation import ablation_row

            rows = []
            for ablation in compiler.ablations(cell.precision, cell.options):
                self.on_progress(f"ablating {label}: {ablation.change}")
                variant = self._cell(
                    pm,
                    compiler,
                    ablation.precision or cell.precision,
                    cell.batch_size,
                    options={**cell.options, **ablation.options},
                    explain=False,
                )
                rows.append(ablation_row(ablation, cell, variant))
            if not rows:
                rows = [{"change": f"{compiler.name} has no optimization to switch off here"}]
            cell.explain["ablation"] = rows

    def _score(
        self, pm: PreparedModel, cell: CellResult, outputs: list[Any], rebuilt: bool = False
    ) -> None:
        assert pm.eval_set is not None
        random_weights = pm.weights.is_random and pm.spec.path is None
        cell.accuracy = score(pm.eval_set, pm.spec, outputs, random_weights)
        if pm.eval_set.dataset.labelled and random_weights:
            cell.warnings.append("no accuracy: random weights")
        if rebuilt and pm.weights.is_random:
            reason = "random weights of a network built anew differ from the reference's"
            cell.fidelity = {"reference": pm.reference_name, "error": reason}
            return
        if pm.reference_outputs is None:
            if pm.reference_error:
                cell.fidelity = {"reference": pm.reference_name, "error": pm.reference_error}
            return
        cell.fidelity = fidelity_of(
            pm.eval_set,
            pm.spec,
            outputs,
            pm.reference_outputs,
            pm.reference_name or "",
            pm.reference_accuracy,
            cell.accuracy,
        )

    def _convert(
        self,
        the_plan: Plan,
        pm: PreparedModel,
        compiler: Compiler,
        precision: str,
        batch: int,
        cell: CellResult,
    ) -> dict[str, Any]:
        if not the_plan.needs_artifact:
            cell.convert_s, cell.model_size_mb, cell.cache_hit = 0.0, 0.0, True
            return {}
        if the_plan.final.key in self._failed_plans:
            raise CellFailure(*self._failed_plans[the_plan.final.key])
        if the_plan.cached(self.cache) is not None:
            converted = the_plan.describe(self.cache)
            cell.cache_hit = True
        else:
            try:
                converted = run_worker(
                    "convert",
                    {
                        "model": pm.spec.to_dict(),
                        "weights": asdict(pm.weights),
                        "compiler": compiler.name,
                        "precision": precision,
                        "options": cell.options,
                        "batch_size": batch,
                        "cache_dir": str(self.config.cache_dir),
                        "calibration": pm.calibration,
                        "seed": self.config.seed,
                    },
                    self.config.cell_timeout_s,
                    self._workdir,
                )
            except CellFailure as exc:
                reason = str(exc) if exc.status != "failed" else f"conversion failed: {exc}"
                self._failed_plans[the_plan.final.key] = (reason, exc.kind)
                raise CellFailure(reason, exc.kind) from None
            cell.cache_hit = not any(not s["cached"] for s in converted["steps"])
        cell.artifact_path = converted["artifact_path"]
        cell.model_size_mb = round(converted["size_bytes"] / 2**20, 3)
        cell.convert_steps = converted["steps"]
        cell.convert_s = round(sum(s["seconds"] for s in converted["steps"]), 3)
        cell.warnings.extend(converted["warnings"])
        cell.artifact_info = converted.get("info", {})
        return converted


def resume_key(cell: CellResult) -> tuple[Any, ...]:
    """What identifies a cell when a run is resumed: its key() and its LoadGen scenario."""
    return (*cell.key(), (cell.loadgen or {}).get("scenario"))


def available_compilers() -> list[str]:
    return [c.name for c in list_compilers() if c.name != "null" and c.probe().available]


__all__ = [
    "CellFailure",
    "EdgebenchError",
    "RunConfig",
    "Runner",
    "available_compilers",
    "resume_key",
]
