"""One cell, as a pipeline of named stages: check, plan, convert, measure, score, explain.

Each stage reads what the stages before it found (a `CellOutcome`) and adds its own typed
result; a stage that ends the cell (a compiler that is missing, a precision it lacks, a failed
conversion or measurement) raises `CellFailure`, and the record keeps what was found up to
there. The record itself is built in one place (harness/record.py). A new feature of a cell is
a new stage here, not another branch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edgebench.accuracy.evaluation import fidelity_of, load_outputs, score
from edgebench.accuracy.metrics import non_finite_error
from edgebench.compilers import Compiler
from edgebench.conversion.routes import NoRoute, Plan
from edgebench.harness.build import ArtifactBuilder
from edgebench.harness.busy_host import QuietWaiter, measure_until_quiet
from edgebench.harness.jobs import (
    ExplainJob,
    ExplainResult,
    LoadGenSpec,
    MeasureJob,
    MeasureResult,
    RuntimeSpec,
    ScenarioSpec,
    TelemetrySpec,
)
from edgebench.harness.prepare import PreparedModel, preprocessing_note
from edgebench.harness.process import CellFailure, run_step
from edgebench.harness.record import CellIdentity, CellOutcome, build_record
from edgebench.harness.timing import StopRule
from edgebench.results import CellResult
from edgebench.settings import GridSettings
from edgebench.targets.base import Target, TargetError, TargetInfo
from edgebench.targets.local import LocalTarget


@dataclass(frozen=True)
class CellSpec:
    """One cell of a grid; `options` are the compiler's, checked and complete."""

    model: PreparedModel
    compiler: Compiler
    precision: str
    batch: int
    options: dict[str, Any]
    explain: bool
    target: Target = field(default_factory=LocalTarget)
    accelerator: str = "cpu"

    @property
    def label(self) -> str:
        where = "" if self.target.is_local else f" on {self.target.name}"
        on = "" if self.accelerator == "cpu" else f" {self.accelerator}"
        return (
            f"{self.model.spec.name} {self.compiler.name}{on} {self.precision} b{self.batch}{where}"
        )


@dataclass
class CellState:
    """What the stages of one cell hand each other besides the record's outcome."""

    outcome: CellOutcome
    plan: Plan | None = None
    device: TargetInfo | None = None  # the remote device, once reached
    outputs_path: Path | None = None
    ended: bool = False  # a stage ended the cell (failed, unsupported, skipped)


