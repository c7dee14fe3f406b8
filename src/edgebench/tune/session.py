"""A tune on the harness: one stored run whose cells are the search's measurements.

The model, its weights and data are prepared once, as for `edgebench run` (bad input fails
before any work); each candidate is then a cell through the same pipeline, with its own thread
count, batch size, options and stop rule, stored as soon as it is measured. A candidate that an
earlier run on this host already measured with the same versions, settings and at least as
long a window is copied into this run (marked as reused) instead of being measured again;
conversions come from the artifact cache as for any run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgebench.compilers import Compiler, get_compiler
from edgebench.conversion.weight_optimization import check_model as check_weight_optimization
from edgebench.errors import EdgebenchError, UsageError
from edgebench.harness.prepare import PreparedModel
from edgebench.harness.side_by_side import can_time, time_side_by_side
from edgebench.models import ModelSpec
from edgebench.paired import PairedRatio
from edgebench.results import CellResult, cell_key, options_key
from edgebench.settings import GridSettings, StopRuleSettings
from edgebench.tune.search import (
    PAIRED_EFFECT,
    BudgetTooSmall,
    Candidate,
    Space,
    Trial,
    Tuner,
    TuneResult,
    build_space,
    check_objective,
)

THROUGHPUT_BATCHES = (1, 8)  # tried for throughput and energy unless --batch gives others


@dataclass
class TuneRun:
    run_id: str
    model: PreparedModel
    settings: GridSettings
    result: TuneResult
    skipped: list[str]  # compilers left out, with the reason


def tune_settings(settings: GridSettings) -> GridSettings:
    """The grid settings a tune runs with: one model; real images for int8 calibration and
    for the accuracy check where the model is an ImageNet classifier and none were given."""
    from edgebench.models import resolve_model

    if len(settings.models) != 1:
        raise UsageError(f"tune takes one --model, not {len(settings.models)}")
    if len(dict.fromkeys(settings.targets)) != 1:
        raise UsageError("tune takes one --target (tune each device on its own)")
    if settings.scenario is not None:
        raise UsageError("tune measures with the harness's loop: leave out --scenario")
    spec = resolve_model(settings.models[0])
    update: dict[str, Any] = {}
    imagenet = spec.task == "classification" and spec.label_set.startswith("imagenet")
    if imagenet and settings.weights != "random":
        if settings.dataset is None:
            update["dataset"] = "samples"
        if settings.calib_dataset is None:
            update["calib_dataset"] = "samples"
    return settings.model_copy(update=update)


def searched_compilers(settings: GridSettings) -> tuple[list[Compiler], list[str]]:
    """The chosen compilers that can run here and produce outputs; the others with why."""
    chosen, skipped = [], []
    for name in settings.compiler_names():
        compiler = get_compiler(name)
        availability = compiler.probe()
        if not compiler.runs_model:
            continue
        if not availability.available:
            skipped.append(f"{name}: unavailable: {availability.reason}")
            continue
        chosen.append(compiler)
    if not chosen:
        raise UsageError(
            "no compiler to tune with: " + ("; ".join(skipped) or "none chosen can run a model")
        )
    return chosen, skipped


def thread_counts(most: int) -> list[int]:
    """1, 2, 4, ... up to `most`, and `most` itself."""
    counts, t = [], 1
    while t < most:
        counts.append(t)
        t *= 2
    return [*counts, most]


def batch_sizes(settings: GridSettings, objective: str) -> list[int]:
    """Batch 1 for latency and size; for throughput and energy, --batch when it gives more
    than batch 1, else 1 and 8."""
    if objective not in ("throughput", "energy"):
        return [1]
    given = list(dict.fromkeys(settings.batch_sizes))
    return given if given != [1] else list(THROUGHPUT_BATCHES)


class PriorCells:
    """Cells that earlier runs in the store measured on this host with these versions."""

    def __init__(self, store: Any, system: dict[str, Any], version: str) -> None:
        self.store, self.system, self.version = store, system, version
        self._cells: list[CellResult] | None = None

    def _load(self) -> list[CellResult]:
        if self._cells is None:
            runs = [
                r.run_id
                for r in self.store.runs()
                if r.edgebench_version == self.version and _same_host(r.system, self.system)
            ]
            self._cells = [
                c
                for run in runs
                for c in self.store.cells(run)
                if c.status == "ok" and not c.target
            ]
        return self._cells

    def pairing(self, a: Trial, b: Trial) -> PairedRatio | None:
        """B's time over A's as the run both trials' cells were copied from timed them side
        by side (its config's tune.pairs), or None."""
        source = reused_from(a.cell)
        if not source or reused_from(b.cell) != source:
            return None
        try:
            stored = self.store.run(source).config.get("tune", {}).get("pairs", [])
        except EdgebenchError:
            return None
        want = (a.candidate.label, b.candidate.label)
        for entry in stored:
            found = (entry.get("a"), entry.get("b"))
            if found in (want, want[::-1]):
                try:
                    paired = PairedRatio(**entry["paired"])
                except (KeyError, TypeError):
                    return None
                return paired if found == want else paired.inverted()
        return None

    def find(
        self, pm: PreparedModel, compiler: Compiler, cand: Candidate, options: dict[str, Any],
        rule: StopRuleSettings, versions: dict[str, str],
    ) -> CellResult | None:  # fmt: skip
        """The best-measured earlier cell of this candidate whose window was at least as
        long as `rule` asks, with the same data behind its accuracy; None when there is none."""
        want = cell_key(pm.spec.name, pm.weights.name, cand.compiler, cand.precision,
                        cand.batch, cand.threads, pm.spec.digest,
                        compiler.accelerator_of(options))  # fmt: skip
        data = pm.eval_set.dataset.spec if pm.eval_set is not None else None
        found = [
            c
            for c in self._load()
            if c.key() == want
            and options_key(c.options) == options_key(options)
            and c.versions == versions
            and (c.n_runs or 0) >= rule.min_runs
            and (c.duration_s or 0.0) >= rule.min_duration_s
            and (c.fidelity or {}).get("dataset") == data
            and (c.artifact_info.get("calibration") or {}).get("source")
            == (pm.calibration.source if cand.precision == "int8" else None)
        ]
        return max(found, key=lambda c: c.n_runs or 0, default=None)


def reused_from(cell: CellResult) -> str:
    """The run a tune's cell was copied from; "" for one it measured."""
    return str((cell.tune or {}).get("reused_from") or "")


def _same_host(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = ("hostname", "cpu", "memory_mb", "os")
    return all(a.get(k) == b.get(k) for k in keys)


def run_tune(
    settings: GridSettings,
    db: Path,
    objective: str,
    max_drop: float,
    budget_s: float,
    *,
    on_progress: Callable[[str], None] = lambda s: None,
    on_cell: Callable[[CellResult], None] = lambda c: None,
) -> TuneRun:
    """Searches for the best way to run the settings' model; every measurement is a cell of
    one new run in the store at `db`.

    Raises:
        EdgebenchError: bad input, before any work (one line for a user), or a budget too
            small for one candidate (after storing it).
        GridInterrupted: Ctrl-C or SIGTERM; every measured cell is stored.
    """
    from edgebench import __version__
    from edgebench.api import GridInterrupted
    from edgebench.harness.pipeline import CellPipeline, CellSpec
    from edgebench.harness.runner import Runner
    from edgebench.store import ResultStore, check_writable, new_run_id
    from edgebench.sysinfo import git_commit, package_versions, system_info

    settings = tune_settings(settings)
    compilers, skipped = searched_compilers(settings)
    check_objective(objective)
    check_writable(db)
    run_id = new_run_id()
    host = system_info()
    by_name = {c.name: c for c in compilers}
    with ResultStore(db) as store, Runner(settings, run_id, on_progress=on_progress) as runner:
        kept = 0
        try:
            (pm,) = runner.prepare()
            config = settings.stored() | {
                "tune": {
                    "objective": objective,
                    "max_accuracy_drop": max_drop,
                    "budget_s": budget_s,
                }  # fmt: skip
            }
            store.add_run(run_id, host, config, __version__, git_commit())
            runner.prepare_references([pm])
            prior = PriorCells(store, host, __version__)
            target = next(iter(runner.targets.values()))

            def measure(
                cand: Candidate, rule: StopRuleSettings, round_name: str, left_s: float
            ) -> tuple[CellResult, str | None]:
                nonlocal kept
                compiler = by_name[cand.compiler]
                options = compiler.options(settings.options | dict(cand.options))
                versions = package_versions(("numpy", *compiler.packages))
                hit = None
                if target.is_local:
                    hit = prior.find(pm, compiler, cand, options, rule, versions)
                tune = {"round": round_name, "candidate": cand.label}
                if hit is not None:
                    cell = replace(hit, run_id=run_id, tune=tune | {"reused_from": hit.run_id})
                else:
                    grid = settings.model_copy(
                        update={
                            "threads": cand.threads,
                            "stop_rule": rule,
                            # a candidate may not run past the budget: the budget is a limit
                            "cell_timeout_s": max(1.0, min(settings.cell_timeout_s, left_s)),
                        }
                    )
                    runner.builder.timeout_s = grid.cell_timeout_s
                    pipeline = CellPipeline(grid, run_id, runner.builder, runner.workdir,
                                            on_progress, runner.pipeline.waiter)  # fmt: skip
                    spec = CellSpec(pm, compiler, cand.precision, cand.batch, options, False,
                                    target, compiler.accelerator_of(options))  # fmt: skip
                    try:
                        cell = replace(pipeline.run(spec), tune=tune)
                    except KeyboardInterrupt as exc:  # a cell the stop found measured is kept
                        finished = getattr(exc, "finished_cell", None)
                        if finished is not None:
                            store.add_cell(replace(finished, tune=tune))
                            kept += 1
                        raise
                store.add_cell(cell)
                kept += 1
                on_cell(cell)
                return cell, hit.run_id if hit is not None else None

            space = search_space(settings, objective, compilers, pm)

            pairs: list[dict[str, Any]] = []
            reused_pair: list[str] = []

            def pair(a: Trial, b: Trial) -> PairedRatio | None:
                """The two trials' artifacts timed side by side in one worker (paired.py), or
                the earlier run's timing where both cells were copied from that run (a second
                tune measures nothing again, and gives the same answer)."""
                paired, source = prior.pairing(a, b), "measured"
                if paired is not None:
                    source = reused_from(a.cell)
                    reused_pair.append(source)
                elif any(can_time(t.cell) for t in (a, b)):
                    return None  # a device's agent times one cell at a time; a lost artifact
                else:
                    paired = time_side_by_side(a.cell, b.cell, pm.spec, PAIRED_EFFECT,
                                               settings.cell_timeout_s, runner.workdir)  # fmt: skip
                if paired is not None:
                    pairs.append({"a": a.candidate.label, "b": b.candidate.label,
                                  "paired": paired.to_dict(), "source": source})  # fmt: skip
                    store.update_run_config(run_id, "tune", config["tune"] | {"pairs": pairs})
                return paired

            tuner = Tuner(measure, objective, max_drop, budget_s, settings.stop_rule, on_progress,
                          pair=pair)  # fmt: skip
            result = tuner.run(space)
            if reused_pair and result.paired is not None:
                result.confirmation += (
                    f" (timed side by side in run {reused_pair[-1]}, which measured both cells)"
                )
        except BudgetTooSmall as exc:
            if not kept:  # refused before any candidate ran: no empty run is left behind
                store.drop_run_if_empty(run_id)
                raise
            raise BudgetTooSmall(f"{exc} (its cell is stored in run {run_id})") from None
        except KeyboardInterrupt as exc:
            store.drop_run_if_empty(run_id)
            raise GridInterrupted(run_id, kept, exc) from None
        except BaseException:
            store.drop_run_if_empty(run_id)
            raise
    return TuneRun(run_id, pm, settings, result, skipped)


def search_space(
    settings: GridSettings, objective: str, compilers: list[Compiler], pm: PreparedModel
) -> Space:
    """What tune searches for this model: each compiler at each of its precisions it can
    build for the model, and their variants (search.build_space)."""
    space = build_space(
        compilers,
        lambda c: settings.precisions_of(c.name),
        thread_counts(settings.threads),
        batch_sizes(settings, objective),
        fixed=settings.options,
    )
    return usable_space(space, pm.spec, compilers)


def usable_space(space: Space, spec: ModelSpec, compilers: list[Compiler]) -> Space:
    """The space less what the model cannot take, so no cell is spent on it: the precisions a
    compiler says at once it cannot build for this model, and the knobs refused for it before
    any work (pruning or clustering a model file that is not Keras)."""
    by_name = {c.name: c for c in compilers}
    src = spec.source_format if spec.path else "zoo"
    starts = [
        c
        for c in space.starts
        if by_name[c.compiler].unsupported_reason(spec, c.precision, src) is None
    ]

    def variants(start: Candidate) -> list[Candidate]:
        return [v for v in space.variants(start) if _takes(spec, dict(v.options))]

    return Space(starts, variants)


def _takes(spec: ModelSpec, options: dict[str, Any]) -> bool:
    try:
        check_weight_optimization(spec, options)
    except UsageError:
        return False
    return True


__all__ = [
    "TuneRun",
    "batch_sizes",
    "run_tune",
    "search_space",
    "searched_compilers",
    "thread_counts",
    "tune_settings",
    "usable_space",
]
