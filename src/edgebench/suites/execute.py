"""Runs a suite into one run of the store, and resumes a run that stopped midway.

Every grid is validated (names, models, weights, datasets) before the first cell runs. Each
finished cell is committed at once (the Runner hands it to `on_cell`), so a run killed midway
loses nothing: resuming it runs only the cells it holds no completed row for. `ok`,
`unsupported` and `skipped` rows count as completed; `failed` cells run again and their new row
is appended (readers keep the latest row of a cell: `latest_cells`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from edgebench.errors import UsageError
from edgebench.results import CellResult
from edgebench.store import ResultStore
from edgebench.suites import Suite

COMPLETED = ("ok", "unsupported", "skipped")


def cell_resume_key(cell: CellResult) -> tuple[Any, ...]:
    from edgebench.harness.runner import resume_key

    return resume_key(cell)


def completed_keys(store: ResultStore, run_id: str) -> set[tuple[Any, ...]]:
    """The cells of a run that need not run again (any completed row counts)."""
    return {cell_resume_key(c) for c in store.cells(run_id, samples=False) if c.status in COMPLETED}


def latest_cells(cells: Iterable[CellResult]) -> list[CellResult]:
    """The last row of each cell of each run, in first-seen order (a resumed run may hold a
    failed row and, later, the row of its re-run)."""
    latest: dict[tuple[Any, ...], CellResult] = {}
    for c in cells:
        latest[(c.run_id, *cell_resume_key(c))] = c  # a dict keeps the first position
    return list(latest.values())


def check_resumable(store: ResultStore, run_id: str, suite: Suite) -> None:
    """A run can be resumed with the suite it was started with (by name)."""
    info = store.run(run_id)  # StoreError (exit 2) for an unknown id
    stored = (info.config or {}).get("suite") or {}
    if stored.get("name") != suite.name:
        was = f"suite '{stored['name']}'" if stored.get("name") else "`edgebench run`"
        raise UsageError(f"run {run_id} was made by {was}, not suite '{suite.name}'")


def run_suite(
    suite: Suite,
    store: ResultStore,
    run_id: str,
    *,
    resume: bool = False,
    cache_dir: Path | None = None,
    on_cell: Callable[[CellResult], None] = lambda c: None,
    on_progress: Callable[[str], None] = lambda s: None,
    on_total: Callable[[int, int], None] = lambda todo, done: None,
) -> list[CellResult]:
    """Runs every grid of `suite` into run `run_id` of `store`.

    Args:
        resume: the run exists already; only cells without a completed row run.
        on_total: told how many cells will run and how many were already completed, once
            every grid has been validated.
    """
    from edgebench import __version__
    from edgebench.harness.runner import Runner
    from edgebench.sysinfo import git_commit, system_info

    done = completed_keys(store, run_id) if resume else set()
    configs = suite.run_configs(cache_dir)
    results: list[CellResult] = []

    def store_cell(cell: CellResult) -> None:
        store.add_cell(cell)
        results.append(cell)
        on_cell(cell)

    with ExitStack() as stack:
        runners = [
            stack.enter_context(Runner(cfg, run_id, store_cell, on_progress, completed=done))
            for cfg in configs
        ]
        on_progress("checking models and weights")
        prepared = [runner.prepare() for runner in runners]  # bad input fails before any cell
        todo = sum(r.cells_total(m) for r, m in zip(runners, prepared, strict=True))
        if not resume:
            config = {
                "suite": suite.describe(),
                "notes": suite.notes,
                "grids": [cfg.to_dict() for cfg in configs],
            }
            store.add_run(run_id, system_info(), config, __version__, git_commit())
        on_total(todo, len(done))
        for runner, models in zip(runners, prepared, strict=True):
            if runner.cells_total(models) == 0:
                continue
            runner.prepare_references(models)
            runner.run(models)
    return results