class CellPipeline:
    STAGES = ("check", "plan", "convert", "measure", "score", "explain")

    def __init__(
        self,
        settings: GridSettings,
        run_id: str,
        builder: ArtifactBuilder,
        workdir: Path,
        on_progress: Callable[[str], None] = lambda s: None,
        waiter: QuietWaiter | None = None,
    ) -> None:
        self.settings, self.run_id, self.builder = settings, run_id, builder
        self.workdir, self.on_progress = workdir, on_progress
        # Shared by every cell of the run (tune hands its own on to each candidate's pipeline)
        self.waiter = waiter or QuietWaiter(settings.quiet_wait_s, on_progress)

    def run(self, spec: CellSpec) -> CellResult:
        """Runs every stage of the cell and returns its record, whatever happened."""
        return self.finish(spec, self.run_stages(spec, self.STAGES))

    def run_stages(
        self, spec: CellSpec, stages: tuple[str, ...], state: CellState | None = None
    ) -> CellState:
        """Runs `stages` in order on a cell's state (a new one by default); a stage that ends
        the cell stops the rest. A fleet runs the first two on its client, the convert and
        measure stages on its workers, and the rest on the client again."""
        if state is None:
            state = CellState(CellOutcome())
            if spec.model.random_zoo_weights:
                state.outcome.warnings.append("random weights: speed-only figures, no accuracy")
        if state.ended:
            return state
        try:
            for stage in stages:
                getattr(self, f"_{stage}")(spec, state)
        except CellFailure as exc:
            self.fail(state, exc)
        return state

    @staticmethod
    def fail(state: CellState, exc: CellFailure) -> None:
        """Ends the cell with the failure's status and reason."""
        state.ended = True
        state.outcome.status, state.outcome.error = exc.status, str(exc)
        state.outcome.error_detail = exc.detail or None
        if exc.kind == "BackendUnavailable":
            state.outcome.error = f"unavailable: {exc}"

    def finish(self, spec: CellSpec, state: CellState) -> CellResult:
        """The record of a cell, from whatever its stages found."""
        if not spec.target.is_local:
            self._provenance(spec, state)
        return build_record(self.identity(spec), state.outcome)

    def _provenance(self, spec: CellSpec, state: CellState) -> None:
        """Where a remote cell ran: the device's own system info, and the target record
        (a fleet's worker brings its own, with the costs it saw)."""
        info = state.device or TargetInfo(spec.target.name, spec.target.kind, "?")
        if state.outcome.target is None:
            state.outcome.target = info.record(spec.target.last_costs())
        if state.device is not None and state.outcome.device is None:
            state.outcome.device = info.device
        if info.emulated:
            state.outcome.warnings.append(
                f"emulated: {spec.target.name} emulates its {info.arch} CPU; its timings are not "
                "comparable with native ones"
            )

    def identity(self, spec: CellSpec) -> CellIdentity:
        return CellIdentity(
            run_id=self.run_id,
            model=spec.model.spec.name,
            weights=spec.model.weights.name,
            compiler=spec.compiler.name,
            precision=spec.precision,
            batch_size=spec.batch,
            threads=self.settings.threads,
            options=spec.options,
            packages=spec.compiler.packages,
            scenario=self.settings.scenario,
            model_digest=spec.model.spec.digest,
            accelerator=spec.accelerator,
            preprocessing=preprocessing_note(spec.model.spec),
        )

    # --- the stages --------------------------------------------------------------------------
    def _check(self, spec: CellSpec, state: CellState) -> None:
        """Whether the compiler can build this model at this precision here, and (for a
        remote target) whether the device can be reached."""
        if not spec.target.is_local and state.device is None:  # a fleet sets it beforehand
            try:
                state.device = spec.target.info()
            except TargetError as exc:
                raise CellFailure(str(exc)) from None
        availability = spec.compiler.probe()
        if not availability.available:
            raise CellFailure(availability.reason, "BackendUnavailable")
        compiler, accelerator = spec.compiler, spec.accelerator
        if accelerator not in compiler.accelerators:
            raise CellFailure(
                f"{compiler.name} has no {accelerator} accelerator (it runs on "
                f"{', '.join(compiler.accelerators)})",
                "UnsupportedPrecision",
            )
        if spec.target.is_local:  # a device has accelerators of its own
            availability = compiler.probe_accelerator(accelerator, spec.options)
            if not availability.available:
                raise CellFailure(availability.reason, "BackendUnavailable")
        if spec.batch > 1 and not spec.model.spec.takes_batch:
            raise CellFailure(
                f"{spec.model.spec.name} declares every input's whole shape (no batch "
                f"dimension: {spec.model.spec.describe_inputs()}); it runs at batch 1 only",
                "UnsupportedPrecision",
            )
        src_fmt = spec.model.spec.source_format if spec.model.spec.path else "zoo"
        reason = spec.compiler.unsupported_reason(spec.model.spec, spec.precision, src_fmt)
        if reason is not None:
            raise CellFailure(reason, "UnsupportedPrecision")

    def _plan(self, spec: CellSpec, state: CellState) -> None:
        pm = spec.model
        try:
            state.plan = self.builder.plan(
                pm.spec, pm.weights, spec.compiler, spec.precision, spec.options, spec.batch,
                pm.calibration, state.device.device if state.device else None, spec.accelerator,
            )  # fmt: skip
        except NoRoute as exc:
            raise CellFailure(str(exc), "NoRoute") from None

    def _convert(self, spec: CellSpec, state: CellState) -> None:
        assert state.plan is not None
        self.on_progress(f"converting {spec.label}")
        state.outcome.built = self.builder.build(state.plan, spec.model.calibration)
        state.outcome.no_artifact = state.outcome.built is None
        if self.settings.cooldown_s > 0:
            self.on_progress(f"cooling down {self.settings.cooldown_s:g} s")
            time.sleep(self.settings.cooldown_s)

    def _measure(self, spec: CellSpec, state: CellState) -> None:
        self.on_progress(f"measuring {spec.label}")
        job = self.measure_job(spec, state)

        def measure() -> MeasureResult:
            return spec.target.measure(job, self.settings.cell_timeout_s, self.workdir)

        # A remote device's load is its own: this host's quiet says nothing about it
        retries = self.settings.busy_retries if spec.target.is_local else 0
        try:
            measured, windows, notes = measure_until_quiet(
                measure, retries, self.waiter, spec.label
            )
        except KeyboardInterrupt as exc:  # stopped while a busy cell waited: keep its window
            kept = getattr(exc, "kept_window", None)
            if kept is not None:
                state.outcome.measured, state.outcome.busy_windows, notes = kept
                state.outcome.warnings.extend([*notes, "not scored: the run was stopped"])
                state.outcome.status = "ok"
                exc.finished_cell = self.finish(spec, state)  # type: ignore[attr-defined]
            raise
        state.outcome.measured, state.outcome.busy_windows = measured, windows
        state.outcome.warnings.extend(notes)
        state.outcome.accelerator = measured.accelerator
        if measured.non_finite:  # the timings stay in the record; the cell is not ok
            raise CellFailure(non_finite_error(measured.non_finite, measured.output_values))
        state.outcome.status = "ok"

    def measure_job(self, spec: CellSpec, state: CellState) -> MeasureJob:
        """The measure step's job for a cell whose artifact is built (its outputs, for
        scoring, go to `state.outputs_path`)."""
        pm = spec.model
        scoring = pm.eval_set is not None and spec.compiler.runs_model
        if scoring:
            state.outputs_path = self.workdir / f"outputs-{id(state)}.npz"
        return MeasureJob(
            runtime=self.runtime_spec(spec, state),
            scenario=self.scenario(),
            seed=self.settings.seed,
            telemetry=TelemetrySpec(
                self.settings.power_hz, self.settings.power_cmd, self.settings.idle_s
            ),
            eval_path=str(pm.eval_set.path) if scoring and pm.eval_set else None,
            outputs_path=str(state.outputs_path) if state.outputs_path else None,
        )

    def _score(self, spec: CellSpec, state: CellState) -> None:
        """Accuracy against labels, and fidelity to the FP32 reference."""
        pm, outcome = spec.model, state.outcome
        if state.outputs_path is None or pm.eval_set is None:
            return
        outputs = load_outputs(state.outputs_path)
        state.outputs_path.unlink(missing_ok=True)
        outcome.accuracy = score(pm.eval_set, pm.spec, outputs, pm.random_zoo_weights)
        if pm.eval_set.dataset.labelled and pm.random_zoo_weights:
            outcome.score_warnings.append("no accuracy: random weights")
        rebuilt = state.plan is not None and state.plan.rebuilds_network
        if rebuilt and pm.weights.is_random:
            reason = "random weights of a network built anew differ from the reference's"
            outcome.fidelity = {"reference": pm.reference_name, "error": reason}
        elif pm.reference_outputs is None:
            if pm.reference_error:
                outcome.fidelity = {"reference": pm.reference_name, "error": pm.reference_error}
        else:
            outcome.fidelity = fidelity_of(
                pm.eval_set, pm.spec, outputs, pm.reference_outputs, pm.reference_name or "",
                pm.reference_accuracy, outcome.accuracy,
            )  # fmt: skip
            if outcome.fidelity.get("non_finite"):
                raise CellFailure(str(outcome.fidelity["error"]))

    def _explain(self, spec: CellSpec, state: CellState) -> None:
        """The explanation (and, with --ablate, the ablations); one that fails leaves the
        cell's measurement as it is, with the reason."""
        if not spec.explain:
            return
        if not spec.target.is_local:
            state.outcome.explanation = {
                "error": f"explain profiles on this host only: {spec.target.name} measured the "
                "cell; run `edgebench explain` without --target for its graph and op times"
            }
            return
        self.on_progress(f"explaining {spec.label}")
        built = state.outcome.built
        job = ExplainJob(
            runtime=self.runtime_spec(spec, state),
            precision=spec.precision,
            source_path=built.source_path if built else None,
            source_format=built.source_format if built else "",
            runs=self.settings.explain_runs,
            warmup=self.settings.stop_rule.warmup_runs,
            seed=self.settings.seed,
        )
        try:
            explanation = run_step(
                "explain", job, ExplainResult, self.settings.cell_timeout_s, self.workdir
            ).explanation
        except CellFailure as exc:
            explanation = {"error": f"explain failed: {exc}"}
        measured = state.outcome.measured
        if measured is not None and explanation.get("profile", {}).get("measured_ms"):
            explanation["cell_p50_ms"] = _median(measured.samples_ms)  # the unprofiled figure
        if self.settings.ablate:
            explanation["ablation"] = self._ablations(spec, state.outcome)
        state.outcome.explanation = explanation

    def _ablations(self, spec: CellSpec, outcome: CellOutcome) -> list[dict[str, Any]]:
        from edgebench.explain.ablation import ablation_row

        this = build_record(self.identity(spec), outcome)
        rows = []
        for ablation in spec.compiler.ablations(spec.precision, spec.options):
            self.on_progress(f"ablating {spec.label}: {ablation.change}")
            variant = replace(
                spec,
                precision=ablation.precision or spec.precision,
                options=spec.compiler.options({**spec.options, **ablation.options}),
                explain=False,
            )
            rows.append(ablation_row(ablation, this, self.run(variant)))
        return rows or [{"change": f"{spec.compiler.name} has no optimization to switch off here"}]

    # --- what the stages send to workers -------------------------------------------------------
    def runtime_spec(self, spec: CellSpec, state: CellState) -> RuntimeSpec:
        built = state.outcome.built
        return RuntimeSpec(
            compiler=spec.compiler.name,
            artifact_path=built.artifact_path if built else None,
            model=spec.model.spec,
            batch_size=spec.batch,
            threads=self.settings.threads,
            options=spec.options,
            accelerator=spec.accelerator,
            precision=spec.precision,
        )

    def scenario(self) -> ScenarioSpec:
        s = self.settings
        rule = StopRule(
            warmup_runs=s.stop_rule.warmup_runs,
            min_runs=s.stop_rule.min_runs,
            min_duration_s=s.min_duration_s(),
            max_runs=s.stop_rule.max_runs,
        )
        if s.scenario is not None:
            lg = s.loadgen
            loadgen = LoadGenSpec(
                s.scenario, lg.target_qps, lg.target_latency_ms, lg.samples_per_query, lg.log_dir
            )
            return ScenarioSpec("loadgen", rule, loadgen)
        return ScenarioSpec("sustained" if s.sustain_s else "loop", rule)


def _median(values: list[float]) -> float:
    from edgebench.stats import summarize

    return summarize(values).p50


__all__ = ["CellPipeline", "CellSpec", "CellState"]
