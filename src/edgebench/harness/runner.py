"""Runs a grid of cells: validates everything first, then converts and measures cell by cell.

Bad input (an unknown name, missing weights, an unreadable model) fails before any work starts:
the settings validate every name, and preparation (harness/prepare.py) resolves models, weights
and data. After that nothing stops the run: each cell goes through its pipeline of stages
(harness/pipeline.py), a cell that fails is recorded with its reason and the next one runs, and
every finished cell is handed to `on_cell` (the store) at once.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

from edgebench.cache import ArtifactCache
from edgebench.compilers import get_compiler
from edgebench.errors import EdgebenchError
from edgebench.harness.build import ArtifactBuilder
from edgebench.harness.pipeline import CellPipeline, CellSpec
from edgebench.harness.prepare import PreparedModel, prepare_models, prepare_references
from edgebench.harness.process import CellFailure, new_scratch, remove_stale_scratch
from edgebench.models import is_zoo_name
from edgebench.results import CellResult, cell_key, options_key
from edgebench.settings import GridSettings, usable_cores
from edgebench.targets import open_target


class Runner:
    """One grid of a run. Use as a context manager: the scratch folder goes with it."""

    def __init__(
        self,
        settings: GridSettings,
        run_id: str,
        on_cell: Callable[[CellResult], None] = lambda c: None,
        on_progress: Callable[[str], None] = lambda s: None,
        completed: Collection[tuple[Any, ...]] = (),
    ) -> None:
        self.settings = settings
        self.run_id = run_id
        self.on_cell = on_cell
        self.on_progress = on_progress
        self.completed = set(completed)  # resume keys of cells this run already holds
        self.models: list[PreparedModel] = []  # filled by prepare()
        remove_stale_scratch()
        self._workdir = new_scratch()
        self.builder = ArtifactBuilder(
            ArtifactCache(settings.cache_dir),
            self._workdir,
            settings.cell_timeout_s,
            settings.seed,
            on_progress,
        )
        self.pipeline = CellPipeline(settings, run_id, self.builder, self._workdir, on_progress)
        # Targets connect when first used, once for the whole grid.
        self.targets = {name: open_target(name) for name in dict.fromkeys(settings.targets)}

    @property
    def workdir(self) -> Path:
        """The run's scratch folder (jobs, logs, evaluation sets, outputs)."""
        return self._workdir

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Removes the run's scratch folder (jobs, logs, evaluation sets, outputs) and drops
        the targets' connections."""
        for target in self.targets.values():
            target.close()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def prepare(self) -> list[PreparedModel]:
        """Resolves every model, its weights and data; raises on bad input."""
        self.settings.cache_dir.mkdir(parents=True, exist_ok=True)
        self.models = prepare_models(self.settings, self._workdir)
        return self.models

    def prepare_references(self, models: list[PreparedModel]) -> None:
        prepare_references(self.settings, models, self.builder, self._workdir, self.on_progress)

    def warnings(self) -> list[str]:
        """What looks wrong with the grid but need not stop it."""
        s, notes = self.settings, list(self.settings.notes())
        if s.threads > usable_cores():
            notes.append(
                f"--threads {s.threads} is more than the {usable_cores()} usable cores: "
                "threads will share cores, and latency will suffer"
            )
        for name in s.models:
            if is_zoo_name(name) and Path(name).exists():
                notes.append(
                    f"'{name}' is a zoo model and also a folder here: measuring the zoo model "
                    f"(write ./{name} for the folder)"
                )
        for what, values in (
            ("model", s.models),
            ("compiler", s.compilers),
            ("precision", s.precisions),
            ("batch size", s.batch_sizes),
            ("target", s.targets),
        ):
            repeated = [str(v) for v, n in Counter(values).items() if n > 1]
            if repeated:
                notes.append(f"{what} {', '.join(repeated)} given twice: measured once")
        return notes

    def cells(self, models: list[PreparedModel]) -> Iterator[CellSpec]:
        """The grid's cells in order, less those the run already completed (a resumed run)."""
        s = self.settings
        for pm in models:
            for name in s.compiler_names():
                compiler = get_compiler(name)
                for accelerator in s.accelerators_of(compiler):
                    options = (
                        compiler.options_on(accelerator, s.options)
                        if accelerator in compiler.accelerators
                        else compiler.options(s.options)
                    )
                    yield from self._cells_of(pm, compiler, accelerator, options)

    def _cells_of(
        self, pm: PreparedModel, compiler: Any, accelerator: str, options: dict[str, Any]
    ) -> Iterator[CellSpec]:
        s = self.settings
        for precision in s.precisions_of(compiler.name):
            for batch in dict.fromkeys(s.batch_sizes):  # in order, each once
                key = cell_key(pm.spec.name, pm.weights.name, compiler.name, precision, batch,
                               s.threads, pm.spec.digest, accelerator)  # fmt: skip
                for where, target in self.targets.items():  # one artifact, each target
                    done = (*key, s.scenario, where, options_key(options))
                    if done not in self.completed:
                        yield CellSpec(
                            pm, compiler, precision, batch, options, s.explain, target,
                            accelerator,
                        )  # fmt: skip

    def cells_total(self, models: list[PreparedModel]) -> int:
        return sum(1 for _ in self.cells(models))

    def run(self, models: list[PreparedModel]) -> list[CellResult]:
        results = []
        for spec in list(self.cells(models)):
            try:
                cell = self.pipeline.run(spec)
            except KeyboardInterrupt as exc:  # a cell the stop found measured is kept
                finished = getattr(exc, "finished_cell", None)
                if finished is not None:
                    self.on_cell(finished)
                raise
            self.on_cell(cell)
            results.append(cell)
        return results


__all__ = ["CellFailure", "EdgebenchError", "Runner"]
